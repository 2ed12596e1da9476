/** What a deploy or rollback emits as it goes; reporters (human, JSON lines) render them. */

/** Where each host ended up. */
export interface HostSummary {
  host: string;
  roles: string[];
  /**
   * deployed: on the new release. switched-back: switched, then back on its previous release.
   * not-switched: never left its previous release. failed: a phase failed on this host.
   * rolled-back: (rollback) on the target release. unchanged: (rollback) nothing to do.
   */
  outcome: "deployed" | "switched-back" | "not-switched" | "failed" | "rolled-back" | "unchanged";
  /** The release `current` points to at the end (undefined: no current). */
  release?: string;
  /** Where it was before. */
  previous?: string;
  /** Why it failed, with the command's output when there was one. */
  error?: string;
  durationMs: number;
}

/** The result of a deploy or rollback. */
export interface DeployResult {
  action: "deploy" | "rollback";
  app: string;
  stage?: string;
  ok: boolean;
  /** The release deployed, or rolled back to (when the same on every host). */
  release?: string;
  revision?: string;
  by: string;
  startedAt: string;
  durationMs: number;
  batches: string[][];
  phases: Array<{ phase: string; ok: boolean; durationMs: number; batch?: number }>;
  hosts: HostSummary[];
  /** Why the whole run failed (the first failing phase, the lock...). */
  error?: string;
}

/** One event of a run. */
export type DeployEvent =
  | { type: "run:start"; action: "deploy" | "rollback"; app: string; stage?: string; release?: string; hosts: string[]; batches: string[][] }
  | { type: "phase:start"; phase: string; hosts: string[]; batch?: number }
  | { type: "host:activity"; phase: string; host: string; text: string }
  | { type: "host:finish"; phase: string; host: string; ok: boolean; detail?: string; error?: string; durationMs: number }
  | { type: "phase:finish"; phase: string; ok: boolean; failed: string[]; durationMs: number; batch?: number }
  | { type: "note"; text: string }
  | { type: "run:finish"; result: DeployResult };

/** Receives events. */
export type DeploySink = (event: DeployEvent) => void;
