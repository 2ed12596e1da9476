/**
 * Where this machine's Sous and Node type declarations are, for editors and the type checker.
 * A repository's committed tsconfig.json holds no machine path: it extends
 * `.sous/tsconfig.json` (not committed), which Sous rewrites with the paths of the
 * installation that runs it, so a teammate's clone type-checks with their own Sous.
 */
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { writeGeneratedFile } from "./generated-file.js";

const here = fileURLToPath(import.meta.url);
// Its sources when run from them (tests), the built declarations otherwise.
const typesExtension = here.endsWith(".ts") ? ".ts" : ".d.ts";
/** Where `sous`, `sous/testing` and `sous/verify` (as recipes, tests and machine checks import them) are declared in this installation. */
export const SOUS_TYPE_PATHS: Record<string, string[]> = {
  sous: [resolve(dirname(here), "..", `index${typesExtension}`)],
  "sous/testing": [resolve(dirname(here), "..", "testing", `index${typesExtension}`)],
  "sous/verify": [resolve(dirname(here), "..", "testing", `verify${typesExtension}`)],
};

/** The machine-specific part of a repository's TypeScript configuration, relative to its root. */
export const MACHINE_TSCONFIG = join(".sous", "tsconfig.json");

/**
 * Where Node's type declarations are, as seen from this installation: recipes run on Node
 * and may use `process`, `Buffer` or `node:*` modules, which must type-check.
 */
export function nodeTypeRoots(): string[] {
  try {
    return [dirname(dirname(createRequire(import.meta.url).resolve("@types/node/package.json")))];
  } catch {
    return [];
  }
}

/** The content of `.sous/tsconfig.json` for this installation. */
export function machineTsconfig(): string {
  const typeRoots = nodeTypeRoots();
  const config = {
    compilerOptions: {
      ...(typeRoots.length ? { typeRoots, types: ["node"] } : { types: [] }),
      paths: SOUS_TYPE_PATHS,
    },
  };
  return `// Written by Sous (sous init, sous cookbook check, sous converge) with this machine's paths. Do not commit or edit.\n${JSON.stringify(config, null, 2)}\n`;
}

/** Writes `.sous/tsconfig.json` when its content changed. */
export function writeMachineTsconfig(root: string): void {
  writeGeneratedFile(join(root, MACHINE_TSCONFIG), machineTsconfig());
}
