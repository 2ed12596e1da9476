// Partial search (shared/SEARCH.md rule 10): result names mapped to attribute paths, and the
// walk of one path through a searched document. The server answers partial searches with it,
// the CLI reads `--keys` / `-k` with it, and recipes' `search(..., { keys })` uses the same
// functions, so a path means the same thing wherever it is written.

/** A JSON value as search documents hold it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Result names and the attribute path each one reads, e.g. `{ ip: ["ipaddress"], kernel: ["kernel", "release"] }`. */
export type PartialKeys = Record<string, string[]>;

/** A bad partial-search specification: what was wrong, and where (the caller's wording, e.g. "--keys"). */
export class PartialKeysError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PartialKeysError";
  }
}

/**
 * Reads a partial-search specification: an object of result names to paths, each path an array
 * of keys (Chef's form; a number is an array index) or a dotted string (`"kernel.release"`, with
 * `\.` for a dot inside a key). Throws PartialKeysError naming the result key at fault.
 */
export function parsePartialKeys(input: unknown, where = "partial search keys"): PartialKeys {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new PartialKeysError(`${where}: expected an object of result names to attribute paths, e.g. {"ip": ["ipaddress"], "kernel": ["kernel", "release"]}`);
  }
  const keys: PartialKeys = {};
  for (const [name, path] of Object.entries(input)) {
    if (typeof path === "string") keys[name] = splitDottedPath(path);
    else if (Array.isArray(path) && path.every((part) => typeof part === "string" || (Number.isInteger(part) && part >= 0))) keys[name] = path.map(String);
    else throw new PartialKeysError(`${where}: the path of '${name}' must be an array of keys (["kernel", "release"]) or a dotted string ("kernel.release"), not ${JSON.stringify(path)}`);
  }
  return keys;
}

/** Splits `kernel.release` into its keys; `\.` is a dot inside a key and `\\` a backslash. */
export function splitDottedPath(text: string): string[] {
  const parts: string[] = [];
  let current = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === "\\" && (text[i + 1] === "." || text[i + 1] === "\\")) current += text[++i];
    else if (ch === ".") {
      parts.push(current);
      current = "";
    } else current += ch;
  }
  parts.push(current);
  return parts;
}

/**
 * One `-k NAME=PATH` option of the CLI: the result name and its dotted path (`ip=ipaddress`,
 * `addr=network.interfaces.eth0.addresses.10\.0\.1\.11.family`). Without `=` the path names
 * itself (`-k kernel.release`).
 */
export function parseKeyAssignment(text: string): [name: string, path: string[]] {
  const at = text.indexOf("=");
  const name = at < 0 ? text : text.slice(0, at);
  const path = at < 0 ? text : text.slice(at + 1);
  if (name === "" || path === "") throw new PartialKeysError(`-k ${text}: expected NAME=PATH, e.g. -k ip=ipaddress or -k kernel=kernel.release`);
  return [name, splitDottedPath(path)];
}

/**
 * The value at `path` in a document, or null where the path leads nowhere. A key that is a whole
 * number indexes an array (0 is the first element); on a hash it is an ordinary key (`cpu.0`).
 * The empty path is the whole document.
 */
export function valueAtPath(document: unknown, path: readonly string[]): Json {
  let current: unknown = document;
  for (const part of path) {
    if (Array.isArray(current)) {
      if (!/^(0|[1-9]\d*)$/.test(part)) return null;
      current = current[Number(part)];
    } else if (typeof current === "object" && current !== null) {
      current = Object.hasOwn(current, part) ? (current as Record<string, unknown>)[part] : undefined;
    } else return null;
    if (current === undefined) return null;
  }
  return current === undefined ? null : (current as Json);
}

/** The `data` of one partial-search row: each result name with the value its path leads to (null when missing). */
export function partialData(document: unknown, keys: PartialKeys): Record<string, Json> {
  return Object.fromEntries(Object.entries(keys).map(([name, path]) => [name, valueAtPath(document, path)]));
}
