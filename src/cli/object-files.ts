// Reading objects the user hands the server commands: definition files (.json, or .ts/.js
// written with role()/environment()), `--json` arguments, and writing the private keys made here.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, extname, resolve } from "node:path";
import type { Message, Plugin } from "esbuild";
import { SousError } from "../core/errors.js";
import type { Json } from "./connection.js";

/** Loads an object from a .json, .js/.mjs or .ts file (role/environment definitions of a repository). */
export async function loadObjectFile(file: string): Promise<Json> {
  const path = resolve(file);
  if (!existsSync(path)) throw new SousError("no_such_file", `${file} does not exist`);
  const ext = extname(path);
  if (ext === ".json") {
    const value = parseJsonText(readFileSync(path, "utf8"), file);
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new SousError("bad_file", `${file}: expected a JSON object, not ${Array.isArray(value) ? "an array" : JSON.stringify(value)}`);
    return value as Json;
  }
  if (ext === ".ts" || ext === ".js" || ext === ".mjs" || ext === ".mts") {
    const module = (await import(`data:text/javascript;base64,${Buffer.from(await bundleDefinition(path, file)).toString("base64")}`)) as { default?: unknown };
    if (typeof module.default !== "object" || module.default === null) throw new SousError("bad_file", `${file}: the default export must be an object (role({...}) or environment({...}))`);
    return { ...(module.default as Json) };
  }
  throw new SousError("bad_file", `${file}: expected a .json, .ts or .js file`);
}

/** `sous` inside a definition file: identity helpers, so that `role({...})` is its argument. */
const sousShim: Plugin = {
  name: "sous-shim",
  setup(build) {
    build.onResolve({ filter: /^sous(\/.*)?$/ }, () => ({ path: "sous", namespace: "sous-shim" }));
    build.onLoad({ filter: /.*/, namespace: "sous-shim" }, () => ({
      contents: "const id = (d) => d; export const role = id, environment = id, attributes = id, recipe = id, config = id, defineConfig = id;",
      loader: "js",
    }));
  },
};

/** A definition file bundled into one ES module (so that its local imports work); a compile error names file:line:column. */
async function bundleDefinition(path: string, file: string): Promise<string> {
  const esbuild = await import("esbuild");
  const result = await esbuild
    .build({ entryPoints: [path], bundle: true, write: false, format: "esm", platform: "node", logLevel: "silent", plugins: [sousShim] })
    .catch((error: { errors?: Message[] }) => {
      const first = error.errors?.[0];
      if (!first) throw error;
      // file:line:column with the file's absolute path, as every location Sous prints (esbuild's
      // is relative to the current directory).
      const where = first.location ? `${resolve(first.location.file)}:${first.location.line}:${first.location.column + 1}` : file;
      throw new SousError("bad_file", `${where}: ${first.text}`);
    });
  return result.outputFiles[0]!.text;
}

/** Parses JSON text; an error names `where`, the line and the column, as an editor shows them. */
export function parseJsonText(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const message = (error as Error).message;
    // V8 gives a character position ("at position 18"), or none at the end of the text.
    const position = Number(/ at position (\d+)/.exec(message)?.[1] ?? text.length);
    const before = text.slice(0, position);
    const line = before.split("\n").length;
    const column = position - before.lastIndexOf("\n");
    throw new SousError("bad_json", `${where}:${line}:${column}: not valid JSON: ${message.replace(/ in JSON at position \d+.*$/, "")}`);
  }
}


/** `--json TEXT`, `--json -` (standard input) or `--json @FILE`: the last two keep secrets out of the process list. */
export function parseJsonFlag(argument: string): Json {
  try {
    const text = argument === "-" ? readFileSync(0, "utf8") : argument.startsWith("@") ? readFileSync(argument.slice(1), "utf8") : argument;
    const value = JSON.parse(text) as unknown;
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not a JSON object");
    return value as Json;
  } catch (error) {
    throw new SousError("bad_json", `--json: ${(error as Error).message}`);
  }
}

/** A definition with camelCase keys renamed to the API's, named after its file when it has no name. */
export function namedDefinition(data: Json, file: string, renames: Record<string, string>): Json {
  const out: Json = {};
  for (const [key, value] of Object.entries(data)) out[renames[key] ?? key] = value;
  if (out.name === undefined) out.name = basename(file).replace(/\.(json|ts|js|mjs|mts)$/, "");
  if (typeof out.name !== "string" || out.name === "") throw new SousError("bad_file", `${file}: name must be a non-empty string`);
  return out;
}

/** Refuses a definition with fields the API does not know (a typo would otherwise be dropped silently). */
export function refuseUnknownFields(file: string, data: Json, known: readonly string[]): void {
  const unknown = Object.keys(data).filter((key) => !known.includes(key));
  if (unknown.length > 0) throw new SousError("bad_file", `${file}: unknown field${unknown.length === 1 ? "" : "s"} ${unknown.join(", ")} (expected ${known.join(", ")})`);
}

/** Writes a private key file (0600) next to the configuration; refuses to overwrite. */
export function writeKeyFile(path: string, pem: string): string {
  const full = resolve(path);
  if (existsSync(full)) throw new SousError("key_exists", `${full} already exists; move it away or pass another --key-out`);
  mkdirSync(dirname(full), { recursive: true, mode: 0o700 });
  writeFileSync(full, pem, { mode: 0o600 });
  return full;
}
