/**
 * Push mode: converge many SSH targets with the same recipes. The repository is compiled once
 * on the workstation; each host is opened through the target registry and converged by the
 * converge service (src/run), the same one local mode uses: same options, a run report per
 * host, the same event stream.
 */
import { UsageError } from "../core/errors.js";
import { compileRepository } from "../cookbook/compile.js";
import { openRepository } from "../cookbook/repository.js";
import type { SshTarget } from "../host/ssh.js";
import { type ConvergeOutcome, type ConvergeRunOptions, convergeTarget, resolveBackupDir, type RunListInput, type StreamEvent } from "./converge.js";
import { type FanOutOptions, fanOut, type HostOutcome, type HostPhase, targetName } from "../push/fleet.js";

export type { HostOutcome };

/** What a push converges and how: the converge service's options, plus the fleet's. */
export interface PushConvergeOptions extends FanOutOptions, Omit<ConvergeRunOptions, "repo" | "events" | "runId" | "facts" | "nodeName"> {
  /** The repository. */
  root: string;
  targets: readonly SshTarget[];
  runList?: RunListInput;
  /** Every run event, tagged with the host it came from. */
  events?: (host: string, event: StreamEvent) => void;
  onPhase?: (host: string, phase: HostPhase, outcome?: HostOutcome<HostRun>) => void;
}

/** One host's converge. */
export type HostRun = ConvergeOutcome;

/**
 * Refuses, before any host is reached, what would fail on every host: a backup folder that is
 * not usable on a remote host, one report file for several targets.
 */
export function checkPushOptions(options: { root: string; targets: readonly SshTarget[]; backupDir?: string; report?: string }): void {
  const { root, targets, backupDir, report } = options;
  if (backupDir !== undefined) resolveBackupDir({ name: targetName(targets[0]!), isThisMachine: false }, backupDir, undefined, root);
  if (report !== undefined && targets.length > 1) throw new UsageError(`--report names one file: with ${targets.length} targets each host's report goes to .sous/runs/<host>/last-run.json`);
}

/** Converges every target; one failing host never stops the others. */
export async function pushConverge(options: PushConvergeOptions): Promise<HostOutcome<HostRun>[]> {
  const { root, targets, runList, events, onPhase, ssh, concurrency, connectConcurrency, ...run } = options;
  // Compile before any host asks, so concurrent loads all import the one cached module.
  await compileRepository(openRepository(root));
  // One report file cannot hold several hosts' runs.
  if (typeof run.report === "string" && targets.length > 1) throw new UsageError(`report ${run.report} names one file: with ${targets.length} targets each host's report goes to .sous/runs/<host>/last-run.json`);
  const outcomes = await fanOut(
    targets,
    { ssh, ...(concurrency !== undefined ? { concurrency } : {}), ...(connectConcurrency !== undefined ? { connectConcurrency } : {}) },
    (target) => convergeTarget(target, runList, { ...run, repo: root, ...(events ? { events: (event) => events(target.name, event) } : {}) }),
    // Progress hears of a failed run as a failed host too, not as "done".
    (host, phase, outcome) => {
      const seen = outcome && hostResult(outcome);
      onPhase?.(host, phase === "done" && seen?.ok === false ? "failed" : phase, seen);
    },
  );
  return outcomes.map(hostResult);
}

/** A run that failed is a failed host, with the resource and message as the reason (its counts kept). */
function hostResult(outcome: HostOutcome<HostRun>): HostOutcome<HostRun> {
  return outcome.ok && outcome.value?.result.status === "failed" ? { ...outcome, ok: false, error: outcome.value.failure ?? "the run failed" } : outcome;
}

/** A one-line result of a host, for people. */
export function describeOutcome(outcome: HostOutcome<HostRun>, dryRun: boolean): string {
  if (!outcome.ok) return `FAILED: ${outcome.error ?? "unknown error"}`;
  const counts = outcome.value!.result.counts;
  const seconds = `${(outcome.durationMs / 1000).toFixed(1)} s`;
  if (counts.updated === 0) return `converged, up to date (${counts.resources} resources, ${seconds})`;
  return `converged, ${counts.updated} ${dryRun ? "would change" : "updated"} of ${counts.resources} (${seconds})`;
}
