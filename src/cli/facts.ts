/** `sous facts`: this machine's facts as JSON, what recipes read as automatic attributes. */
import { gatherFacts } from "../facts/gather.js";
import { LocalHost } from "../host/local.js";
import { splitDottedPath } from "../protocol/partial-search.js";
import type { Output } from "./converge.js";

/**
 * The value at an attribute path such as "kernel/release" (ohai's form) or "kernel.release"
 * (`\.` for a dot inside a key: `network.interfaces.eth0.addresses.10\.0\.1\.11`); undefined
 * when the path leads nowhere (a null fact, like `domain` without one, is a value).
 */
function pick(tree: unknown, path: string): unknown {
  let value = tree;
  const parts = path.includes("/") ? path.split("/") : splitDottedPath(path);
  for (const part of parts.filter(Boolean)) {
    value = value !== null && typeof value === "object" && Object.hasOwn(value, part) ? (value as Record<string, unknown>)[part] : undefined;
  }
  return value;
}

/** Prints all facts, or only the named attributes, and returns the exit code (1 when one is missing). */
export async function factsCommand(attributes: readonly string[], output: Output): Promise<number> {
  const facts = await gatherFacts(new LocalHost());
  if (attributes.length === 0) {
    output.stdout(`${JSON.stringify(facts, null, 2)}\n`);
    return 0;
  }
  let missing = 0;
  for (const path of attributes) {
    const value = pick(facts, path);
    if (value === undefined) {
      output.stderr(`sous facts: no attribute ${path}\n`);
      missing++;
    } else output.stdout(`${JSON.stringify(value, null, 2)}\n`);
  }
  return missing ? 1 : 0;
}
