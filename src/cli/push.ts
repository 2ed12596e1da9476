/** `sous converge ssh://user@host ...`: agentless push to many targets (filled in by the push subsystem). */
import type { ConvergeCliOptions, Output } from "./converge.js";
import { UsageError } from "./converge.js";

/** Options of a push run, beyond those of a local converge. */
export interface PushCliOptions extends ConvergeCliOptions {
  inventory?: string;
  concurrency?: string;
}

/** Converges remote targets over SSH; returns the process exit code. */
export async function pushCommand(targets: string[], _options: PushCliOptions, _output: Output): Promise<number> {
  throw new UsageError(`push mode is not available yet (targets: ${targets.join(", ")})`);
}
