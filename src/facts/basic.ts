/**
 * The facts as the node's `automatic` attributes: a plain JSON tree, what `loadRun` and
 * recipes read. Kept under its first name for the callers that use it.
 */
import type { AttributeTree } from "../dsl.js";
import type { Host } from "../host/host.js";
import { gatherFacts } from "./gather.js";

/** Gathers the facts of a host as an attribute tree (every field of `Facts`, undefined ones left out). */
export async function gatherBasicFacts(host: Host): Promise<AttributeTree> {
  return JSON.parse(JSON.stringify(await gatherFacts(host))) as AttributeTree;
}
