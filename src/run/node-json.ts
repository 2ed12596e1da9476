/** The node JSON file of `-j/--json-attributes`: normal attributes and, optionally, a run list. */
import { readFileSync } from "node:fs";
import { UsageError } from "../core/errors.js";
import type { AttributeTree } from "../dsl.js";

/** What a node JSON file gives a run. */
export interface NodeJson {
  /** Normal attributes (everything but the run list). */
  attributes: AttributeTree;
  runList?: string[];
}

/**
 * Reads and checks a node JSON file (`{ "run_list": [...], ...attributes }`, Chef's shape; `runList` is
 * accepted too). Every mistake is a usage error naming the file: not JSON, not an object, a run list
 * that is not an array of strings.
 */
export function readNodeJson(path: string, flag = "--json-attributes"): NodeJson {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new UsageError(`${flag} ${path}: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new UsageError(`${flag} ${path}: expected a JSON object`);
  const { run_list: snake, runList: camel, ...attributes } = parsed as Record<string, unknown>;
  const list = snake ?? camel;
  if (list !== undefined && (!Array.isArray(list) || !list.every((item) => typeof item === "string"))) throw new UsageError(`${flag} ${path}: run_list must be an array of strings`);
  return { attributes: attributes as AttributeTree, ...(list ? { runList: list as string[] } : {}) };
}
