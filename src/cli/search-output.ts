/**
 * `sous search` output: which partial-search keys the flags ask for (`-a`, `-k`, `--keys`) and how
 * the answer is printed (text lines, Sous's `{name, data}` rows, or Chef's `{url, data}` rows and
 * Chef's object shapes under `--format chef`).
 */
import { SousError } from "../core/errors.js";
import { parseKeyAssignment, parsePartialKeys, PartialKeysError, splitDottedPath } from "../protocol/partial-search.js";
import type { Json, PartialKeys } from "../protocol/partial-search.js";

/** The server's answer to a partial search. */
export interface PartialSearchBody {
  total: number;
  start: number;
  rows: Array<{ name: string; url: string; data: Record<string, Json> }>;
}

/** Commander's collector for a repeated `-k NAME=PATH`. */
export function collectKey(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * The partial-search keys the flags ask for, or undefined for whole objects: `-a PATH` (named by
 * the path as written), `-k NAME=PATH` (`--key-path`; `--key` is the signing key), and `--keys JSON` (Chef's form), merged in that order.
 */
export function partialKeysOf(flags: Record<string, unknown>): PartialKeys | undefined {
  const attributes = (flags.attribute as string[] | undefined) ?? [];
  const assignments = (flags.keyPath as string[] | undefined) ?? [];
  if (attributes.length === 0 && assignments.length === 0 && flags.keys === undefined) return undefined;
  const keys: PartialKeys = {};
  const add = (name: string, path: string[], from: string): void => {
    if (Object.hasOwn(keys, name)) throw new SousError("bad_keys", `${from}: the result name '${name}' is given twice`);
    keys[name] = path;
  };
  try {
    for (const attribute of attributes) add(attribute, splitDottedPath(attribute), `-a ${attribute}`);
    for (const assignment of assignments) add(...parseKeyAssignment(assignment), `-k ${assignment}`);
    if (flags.keys !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(String(flags.keys));
      } catch (error) {
        throw new SousError("bad_keys", `--keys: not JSON (${(error as Error).message}); expected e.g. '{"ip": ["ipaddress"], "kernel": ["kernel", "release"]}'`);
      }
      for (const [name, path] of Object.entries(parsePartialKeys(parsed, "--keys"))) add(name, path, "--keys");
    }
  } catch (error) {
    if (error instanceof PartialKeysError) throw new SousError("bad_keys", error.message);
    throw error;
  }
  return keys;
}

/** What `--format json` (`sous`: rows `{name, data}`) or `--format chef` (Chef's rows `{url, data}`) prints. */
export function partialSearchOutput(body: PartialSearchBody, shape: "sous" | "chef"): unknown {
  const rows = body.rows.map((row) => (shape === "chef" ? { url: row.url, data: row.data } : { name: row.name, data: row.data }));
  return { total: body.total, start: body.start, rows };
}

function scalar(value: Json): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** The text form: a count line, then one line per hit with each result name and value. */
export function partialSearchText(body: PartialSearchBody, keys: PartialKeys): string {
  const names = Object.keys(keys);
  return [`${body.total} result${body.total === 1 ? "" : "s"}`, ...body.rows.map((row) => `${row.name}: ${names.map((name) => `${name}=${scalar(row.data[name] ?? null)}`).join("  ")}`)].join("\n");
}

const CHEF_CLASSES: Record<string, string> = { node: "Chef::Node", role: "Chef::Role", environment: "Chef::Environment", client: "Chef::ApiClient" };

/**
 * A whole-object search answer as Chef's server gives it: objects with their `json_class` and
 * `chef_type`, and data bag items wrapped (`{name: "data_bag_item_BAG_ID", json_class,
 * chef_type, data_bag, raw_data}`), so tools written against Chef's answers read it unchanged.
 */
export function chefSearchBody(index: string, body: { total: number; start?: number; rows: Array<Record<string, unknown>> }): unknown {
  const className = CHEF_CLASSES[index];
  const rows = body.rows.map((row) =>
    className
      ? { ...row, json_class: className, chef_type: index }
      : { name: `data_bag_item_${index}_${String(row.id)}`, json_class: "Chef::DataBagItem", chef_type: "data_bag_item", data_bag: index, raw_data: row },
  );
  return { total: body.total, start: body.start ?? 0, rows };
}
