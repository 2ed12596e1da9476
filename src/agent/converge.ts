/**
 * The one place the agent hands a run to the converge code: load the run list's recipes from
 * the repository the cache laid out, and converge this machine. When the shared converge
 * service (src/run/) lands, this function is what switches to it.
 */
import { randomUUID } from "node:crypto";
import { converge } from "../core/engine.js";
import { ValidationError } from "../core/errors.js";
import { fanOut, type EventSink } from "../core/events.js";
import { loadRun } from "../cookbook/load.js";
import type { AttributeTree } from "../dsl.js";
import type { Host } from "../host/host.js";
import { invalidRunReport, runReportWriter, writeReport, type RunReport } from "../report/run-report.js";

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
  events: EventSink;
  backupDir?: string;
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
  const startedAt = new Date();
  let loaded;
  try {
    loaded = await loadRun({ root: options.root, runList: options.runList, environment: options.environment, nodeName: options.nodeName, normal: options.normal, facts: options.facts });
  } catch (error) {
    const problems = error instanceof ValidationError ? error.problems : [];
    const report = invalidRunReport({ runId: options.runId ?? randomUUID(), node: options.nodeName, dryRun: false, startedAt }, (error as Error).message.split("\n")[0]!, problems);
    writeReport(options.reportFile, report);
    options.events({ type: "log", level: "warn", message: `${report.error!.message}${problems.map((problem) => `\n  ${problem.location ? `${problem.location.file}:${problem.location.line} ` : ""}${problem.path}: ${problem.message}`).join("")}` });
    return { report };
  }
  const writer = runReportWriter(options.reportFile);
  await converge({
    host: options.host,
    collection: loaded.collection,
    events: fanOut([options.events, writer]),
    node: loaded.node.name,
    runId: options.runId,
    backupDir: options.backupDir ?? "/var/lib/sous/backup",
  });
  return { report: writer.report()!, recipes: loaded.expanded.recipes, roles: loaded.expanded.roles };
}
