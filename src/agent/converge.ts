/**
 * The one place the agent hands a run to the converge service (src/run/): the run list's
 * recipes from the repository the cache laid out, converged on this machine.
 */
import { errorMessage } from "../core/errors.js";
import type { EventSink } from "../core/events.js";
import type { AttributeTree } from "../dsl.js";
import type { Host } from "../host/host.js";
import { invalidRunReport, type RunReport, writeReport } from "../run/report/run-report.js";
import { convergeTarget } from "../run/converge.js";
import { targetOf } from "../run/targets.js";
import type { SearchBackend } from "../search/backend.js";

/** One converge of the agent. */
export interface AgentConvergeOptions {
  host: Host;
  root: string;
  runId: string;
  nodeName: string;
  environment: string;
  runList: readonly string[];
  normal: AttributeTree;
  facts: AttributeTree;
  /** Where the engine's report of the run is written. */
  reportFile: string;
  /** Where recipes' search() and dataBagItem() get their answers. */
  search?: SearchBackend;
  events: EventSink;
}

/** What came of it. */
export interface AgentConvergeResult {
  report: RunReport;
  /** Recipes and roles of the expanded run list (undefined when the recipes did not load). */
  recipes?: string[];
  roles?: string[];
}

/** Loads and converges; a run whose recipes do not load is a failed run, not an exception. */
export async function convergeForAgent(options: AgentConvergeOptions): Promise<AgentConvergeResult> {
  const target = targetOf("local", "local", options.host, true);
  const startedAt = new Date();
  let outcome;
  try {
    outcome = await convergeTarget(target, options.runList, {
      repo: options.root,
      runId: options.runId,
      nodeName: options.nodeName,
      environment: options.environment,
      normal: options.normal,
      facts: options.facts,
      report: options.reportFile,
    ...(options.search ? { search: options.search } : {}),
      events: (event) => {
        if (event.type === "run:invalid") {
          const problems = event.problems.map((problem) => `\n  ${problem.location ? `${problem.location.file}:${problem.location.line} ` : ""}${problem.path}: ${problem.message}`).join("");
          options.events({ type: "log", level: "warn", message: `${event.message}${problems}` });
        } else options.events(event);
      },
    });
  } catch (error) {
    // No run at all (an unknown role or environment in what the server sent): a failed run all the same.
    const message = errorMessage(error);
    const report = invalidRunReport({ runId: options.runId, node: options.nodeName, dryRun: false, startedAt }, message, []);
    writeReport(options.reportFile, report);
    options.events({ type: "log", level: "warn", message });
    return { report };
  }
  return { report: outcome.report, ...(outcome.loaded ? { recipes: outcome.loaded.expanded.recipes, roles: outcome.loaded.expanded.roles } : {}) };
}
