/**
 * Push mode: converge many SSH targets with the same recipes. The repository is compiled once
 * on the workstation; each host's facts are gathered over its connection in one round trip,
 * its run is loaded with those facts, and the engine converges it through its SshHost.
 */
import { converge, type RunResult } from "../core/engine.js";
import { formatProblem, ValidationError } from "../core/errors.js";
import type { EventSink, RunEvent } from "../core/events.js";
import { compileRepository } from "../cookbook/compile.js";
import { loadRun } from "../cookbook/load.js";
import { openRepository } from "../cookbook/repository.js";
import type { AttributeTree } from "../dsl.js";
import { gatherBasicFacts } from "../facts/basic.js";
import type { SshTarget } from "../host/ssh.js";
import { type FanOutOptions, fanOut, type HostOutcome, type HostPhase } from "./fleet.js";

/** What a push converges and how. */
export interface PushConvergeOptions extends FanOutOptions {
  root: string;
  targets: readonly SshTarget[];
  runList?: string | readonly string[];
  environment?: string;
  /** Normal attributes for every node. */
  normal?: AttributeTree;
  dryRun?: boolean;
  backupDir?: string;
  /** Every run event, tagged with the host it came from. */
  events?: (host: string, event: RunEvent) => void;
  onPhase?: (host: string, phase: HostPhase, outcome?: HostOutcome<HostRun>) => void;
}

/** One host's converge. */
export interface HostRun {
  node: string;
  result: RunResult;
  /** The failure that ended the run, when it failed. */
  failure?: string;
}

/** Converges every target; one failing host never stops the others. */
export async function pushConverge(options: PushConvergeOptions): Promise<HostOutcome<HostRun>[]> {
  // Compile before any host asks, so concurrent loads all import the one cached module.
  const repository = openRepository(options.root);
  await compileRepository(repository);
  const outcomes = await fanOut(
    options.targets,
    options,
    async (host) => {
      const facts = await gatherBasicFacts(host);
      let loaded;
      try {
        loaded = await loadRun({ root: options.root, runList: options.runList, environment: options.environment, normal: options.normal, facts });
      } catch (error) {
        if (error instanceof ValidationError) throw new Error(`${error.message.split("\n")[0]}: ${error.problems.map(formatProblem).join("; ")}`);
        throw error;
      }
      let failure: string | undefined;
      const sink: EventSink = (event) => {
        if (event.type === "run:finish" && event.error) failure = `${event.error.resource ? `${event.error.resource}: ` : ""}${event.error.message}`;
        options.events?.(host.name, event);
      };
      const result = await converge({
        host,
        collection: loaded.collection,
        dryRun: options.dryRun === true,
        events: sink,
        node: loaded.node.name,
        // A path on the target: a relative backupDir from sous.config.ts means nothing there.
        backupDir: options.backupDir ?? (loaded.settings.backupDir?.startsWith("/") ? loaded.settings.backupDir : "/var/lib/sous/backup"),
      });
      return { node: loaded.node.name, result, ...(failure ? { failure } : {}) };
    },
    // Progress hears of a failed run as a failed host too, not as "done".
    (host, phase, outcome) => {
      const seen = outcome && hostResult(outcome);
      options.onPhase?.(host, phase === "done" && seen?.ok === false ? "failed" : phase, seen);
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
