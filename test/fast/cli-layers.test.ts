/**
 * The CLI's place in the house: it parses flags and renders, and reaches everything else through
 * src/client, src/run (the services), src/protocol, src/core and src/version. Every file in
 * src/cli stays under 500 lines. The imports not yet routed through src/run are listed below,
 * each with its file; a new one fails, and so does an entry no longer needed, so the list only
 * shrinks.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "../../src");
const CLI = join(SRC, "cli");
const MAX_LINES = 500;

/** What the CLI may import: its own files, these layers of src/, and packages. */
const ALLOWED = new Set(["cli", "client", "run", "protocol", "core", "version.ts"]);

/** Imports outside the allowed layers that are still to move behind src/run: file → layers. */
const NOT_YET: Record<string, string[]> = {
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** Every module a file imports: static imports and re-exports, `import("...")` and `import("...").Type`. */
function specifiers(text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["']([^"']+)["']/gm)) found.push(match[1]!);
  return found;
}

/** The layer a relative import lands in: the first folder under src/ (or the file, for src/version.ts). */
function layerOf(file: string, specifier: string): string | undefined {
  if (!specifier.startsWith(".")) return undefined;
  const target = relative(SRC, resolve(dirname(file), specifier)).replace(/\.js$/, ".ts");
  return target.split(sep)[0];
}

const files = sources(CLI);

test("no file in src/cli is over 500 lines", () => {
  const long = files.map((file) => ({ file: relative(SRC, file), lines: readFileSync(file, "utf8").split("\n").length - 1 })).filter((f) => f.lines > MAX_LINES);
  assert.deepEqual(long, [], `split these by verb group or move their logic to src/run: ${long.map((f) => `${f.file} (${f.lines} lines)`).join(", ")}`);
});

test("src/cli imports only src/client, src/run, src/protocol, src/core and src/version (and the listed exceptions, which only shrink)", () => {
  const outside: string[] = [];
  const used = new Set<string>();
  for (const file of files) {
    const name = relative(CLI, file);
    for (const specifier of specifiers(readFileSync(file, "utf8"))) {
      const layer = layerOf(file, specifier);
      if (layer === undefined || ALLOWED.has(layer)) continue;
      if (NOT_YET[name]?.includes(layer)) used.add(`${name} ${layer}`);
      else outside.push(`${name} imports ${specifier}`);
    }
  }
  assert.deepEqual(outside, [], "the CLI only parses flags and renders: give src/run a service for this instead");
  const stale = Object.entries(NOT_YET).flatMap(([name, layers]) => layers.filter((layer) => !used.has(`${name} ${layer}`)).map((layer) => `${name} ${layer}`));
  assert.deepEqual(stale, [], "these exceptions are no longer needed: remove them from NOT_YET");
});
