/**
 * One TypeScript file of a repository (sous.config.ts, apps/<name>.ts) compiled with esbuild
 * and imported. The compiled module is kept in .sous/cache with the sizes and times of every
 * file it was built from, so a later command imports it without starting esbuild; the file
 * itself is evaluated every time (it may read the environment).
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { errorMessage, SousError } from "../core/errors.js";
import { firstForeignFrame } from "../core/location.js";

const here = fileURLToPath(import.meta.url);
/** This installation's entry module, for `import { ... } from "sous"`. */
const sousEntry = resolve(here, "..", "..", here.endsWith(".ts") ? "index.ts" : "index.js");

/** How a file is compiled and what its errors are called. */
export interface CompileFileOptions {
  /** Names the cache entries (`server-config-`, `app-`). */
  prefix: string;
  /** The code of the SousError thrown when the file does not compile or throws while loading. */
  errorCode: string;
  /** Import "sous" from this installation instead of bundling the parts the file uses, with a source map so errors name the file's own lines. */
  linkSous?: boolean;
}

/** A file's size and modification time as one string, or undefined when it is gone: what says the cache is stale. */
function fileVersion(path: string): string | undefined {
  try {
    const info = statSync(path);
    return `${info.size}:${info.mtimeMs}`;
  } catch {
    return undefined;
  }
}

function writeAtomically(file: string, data: string | Uint8Array): void {
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, data);
  renameSync(temp, file);
}

/** Compiles (or finds in the cache) and imports `file`, returning its default export. */
export async function importTypeScriptFile(root: string, file: string, options: CompileFileOptions): Promise<unknown> {
  const cacheDir = join(root, ".sous", "cache");
  const manifestFile = join(cacheDir, `${options.prefix}${createHash("sha256").update(file).digest("hex").slice(0, 12)}.json`);
  let moduleUrl: string | undefined;
  try {
    const manifest = JSON.parse(readFileSync(manifestFile, "utf8")) as { inputs: Record<string, string>; module: string };
    const fresh = Object.entries(manifest.inputs).every(([path, version]) => fileVersion(path) === version);
    if (fresh && existsSync(join(cacheDir, manifest.module))) moduleUrl = pathToFileURL(join(cacheDir, manifest.module)).href;
  } catch {
    // No usable cache entry: compile below.
  }
  moduleUrl ??= await compile(root, file, cacheDir, manifestFile, options);
  if (options.linkSous) process.setSourceMapsEnabled(true);
  try {
    return ((await import(moduleUrl)) as { default?: unknown }).default;
  } catch (error) {
    const location = options.linkSous ? firstForeignFrame((error as Error)?.stack ?? "") : undefined;
    throw new SousError(options.errorCode, `${location ? `${location.file}:${location.line}` : file} failed while loading: ${errorMessage(error)}`);
  }
}

async function compile(root: string, file: string, cacheDir: string, manifestFile: string, options: CompileFileOptions): Promise<string> {
  const esbuild = await import("esbuild");
  let result: import("esbuild").BuildResult<{ metafile: true; write: false }>;
  try {
    result = await esbuild.build({
      entryPoints: [file],
      absWorkingDir: root,
      bundle: true,
      write: false,
      metafile: true,
      format: "esm",
      platform: "node",
      target: "node20",
      logLevel: "silent",
      ...(options.linkSous ? { sourcemap: "inline" as const, sourcesContent: false, outfile: join(cacheDir, "module.mjs") } : {}),
      plugins: [
        {
          name: "sous-self",
          setup: (build: import("esbuild").PluginBuild) => build.onResolve({ filter: /^sous$/ }, () => (options.linkSous ? { path: pathToFileURL(sousEntry).href, external: true } : { path: sousEntry })),
        },
      ],
    });
  } catch (error) {
    const first = (error as { errors?: import("esbuild").Message[] }).errors?.[0];
    if (!first) throw error;
    const where = first.location ? `${resolve(root, first.location.file)}:${first.location.line}:${first.location.column + 1}` : file;
    throw new SousError(options.errorCode, `${where}: ${first.text}`);
  }
  const code = result.outputFiles[0]!.contents;
  const inputs = Object.fromEntries(Object.keys(result.metafile.inputs).map((input) => [resolve(root, input), fileVersion(resolve(root, input)) ?? "gone"]));
  // Named by content: a process that imported an older version gets the new one under a new URL.
  const moduleName = `${options.prefix}${createHash("sha256").update(code).digest("hex").slice(0, 16)}.mjs`;
  try {
    mkdirSync(cacheDir, { recursive: true });
    writeAtomically(join(cacheDir, moduleName), code);
    writeAtomically(manifestFile, JSON.stringify({ inputs, module: moduleName }));
    // Modules no manifest of this prefix names any more go (another file's may still be in use).
    const entries = readdirSync(cacheDir);
    const named = new Set(
      entries
        .filter((entry) => entry.startsWith(options.prefix) && entry.endsWith(".json"))
        .map((entry) => {
          try {
            return (JSON.parse(readFileSync(join(cacheDir, entry), "utf8")) as { module?: string }).module;
          } catch {
            return undefined;
          }
        }),
    );
    for (const entry of entries) if (entry.startsWith(options.prefix) && entry.endsWith(".mjs") && !named.has(entry)) rmSync(join(cacheDir, entry), { force: true });
    return pathToFileURL(join(cacheDir, moduleName)).href;
  } catch {
    // A repository we cannot write to still works, compiled every time.
    return `data:text/javascript;base64,${Buffer.from(code).toString("base64")}`;
  }
}
