/** A repository of infrastructure code: cookbooks, roles, environments, on disk. */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Problem, SousError, ValidationError } from "../core/errors.js";
import { cookbookDependencies, installedPackages, readCookbookPackage } from "../protocol/manifest.js";
import type { CookbookInfo } from "../protocol/resolve.js";
import { findRepositoryRoot } from "./root.js";

// Where it always was, for the modules that read the repository too.
export { findRepositoryRoot };

/** A cookbook with the files the loader needs. */
export interface CookbookOnDisk extends CookbookInfo {
  /** Recipe name → absolute path of its `.ts` file. */
  recipes: Record<string, string>;
  /** Custom resource type name → absolute path of its `resources/<type>.ts` file. */
  resources: Record<string, string>;
  attributesFile?: string;
  origin: "repository" | "node_modules";
}

/** Everything found in a repository. */
export interface Repository {
  root: string;
  cookbooks: CookbookOnDisk[];
  /** Role name → file (`.ts` or `.json`). */
  roles: Record<string, string>;
  /** Environment name → file. */
  environments: Record<string, string>;
  /** The repository's sous.config.ts, when there is one. */
  configFile?: string;
}

const SCRIPT = /\.(ts|mts|js|mjs)$/;

function listDir(path: string): string[] {
  try {
    return readdirSync(path).sort();
  } catch {
    return [];
  }
}

function readCookbook(dir: string, origin: CookbookOnDisk["origin"], problems: Problem[]): CookbookOnDisk | undefined {
  // An installed package's unreadable package.json is npm's business, not a problem of this repository.
  const found: Problem[] = [];
  const pkg = readCookbookPackage(dir, found);
  problems.push(...(origin === "repository" ? found : found.filter((problem) => problem.path !== join(dir, "package.json"))));
  if (!pkg) return undefined;
  const { name, version, dependencies } = pkg;
  const recipes: Record<string, string> = {};
  for (const entry of listDir(join(dir, "recipes"))) {
    if (SCRIPT.test(entry) && !entry.endsWith(".d.ts")) recipes[entry.replace(SCRIPT, "")] = join(dir, "recipes", entry);
  }
  const resources: Record<string, string> = {};
  for (const entry of listDir(join(dir, "resources"))) {
    if (SCRIPT.test(entry) && !entry.endsWith(".d.ts")) resources[entry.replace(SCRIPT, "")] ??= join(dir, "resources", entry);
  }
  const attributesFile = ["attributes.ts", "attributes.js"].map((f) => join(dir, f)).find((f) => existsSync(f));
  return { name, version, dir, dependencies, recipes, resources, ...(attributesFile ? { attributesFile } : {}), origin };
}

/** Reads a repository's cookbooks (cookbooks/* and node_modules packages with recipes/), roles and environments. */
export function openRepository(path: string): Repository {
  // Every path derived from the root ends up in import specifiers and messages: make it absolute once.
  const root = resolve(path);
  const problems: Problem[] = [];
  if (!existsSync(root)) throw new SousError("no-repository", `repository ${root} does not exist`);
  const cookbooks: CookbookOnDisk[] = [];
  for (const entry of listDir(join(root, "cookbooks"))) {
    const dir = join(root, "cookbooks", entry);
    if (!statSync(dir).isDirectory()) continue;
    const cookbook = readCookbook(dir, "repository", problems);
    if (cookbook) cookbooks.push(cookbook);
  }
  const installed = installedPackages(root);
  for (const dir of installed.cookbookDirs) {
    const cookbook = readCookbook(dir, "node_modules", problems);
    if (cookbook) cookbooks.push(cookbook);
  }
  const cookbookNames = new Set(cookbooks.map((c) => c.name));
  for (const cookbook of cookbooks) cookbook.dependencies = cookbookDependencies(cookbook.dependencies, installed.libraries, cookbookNames);
  const seen = new Map<string, CookbookOnDisk>();
  for (const cookbook of cookbooks) {
    const key = `${cookbook.name}@${cookbook.version}`;
    const other = seen.get(key);
    if (other) problems.push({ path: join(cookbook.dir, "package.json"), message: `cookbook ${key} is also at ${other.dir}; keep one copy of each version` });
    seen.set(key, cookbook);
  }
  const named = (folder: string): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const entry of listDir(join(root, folder))) {
      if (entry.endsWith(".d.ts")) continue;
      const match = /^(.+)\.(ts|mts|js|mjs|json)$/.exec(entry);
      if (!match) continue;
      if (out[match[1]!]) problems.push({ path: join(root, folder, entry), message: `${folder.slice(0, -1)} ${match[1]} is defined twice (${out[match[1]!]})` });
      out[match[1]!] = join(root, folder, entry);
    }
    return out;
  };
  const configFile = join(root, "sous.config.ts");
  const repository: Repository = { root, cookbooks, roles: named("roles"), environments: named("environments"), ...(existsSync(configFile) ? { configFile } : {}) };
  if (problems.length) throw new ValidationError(problems, `the repository at ${root} has ${problems.length} problem${problems.length === 1 ? "" : "s"}`);
  return repository;
}
