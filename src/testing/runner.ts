/**
 * `sous test [cookbook]`: a cookbook's tests in one command. In memory (the default), each
 * cookbook's `test/*.test.ts` is bundled with esbuild (`sous`, `sous/testing` resolving to
 * this installation) and run on Node's test runner. With `--machine`, see machine-test.ts.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { SousError, UsageError } from "../core/errors.js";
import { type CookbookOnDisk, openRepository } from "../cookbook/repository.js";

const here = fileURLToPath(import.meta.url);
const fromSources = here.endsWith(".ts");
const extension = fromSources ? ".ts" : ".js";
/** The modules a cookbook's tests import, from this very installation. */
export const SOUS_MODULES: Record<string, string> = {
  sous: resolve(dirname(here), "..", `index${extension}`),
  "sous/testing": resolve(dirname(here), `index${extension}`),
  "sous/verify": resolve(dirname(here), `verify${extension}`),
};

/** The cookbooks a `sous test` run covers: the repository's own (all, or the one named). */
export function cookbooksToTest(root: string, name: string | undefined): CookbookOnDisk[] {
  const repository = openRepository(root);
  const own = repository.cookbooks.filter((c) => c.origin === "repository");
  if (name === undefined) return own;
  const named = own.filter((c) => c.name === name);
  if (named.length === 0) throw new UsageError(`no cookbook ${name} in ${join(root, "cookbooks")} (it has: ${own.map((c) => c.name).join(", ") || "none"})`);
  return named;
}

/** The files of a folder whose names match, sorted; none when it does not exist. */
export function filesIn(dir: string, pattern: RegExp): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((entry) => pattern.test(entry) && !entry.endsWith(".d.ts"))
    .sort()
    .map((entry) => join(dir, entry));
}

/**
 * Bundles TypeScript test or check files into `outDir` (one module each, source maps inline
 * so failures point at the .ts lines); returns the bundles' paths in the same order.
 */
export async function bundleTests(root: string, files: readonly string[], outDir: string): Promise<string[]> {
  const esbuild = await import("esbuild");
  rmSync(outDir, { recursive: true, force: true });
  try {
    await esbuild.build({
      entryPoints: [...files],
      outdir: outDir,
      outbase: root,
      outExtension: { ".js": ".mjs" },
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      sourcemap: "inline",
      logLevel: "silent",
      plugins: [
        {
          name: "sous-self",
          setup(build) {
            build.onResolve({ filter: /^sous(\/testing|\/verify)?$/ }, (args) => ({ path: pathToFileURL(SOUS_MODULES[args.path]!).href, external: true }));
          },
        },
      ],
    });
  } catch (error) {
    const failure = error as { errors?: import("esbuild").Message[] };
    if (!failure.errors) throw error;
    const lines = failure.errors.map((m) => `  ${m.location ? `${resolve(root, m.location.file)}:${m.location.line}:${m.location.column + 1} ` : ""}${m.text}`);
    throw new SousError("test-compile", `the tests do not compile:\n${lines.join("\n")}`);
  }
  return files.map((file) => join(outDir, relative(root, file)).replace(/\.(ts|mts|js|mjs)$/, ".mjs"));
}

/** The loader flags this process runs with (tsx when Sous runs from its sources), for child Node processes. */
function loaderArguments(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if ((flag === "--import" || flag === "--loader") && argv[i + 1]) out.push(flag, absolute(argv[++i]!));
    else if (/^--(import|loader)=/.test(flag)) out.push(flag.slice(0, flag.indexOf("=")), absolute(flag.slice(flag.indexOf("=") + 1)));
  }
  return out;
}

/** A loader named as this process resolves it: the child runs in the repository, where it may not be installed. */
function absolute(specifier: string): string {
  try {
    return import.meta.resolve(specifier);
  } catch {
    return specifier;
  }
}

/** Runs Node's test runner on `files` and streams its output; resolves to its exit status. */
export function runNodeTests(files: readonly string[], env: Record<string, string>, write: (text: string) => void, cwd: string): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    // A test runner's own marker would make the child skip its files as a recursive run (sous test inside a test).
    const { NODE_TEST_CONTEXT: _context, ...inherited } = process.env;
    const child = spawn(process.execPath, [...loaderArguments(), "--enable-source-maps", "--test", "--test-reporter=spec", ...files], {
      cwd,
      env: { ...inherited, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.on("data", (chunk: Buffer) => write(chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => write(chunk.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => resolvePromise(code ?? 1));
  });
}

/** What `sous test` is asked. */
export interface TestCommandOptions {
  repo: string;
  cookbook?: string;
  machine?: boolean;
  keep?: boolean;
}
