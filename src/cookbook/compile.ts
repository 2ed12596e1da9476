/**
 * Turns a repository's TypeScript (recipes, attributes, roles, environments) into one
 * JavaScript module with esbuild, cached on disk by a fingerprint of the sources, so a
 * run whose code did not change imports the cached module without starting a compiler.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { errorMessage, type Problem, ValidationError } from "../core/errors.js";
import { firstForeignFrame } from "../core/location.js";
import { VERSION } from "../version.js";
import type { CookbookOnDisk, Repository } from "./repository.js";

/** What the compiled module exports. */
export interface CompiledRepository {
  /** Per cookbook dir: its attributes' default export and recipe default exports by name. */
  cookbooks: Record<string, { attributes?: unknown; recipes: Record<string, unknown>; resources?: Record<string, unknown> }>;
  roles: Record<string, unknown>;
  environments: Record<string, unknown>;
  /** The default export of sous.config.ts. */
  settings: unknown;
}

const here = fileURLToPath(import.meta.url);
/** The module recipes get for `import ... from "sous"`: this very installation. */
const sousEntry = resolve(here, "..", "..", here.endsWith(".ts") ? "index.ts" : "index.js");
const SKIP = new Set(["templates", "files", "test", "node_modules", ".sous", ".git"]);
/** Cached modules kept per repository: a run uses two (definitions and cookbooks). */
const KEEP_CACHED = 8;
/** The name esbuild gives the generated entry module (not a file on disk). */
const ENTRY_NAME = "sous-repository-entry.js";
/** Changes whenever what a cache manifest records changes, so older manifests are not reused. */
const CACHE_FORMAT = 2;

interface SourceStamp {
  path: string;
  size: number;
  mtimeMs: number;
}

function stamp(path: string): SourceStamp | undefined {
  try {
    const info = statSync(path);
    return { path, size: info.size, mtimeMs: info.mtimeMs };
  } catch {
    return undefined;
  }
}

function walk(dir: string, out: SourceStamp[]): void {
  let entries: import("node:fs").Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP.has(entry.name)) walk(path, out);
    } else if (/\.(ts|mts|js|mjs|json)$/.test(entry.name)) {
      const s = stamp(path);
      if (s) out.push(s);
    }
  }
}

/**
 * Which part of a repository to compile: the definitions (sous.config.ts, roles,
 * environments) and/or some cookbooks. A run compiles the definitions first, then only the
 * cookbooks its run list resolved to, so a broken cookbook elsewhere does not stop it.
 */
export interface CompileScope {
  definitions: boolean;
  cookbooks: readonly CookbookOnDisk[];
}

function sourceStamps(repository: Repository, scope: CompileScope): SourceStamp[] {
  const out: SourceStamp[] = [];
  for (const cookbook of scope.cookbooks) walk(cookbook.dir, out);
  if (!scope.definitions) return out.sort(byPath);
  walk(join(repository.root, "roles"), out);
  walk(join(repository.root, "environments"), out);
  if (repository.configFile) {
    const s = stamp(repository.configFile);
    if (s) out.push(s);
  }
  return out.sort(byPath);
}

function byPath(a: SourceStamp, b: SourceStamp): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

function fingerprint(repository: Repository, scope: CompileScope, stamps: SourceStamp[]): string {
  const hash = createHash("sha256");
  // CACHE_FORMAT: manifests written before the bundle's inputs were resolved against the
  // right folder miss files; a new format never reuses them.
  hash.update(`${CACHE_FORMAT}\0${VERSION}\0${sousEntry}\0${scope.definitions}\0`);
  if (scope.definitions) hash.update(`${JSON.stringify(repository.roles)}\0${JSON.stringify(repository.environments)}\0${repository.configFile ?? ""}\0`);
  for (const cookbook of scope.cookbooks) hash.update(`${cookbook.dir}\0${Object.keys(cookbook.recipes).join(",")}\0${Object.keys(cookbook.resources ?? {}).join(",")}\0`);
  for (const s of stamps) hash.update(`${s.path}\0${s.size}\0${s.mtimeMs}\0`);
  return hash.digest("hex").slice(0, 24);
}

function cacheDir(root: string): string {
  const preferred = join(root, ".sous", "cache");
  try {
    mkdirSync(preferred, { recursive: true });
    return preferred;
  } catch {
    const fallback = join(tmpdir(), `sous-cache-${createHash("sha256").update(root).digest("hex").slice(0, 12)}`);
    mkdirSync(fallback, { recursive: true });
    return fallback;
  }
}

function entrySource(repository: Repository, scope: CompileScope): string {
  const lines: string[] = [];
  const cookbookEntries: string[] = [];
  let n = 0;
  const id = () => `m${n++}`;
  for (const cookbook of scope.cookbooks) {
    const recipeEntries: string[] = [];
    let attributes = "undefined";
    if (cookbook.attributesFile) {
      attributes = id();
      lines.push(`import * as ${attributes} from ${JSON.stringify(cookbook.attributesFile)};`);
      attributes = `${attributes}.default`;
    }
    for (const [name, file] of Object.entries(cookbook.recipes)) {
      const m = id();
      lines.push(`import * as ${m} from ${JSON.stringify(file)};`);
      recipeEntries.push(`${JSON.stringify(name)}: ${m}.default`);
    }
    const resourceEntries: string[] = [];
    for (const [name, file] of Object.entries(cookbook.resources ?? {})) {
      const m = id();
      lines.push(`import * as ${m} from ${JSON.stringify(file)};`);
      resourceEntries.push(`${JSON.stringify(name)}: ${m}.default`);
    }
    cookbookEntries.push(`${JSON.stringify(cookbook.dir)}: { attributes: ${attributes}, recipes: { ${recipeEntries.join(", ")} }, resources: { ${resourceEntries.join(", ")} } }`);
  }
  const named = (files: Record<string, string>) =>
    Object.entries(files)
      .filter(([, file]) => !file.endsWith(".json"))
      .map(([name, file]) => {
        const m = id();
        lines.push(`import * as ${m} from ${JSON.stringify(file)};`);
        return `${JSON.stringify(name)}: ${m}.default`;
      })
      .join(", ");
  const roles = scope.definitions ? named(repository.roles) : "";
  const environments = scope.definitions ? named(repository.environments) : "";
  if (scope.definitions && repository.configFile) {
    lines.push(`import * as config from ${JSON.stringify(repository.configFile)};`);
    lines.push(`export const settings = config.default;`);
  } else lines.push(`export const settings = undefined;`);
  lines.push(`export const cookbooks = { ${cookbookEntries.join(", ")} };`);
  lines.push(`export const roles = { ${roles} };`);
  lines.push(`export const environments = { ${environments} };`);
  return lines.join("\n");
}

/** Compiles (or finds in the cache) and imports a repository's code: all of it, or the part `scope` names. */
export async function compileRepository(
  repository: Repository,
  scope: CompileScope = { definitions: true, cookbooks: repository.cookbooks },
): Promise<CompiledRepository & { cached: boolean; module: string }> {
  const startedAt = Date.now();
  const stamps = sourceStamps(repository, scope);
  const key = fingerprint(repository, scope, stamps);
  const dir = cacheDir(repository.root);
  const manifestFile = join(dir, `repository-${key}.json`);
  process.setSourceMapsEnabled(true);

  const manifest = readManifest(manifestFile);
  if (manifest && unchangedSince(manifest)) {
    try {
      const cachedModule = join(dir, manifest.module);
      const loaded = (await import(pathToFileURL(cachedModule).href)) as CompiledRepository;
      return { ...loaded, cached: true, module: cachedModule };
    } catch {
      // A damaged cache entry is rebuilt below.
    }
  }

  const esbuild = await import("esbuild");
  let result: import("esbuild").BuildResult<{ metafile: true; write: false }>;
  try {
    result = await esbuild.build({
      stdin: { contents: entrySource(repository, scope), resolveDir: repository.root, sourcefile: ENTRY_NAME, loader: "js" },
      // esbuild gives error locations and metafile inputs relative to its working directory:
      // the repository's root, so that they resolve to the user's files whatever the current
      // directory (by default it is process.cwd(), and resolving against the root was wrong).
      absWorkingDir: repository.root,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      // Source paths in the map are relative to this folder, where the module is written.
      outfile: join(dir, "repository.mjs"),
      write: false,
      metafile: true,
      sourcemap: "inline",
      sourcesContent: false,
      logLevel: "silent",
      plugins: [
        {
          name: "sous-self",
          setup(build: import("esbuild").PluginBuild) {
            build.onResolve({ filter: /^sous$/ }, () => ({ path: pathToFileURL(sousEntry).href, external: true }));
          },
        },
      ],
    });
  } catch (error) {
    const failure = error as { errors?: import("esbuild").Message[] };
    if (!failure.errors) throw error;
    const problems: Problem[] = failure.errors.map((m) => {
      const file = m.location ? resolve(repository.root, m.location.file) : undefined;
      return {
        path: file ? relative(repository.root, file) : "compile",
        message: m.text,
        ...(m.location && file ? { location: { file, line: m.location.line, column: m.location.column + 1 } } : {}),
      };
    });
    throw new ValidationError(problems, `recipes in ${repository.root} do not compile`);
  }
  const output = result.outputFiles[0]!;
  const known = new Set(stamps.map((s) => s.path));
  // Every other file the bundle read (helpers outside cookbooks/, packages): a later run
  // reuses this module only while each of them is unchanged. One that cannot be read now is
  // recorded as missing, so the next run compiles again rather than trusting it.
  const extra = Object.keys(result.metafile.inputs)
    .filter((input) => input !== ENTRY_NAME && input !== "<stdin>")
    .map((input) => resolve(repository.root, input))
    .filter((path) => !known.has(path))
    .map((path) => stamp(path) ?? { path, size: -1, mtimeMs: -1 });
  const racy = [...stamps, ...extra].filter((s) => s.size >= 0 && s.mtimeMs > startedAt - RACY_MS).map((s) => ({ path: s.path, hash: contentHash(s.path) }));
  // Named by its content too: an edited helper outside the cookbooks keeps the same key,
  // and a process that already imported the old module would get it again from Node's
  // module cache under the same URL.
  const moduleFile = join(dir, `repository-${key}-${createHash("sha256").update(output.contents).digest("hex").slice(0, 12)}.mjs`);
  writeAtomic(moduleFile, output.contents);
  writeAtomic(manifestFile, JSON.stringify({ extra, racy, module: basename(moduleFile) } satisfies Manifest));
  pruneCache(dir, [moduleFile, manifestFile]);
  let loaded: CompiledRepository;
  try {
    loaded = (await import(pathToFileURL(moduleFile).href)) as CompiledRepository;
  } catch (error) {
    // Top-level code of a recipe, attribute file, role or environment threw while loading.
    const location = firstForeignFrame((error as Error)?.stack ?? "");
    const where = location ? relative(repository.root, location.file) : "the repository's code";
    throw new ValidationError([{ path: where, message: `threw while loading: ${errorMessage(error)}`, ...(location ? { location } : {}) }], `the code in ${repository.root} failed while loading`);
  }
  return { ...loaded, cached: false, module: moduleFile };
}

function sameStamp(a: SourceStamp, b: SourceStamp | undefined): boolean {
  return b !== undefined && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

/** What a cached module was built from, beyond the files its fingerprint covers. */
interface Manifest {
  /** The module file in the cache folder. */
  module: string;
  /** Files the bundle read outside the fingerprinted folders (absolute paths). */
  extra: SourceStamp[];
  /** Inputs modified shortly before the compile, with a hash of their content. */
  racy: { path: string; hash: string }[];
}

/**
 * A file's modification time has the kernel clock's coarse granularity (milliseconds), so a
 * file rewritten at the same size within that tick keeps its stamp. Inputs this recent when a
 * module is compiled are also compared by content when the module is reused.
 */
const RACY_MS = 3000;

function contentHash(path: string): string {
  try {
    return createHash("sha256").update(readFileSync(path)).digest("hex");
  } catch {
    return "missing";
  }
}

function unchangedSince(manifest: Manifest): boolean {
  return manifest.extra.every((s) => sameStamp(s, stamp(s.path))) && manifest.racy.every((r) => contentHash(r.path) === r.hash);
}

function readManifest(file: string): Manifest | undefined {
  try {
    const manifest = JSON.parse(readFileSync(file, "utf8")) as Partial<Manifest>;
    return typeof manifest.module === "string" && Array.isArray(manifest.extra) && Array.isArray(manifest.racy) ? (manifest as Manifest) : undefined;
  } catch {
    return undefined;
  }
}

function writeAtomic(file: string, data: string | Uint8Array): void {
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, data);
  renameSync(temp, file);
}

function pruneCache(dir: string, keep: readonly string[]): void {
  const kept = new Set(keep.map((file) => basename(file)));
  for (const extension of [".mjs", ".json"]) {
    const entries = readdirSync(dir)
      .filter((f) => f.startsWith("repository-") && f.endsWith(extension) && !kept.has(f))
      .map((f) => ({ f, t: statSync(join(dir, f)).mtimeMs }))
      .sort((a, b) => b.t - a.t);
    for (const { f } of entries.slice(KEEP_CACHED - 1)) rmSync(join(dir, f), { force: true });
  }
}
