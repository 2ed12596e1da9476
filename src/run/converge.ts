/**
 * The converge service: the one way a run list is converged on a target. Local mode, push,
 * the pull agent and deploys all call {@link convergeTarget}; it gathers the target's facts,
 * loads the run, converges it through the engine, writes the run report and emits one event
 * stream. Callers (the CLI, the agent) only choose options and render the stream.
 */
import { randomUUID } from "node:crypto";
import { isAbsolute, join, resolve } from "node:path";
import { converge as runEngine, type RunResult } from "../core/engine.js";
import { formatProblem, type Problem, UsageError, ValidationError } from "../core/errors.js";
import type { RunEvent } from "../core/events.js";
import { loadRun, type LoadedRun, type LoadOptions } from "../cookbook/load.js";
import type { AttributeTree } from "../dsl.js";
import { gatherBasicFacts } from "../facts/basic.js";
import { invalidRunReport, runReportWriter, type RunReport, writeReport } from "./report/run-report.js";
import type { Target } from "./targets.js";

/** The version of the event stream's shape; it changes when an event's meaning or fields change incompatibly. */
export const EVENT_STREAM_VERSION = 1;

/** Where backups of changed files go when nothing says otherwise. */
export const DEFAULT_BACKUP_DIR = "/var/lib/sous/backup";

/** The run was refused before anything applied: the recipes (or roles, environments) have problems. */
export interface RunInvalidEvent {
  type: "run:invalid";
  runId: string;
  message: string;
  problems: Problem[];
}

/** One event of the stream: the engine's events and `run:invalid`, each with the stream's version and the target it came from. */
export type StreamEvent = (RunEvent | RunInvalidEvent) & { version: typeof EVENT_STREAM_VERSION; host: string };

/** A run list as given: `recipe[web],role[base]` or a list of items. */
export type RunListInput = string | readonly string[];

/** How one converge runs: the same options for every kind of target and every caller. */
export interface ConvergeRunOptions extends Omit<LoadOptions, "root" | "runList" | "facts"> {
  /** The repository (absolute or relative to the working directory). */
  repo: string;
  /** Plan everything, change nothing. */
  dryRun?: boolean;
  /**
   * Where previous versions of changed files go, as the user gave it (see {@link resolveBackupDir});
   * without it sous.config.ts's backupDir, then {@link DEFAULT_BACKUP_DIR}.
   */
  backupDir?: string;
  /** The run report's path; false writes none; by default {@link defaultReportPath}. */
  report?: string | false;
  /** Receives every event of the run. */
  events?: (event: StreamEvent) => void;
  runId?: string;
  /** The target's facts when the caller already has them (otherwise gathered from the target). */
  facts?: AttributeTree | Promise<AttributeTree>;
}

/** How a converge ended. */
export interface ConvergeOutcome {
  /** The target's name. */
  target: string;
  node: string;
  /** The engine's result; for a run refused before applying, status failed with zero counts. */
  result: RunResult;
  /** The run report (also written to `reportPath` unless reports were turned off). */
  report: RunReport;
  reportPath?: string;
  /** The failure that ended the run, for one-line summaries (`resource: message`). */
  failure?: string;
  /** Why the run was refused before applying, when it was. */
  problems?: Problem[];
  /** The loaded run (run list expanded, cookbook versions, node), when loading succeeded. */
  loaded?: LoadedRun;
}

/**
 * Where a run's backups go, by one rule for every target. An absolute path is used as given.
 * A relative `--backup-dir` is relative to the working directory and a relative sous.config.ts
 * `backupDir` to the repository: both name a place on this machine, so they hold only when the
 * target is this machine. Elsewhere a relative `--backup-dir` is refused (the user typed it for
 * this run), and a relative sous.config.ts value (`sous init` writes `.sous/backup`, meant for
 * working on this machine) leaves the target's backups in {@link DEFAULT_BACKUP_DIR}.
 */
export function resolveBackupDir(target: Pick<Target, "name" | "isThisMachine">, given: string | undefined, configured: string | undefined, repo: string): { dir: string; note?: string } {
  if (given !== undefined) {
    if (isAbsolute(given)) return { dir: given };
    if (target.isThisMachine) return { dir: resolve(given) };
    throw new UsageError(`--backup-dir ${given}: a relative path names a folder on this machine, not on ${target.name}: give an absolute path`);
  }
  if (configured === undefined) return { dir: DEFAULT_BACKUP_DIR };
  if (isAbsolute(configured)) return { dir: configured };
  if (target.isThisMachine) return { dir: resolve(repo, configured) };
  return { dir: DEFAULT_BACKUP_DIR, note: `sous.config.ts backupDir ${JSON.stringify(configured)} is relative to the repository, which is not on ${target.name}: backups go to ${DEFAULT_BACKUP_DIR}` };
}

/** A target's name as a file name: `root@10.0.0.5:2222` stays readable, `/` and odd characters become `_`. */
function fileNameOf(name: string): string {
  return name.replace(/[^A-Za-z0-9@.:_-]+/g, "_").replace(/^\.+/, "_");
}

/**
 * The default run report path: `.sous/runs/last-run.json` in the repository for this machine,
 * `.sous/runs/<target>/last-run.json` for any other target, so that a push to many hosts keeps
 * one report per host.
 */
export function defaultReportPath(repo: string, target: Pick<Target, "name" | "isThisMachine">): string {
  const runs = join(resolve(repo), ".sous", "runs");
  return target.isThisMachine ? join(runs, "last-run.json") : join(runs, fileNameOf(target.name), "last-run.json");
}

/** The failure of a finished run in one line. */
function failureLine(event: Extract<RunEvent, { type: "run:finish" }>): string | undefined {
  if (!event.error) return undefined;
  return `${event.error.resource ? `${event.error.resource}: ` : ""}${event.error.message}`;
}

/**
 * Converges `runList` (or, without one, the node's or sous.config.ts's) on an opened target.
 * Resolves with the outcome also when a resource fails or the recipes are invalid; throws for
 * what is no run at all (no repository, an unknown role or environment, a relative
 * `--backup-dir` for a remote target). The caller closes the target.
 */
export async function convergeTarget(target: Target, runList: RunListInput | undefined, options: ConvergeRunOptions): Promise<ConvergeOutcome> {
  const { repo: repoOption, dryRun = false, backupDir, report, events, runId = randomUUID(), facts, ...load } = options;
  const repo = resolve(repoOption);
  const emit = (event: RunEvent | RunInvalidEvent) => events?.({ ...event, version: EVENT_STREAM_VERSION, host: target.name } as StreamEvent);
  const reportPath = report === false ? undefined : report !== undefined ? resolve(report) : defaultReportPath(repo, target);
  const startedAt = new Date();
  // The facts are gathered (through the target's own connection) while the repository's code loads.
  const factsPending = facts !== undefined ? Promise.resolve(facts) : gatherBasicFacts(target.host);
  factsPending.catch(() => {});

  let loaded: LoadedRun;
  try {
    loaded = await loadRun({ ...load, root: repo, ...(runList !== undefined ? { runList } : {}), facts: factsPending });
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    // Refused before anything applied: the report and the stream still say so, and close the run.
    const known = await factsPending.catch(() => ({}) as AttributeTree);
    const node = load.nodeName ?? String(known.fqdn ?? known.hostname ?? target.name);
    const message = error.message.split("\n")[0]!;
    const invalid = invalidRunReport({ runId, node, dryRun, startedAt }, message, error.problems);
    if (reportPath) writeReport(reportPath, invalid);
    emit({ type: "run:invalid", runId, message, problems: error.problems });
    emit({ type: "run:finish", runId, status: "failed", dryRun, counts: invalid.counts!, durationMs: invalid.durationMs!, pendingNotifications: [], error: invalid.error! });
    return {
      target: target.name,
      node,
      result: { runId, status: "failed", counts: invalid.counts!, durationMs: invalid.durationMs! },
      report: invalid,
      ...(reportPath ? { reportPath } : {}),
      failure: `${message}: ${error.problems.map(formatProblem).join("; ")}`,
      problems: error.problems,
    };
  }

  const backup = resolveBackupDir(target, backupDir, loaded.settings.backupDir, repo);
  const reporter = runReportWriter(reportPath);
  let failure: string | undefined;
  let noted = false;
  const result = await runEngine({
    host: target.host,
    collection: loaded.collection,
    dryRun,
    node: loaded.node.name,
    runId,
    backupDir: backup.dir,
    events(event) {
      if (event.type === "run:finish") failure = failureLine(event);
      reporter(event);
      emit(event);
      if (event.type === "run:start" && !noted) {
        noted = true;
        if (backup.note) emit({ type: "log", level: "info", message: backup.note });
        for (const warning of loaded.warnings) emit({ type: "log", level: "warn", message: warning });
      }
    },
  });
  return {
    target: target.name,
    node: loaded.node.name,
    result,
    report: reporter.report()!,
    ...(reportPath ? { reportPath } : {}),
    ...(failure ? { failure } : {}),
    loaded,
  };
}

/** The exit code of a finished converge: 0 converged, 1 failed. */
export function exitCodeOf(outcome: Pick<ConvergeOutcome, "result">): number {
  return outcome.result.status === "converged" ? 0 : 1;
}
