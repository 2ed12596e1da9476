/** Gathers a node's facts through its Host: one command, the same locally and over SSH. */
import { CommandFailedError, type Host } from "../host/host.js";
import { parseFacts } from "./parse.js";
import { FACTS_SCRIPT } from "./script.js";
import type { Facts } from "./types.js";

/** Runs the facts script on the host and parses what it printed; fields it cannot read are left out. */
export async function gatherFacts(host: Host, options: { timeoutMs?: number } = {}): Promise<Facts> {
  const result = await host.exec({ shell: FACTS_SCRIPT }, { timeoutMs: options.timeoutMs ?? 30_000 });
  // Each line of the script tolerates failure, so only a shell that never ran or a timeout is an error.
  if (result.timedOut || result.signal || !result.stdout.includes("@@sous:end")) throw new CommandFailedError(result, "gathering facts");
  return parseFacts(result.stdout);
}
