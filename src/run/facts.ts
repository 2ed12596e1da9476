/** The facts service: this machine's facts, what recipes read as automatic attributes, and one fact by its path. */
import { gatherFacts } from "../facts/gather.js";
import type { Facts } from "../facts/types.js";
import { LocalHost } from "../host/local.js";
import { splitDottedPath } from "../protocol/partial-search.js";

/** Gathers this machine's facts. */
export function localFacts(): Promise<Facts> {
  return gatherFacts(new LocalHost());
}

/**
 * The value at an attribute path such as "kernel/release" (ohai's form) or "kernel.release"
 * (`\.` for a dot inside a key: `network.interfaces.eth0.addresses.10\.0\.1\.11`); undefined
 * when the path leads nowhere (a null fact, like `domain` without one, is a value).
 */
export function factAt(tree: unknown, path: string): unknown {
  let value = tree;
  const parts = path.includes("/") ? path.split("/") : splitDottedPath(path);
  for (const part of parts.filter(Boolean)) {
    value = value !== null && typeof value === "object" && Object.hasOwn(value, part) ? (value as Record<string, unknown>)[part] : undefined;
  }
  return value;
}
