/**
 * The self-contained agent that `sous bootstrap` copies to a node: this workstation's own
 * `node` binary, the `sous` program bundled by esbuild (one file per entry and shared chunks),
 * and the few packages that cannot be bundled (esbuild's native compiler, which compiles the
 * node's recipes, and `diff`, loaded at run time). A bare Debian host needs nothing else and no
 * network: Debian 12's own nodejs (18) is older than Sous needs (20), and a copy of the same
 * binary and code the workstation runs is what was tested here.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { SousError } from "../core/errors.js";
import { VERSION } from "../version.js";

/** Where the bundle goes on a node. */
export const AGENT_HOME = "/opt/sous";

/** A bundle ready to copy: a gzipped tar of bin/ and lib/, and its identity. */
export interface AgentBundle {
  /** SHA-256 (first 16 hex digits) of the node binary and the bundled code. */
  id: string;
  tarball: string;
  size: number;
}

const here = fileURLToPath(import.meta.url);
/** The installed package's root (dist/agent/bundle.js → the folder with package.json). */
const packageRoot = resolve(dirname(here), "..", "..");

/** The packages copied as they are next to the bundle (native code, or loaded with require at run time). */
const UNBUNDLED = ["esbuild", "@esbuild/linux-x64", "diff"];

/** The launcher on the node: the copied node binary running the bundled program. */
const LAUNCHER = `#!/bin/sh\n# Written by sous bootstrap: the agent's own node binary runs the bundled sous.\nexec ${AGENT_HOME}/bin/node ${AGENT_HOME}/lib/x/sous.js "$@"\n`;

/** Builds the bundle (or finds it built) in `cacheDir`. */
export async function buildAgentBundle(cacheDir: string): Promise<AgentBundle> {
  const entry = join(packageRoot, "bin", "sous.js");
  const index = join(packageRoot, "dist", "index.js");
  if (!existsSync(join(packageRoot, "dist", "cli", "main.js"))) throw new SousError("no_build", `${packageRoot}/dist is missing: run npm run build first`);
  const nodeBinary = process.execPath;
  // The same node binary and build as last time: the tarball made then.
  const stamp = createHash("sha256").update(`${nodeBinary}:${statSync(nodeBinary).mtimeMs}\n`);
  for (const file of execFileSync("find", [join(packageRoot, "dist"), join(packageRoot, "bin"), "-type", "f", "-printf", "%p %s %T@\\n"], { encoding: "utf8" }).split("\n").sort()) stamp.update(file);
  const stampFile = join(cacheDir, `stamp-${stamp.digest("hex").slice(0, 16)}`);
  try {
    const known = readFileSync(stampFile, "utf8").trim();
    const tarball = join(cacheDir, `sous-agent-${known}.tar.gz`);
    if (existsSync(tarball)) return { id: known, tarball, size: statSync(tarball).size };
  } catch {
    // Not built for this stamp yet.
  }
  mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
  const esbuild = await import("esbuild");
  const work = join(cacheDir, `build-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  const lib = join(work, "lib");
  await esbuild.build({
    entryPoints: [
      { in: entry, out: "x/sous" },
      // What recipes import as "sous": compile.ts names ../../index.js from the chunk it is in (lib/x/...).
      { in: index, out: "index" },
    ],
    outdir: lib,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    chunkNames: "x/chunk-[hash]",
    external: [...UNBUNDLED, "better-sqlite3", "pg-native", "cpu-features", "typescript", "playwright-core"],
    // Bundled CommonJS packages call require() for Node's own modules.
    banner: { js: 'import { createRequire as __sousCreateRequire } from "node:module"; const require = __sousCreateRequire(import.meta.url);' },
    // ssh2's optional native crypto: not found on the node, so ssh2 uses its JavaScript code (it tries, and falls back).
    plugins: [{ name: "native-addons", setup: (build: import("esbuild").PluginBuild) => build.onResolve({ filter: /\.node$/ }, (args) => ({ path: args.path, external: true })) }],
    logLevel: "silent",
    write: true,
  });
  const resolvePackage = createRequire(join(packageRoot, "package.json"));
  for (const name of UNBUNDLED) {
    let dir: string;
    try {
      dir = dirname(resolvePackage.resolve(`${name}/package.json`));
    } catch {
      if (name.startsWith("@esbuild/")) continue;
      throw new SousError("bundle_failed", `cannot find the package ${name} to copy into the agent bundle`);
    }
    cpSync(dir, join(lib, "node_modules", name), { recursive: true, dereference: true });
  }
  writeFileSync(join(lib, "package.json"), JSON.stringify({ name: "sous-agent", version: VERSION, type: "module", private: true }));
  mkdirSync(join(work, "bin"), { recursive: true });
  cpSync(nodeBinary, join(work, "bin", "node"));
  writeFileSync(join(work, "bin", "sous"), LAUNCHER, { mode: 0o755 });

  const hash = createHash("sha256");
  hash.update(`${statSync(nodeBinary).size}:${statSync(nodeBinary).mtimeMs}:${nodeBinary}\n`);
  for (const file of execFileSync("find", [lib, "-type", "f"], { encoding: "utf8" }).split("\n").filter(Boolean).sort()) hash.update(file.slice(work.length)).update(readFileSync(file));
  const id = hash.digest("hex").slice(0, 16);
  writeFileSync(join(work, "bundle-id"), `${id}\n`);
  const tarball = join(cacheDir, `sous-agent-${id}.tar.gz`);
  if (!existsSync(tarball)) {
    // Named by process: two bootstraps building at once each write their own, and the rename is atomic.
    execFileSync("tar", ["--use-compress-program=gzip -1", "-cf", `${tarball}.${process.pid}.tmp`, "-C", work, "bin", "lib", "bundle-id"]);
    renameSync(`${tarball}.${process.pid}.tmp`, tarball);
  }
  rmSync(work, { recursive: true, force: true });
  writeFileSync(`${stampFile}.${process.pid}.tmp`, `${id}\n`);
  renameSync(`${stampFile}.${process.pid}.tmp`, stampFile);
  return { id, tarball, size: statSync(tarball).size };
}
