/** `sous converge`: load a run list's recipes and converge this machine. */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { converge, type RunResult } from "../core/engine.js";
import { SousError, UsageError, ValidationError, formatProblem } from "../core/errors.js";
import { fanOut, type EventSink, type RunEvent } from "../core/events.js";
import { loadRun } from "../cookbook/load.js";
import { findRepositoryRoot } from "../cookbook/repository.js";
import type { AttributeTree } from "../dsl.js";
import { gatherBasicFacts } from "../facts/basic.js";
import type { Host } from "../host/host.js";
import { LocalHost } from "../host/local.js";
import { humanReporter } from "../report/human.js";
import { jsonLinesReporter } from "../report/json.js";
import { invalidRunReport, runReportWriter, writeReport } from "../report/run-report.js";

/** Options of `sous converge`, as parsed from the command line. */
export interface ConvergeCliOptions {
  repo?: string;
  runList?: string;
  environment?: string;
  nodeName?: string;
  jsonAttributes?: string;
  dryRun?: boolean;
  json?: boolean;
  logLevel?: string;
  why?: boolean;
  diff?: boolean;
  report?: string;
  backupDir?: string;
  color?: boolean;
  /** Converge this system root directory (through chroot) instead of this machine. */
  root?: string;
}

/** Streams where the CLI writes. */
export interface Output {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Whether stdout is a terminal that shows colors. */
  color: boolean;
}

/** Raised for usage and configuration errors (exit code 2). */
export { UsageError };

const LEVELS = ["debug", "info", "warn"] as const;

function readAttributesFile(path: string): { attributes: AttributeTree; runList?: string[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new UsageError(`--json-attributes ${path}: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new UsageError(`--json-attributes ${path}: expected a JSON object`);
  const { run_list: runList, runList: runList2, ...attributes } = parsed as Record<string, unknown>;
  const list = runList ?? runList2;
  if (list !== undefined && (!Array.isArray(list) || !list.every((x) => typeof x === "string"))) throw new UsageError(`--json-attributes ${path}: run_list must be an array of strings`);
  return { attributes: attributes as AttributeTree, ...(list ? { runList: list as string[] } : {}) };
}

/** The host a local converge works on: this machine, a `--root` directory, or one container target. */
async function localHost(options: ConvergeCliOptions, target: string | undefined): Promise<Host> {
  if (target === undefined && options.root === undefined) return new LocalHost();
  if (target !== undefined && options.root !== undefined) throw new UsageError("--root and a machine target both name what to converge: pass one of them");
  // Loaded only here: a plain local converge needs none of it.
  const { openContainerTarget, openRoot } = await import("../push/local-targets.js");
  try {
    return target !== undefined ? await openContainerTarget(target) : openRoot(options.root!);
  } catch (error) {
    if (error instanceof SousError) throw new UsageError(error.message);
    throw error;
  }
}

/**
 * Runs one converge of this machine (or of `target`, a container on it such as
 * `nsenter://PID`, or of `--root DIR`) and returns the process exit code.
 */
export async function convergeCommand(options: ConvergeCliOptions, output: Output, target?: string): Promise<number> {
  const level = (options.logLevel ?? "info") as (typeof LEVELS)[number];
  if (!LEVELS.includes(level)) throw new UsageError(`--log-level must be one of ${LEVELS.join(", ")}, got ${JSON.stringify(options.logLevel)}`);
  const root = options.repo ? resolve(options.repo) : findRepositoryRoot(process.cwd());
  if (!root) throw new UsageError("no repository here: run this inside a repository made by `sous init`, or pass --repo DIR");
  const fromFile = options.jsonAttributes ? readAttributesFile(options.jsonAttributes) : undefined;

  const host = await localHost(options, target);
  // Gathered by a child process while this one loads the repository's code.
  const factsPending = gatherBasicFacts(host);
  factsPending.catch(() => {});
  const sinks: EventSink[] = [];
  if (options.json) sinks.push(jsonLinesReporter(output.stdout));
  else sinks.push(humanReporter({ level, why: options.why === true, diff: options.diff !== false, color: output.color && options.color !== false, write: output.stdout }));

  const reportPath = options.report ? resolve(options.report) : join(root, ".sous", "runs", "last-run.json");
  const startedAt = new Date();
  let loaded;
  try {
    loaded = await loadRun({
      root,
      runList: options.runList ?? fromFile?.runList,
      environment: options.environment,
      nodeName: options.nodeName,
      normal: fromFile?.attributes,
      facts: factsPending,
    });
  } catch (error) {
    if (error instanceof ValidationError) {
      // The run failed before applying anything: scripts still get a report and a closing run:finish.
      const facts = await factsPending.catch(() => ({}) as Record<string, unknown>);
      const node = options.nodeName ?? String(facts.fqdn ?? facts.hostname ?? "localhost");
      const report = invalidRunReport({ runId: randomUUID(), node, dryRun: options.dryRun === true, startedAt }, error.message.split("\n")[0]!, error.problems);
      writeReport(reportPath, report);
      if (options.json) {
        output.stdout(`${JSON.stringify({ type: "run:invalid", problems: error.problems })}\n`);
        const finish: RunEvent = { type: "run:finish", runId: report.runId, status: "failed", dryRun: report.dryRun, counts: report.counts!, durationMs: report.durationMs!, pendingNotifications: [], error: report.error! };
        output.stdout(`${JSON.stringify(finish)}\n`);
      } else {
        output.stderr(`${error.message.split("\n")[0]}\n`);
        for (const problem of error.problems) output.stderr(`  ${formatProblem(problem)}\n`);
      }
      return 1;
    }
    if (error instanceof SousError) throw new UsageError(error.message);
    throw error;
  }
  sinks.push(runReportWriter(reportPath));
  const result: RunResult = await converge({
    host,
    collection: loaded.collection,
    dryRun: options.dryRun === true,
    events: fanOut(sinks),
    node: loaded.node.name,
    backupDir: options.backupDir ? resolve(options.backupDir) : loaded.settings.backupDir ? resolve(root, loaded.settings.backupDir) : "/var/lib/sous/backup",
  });
  return result.status === "converged" ? 0 : 1;
}
