/** A repository of infrastructure code: cookbooks, roles, environments, on disk. */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
// Only the functions used: the whole semver package costs a no-op run noticeable start-up time.
import valid from "semver/functions/valid.js";
import { type Problem, SousError, ValidationError } from "../core/errors.js";
import type { CookbookInfo } from "./resolve.js";

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

/** Finds the repository containing `start`: the nearest folder with sous.config.ts or cookbooks/. */
export function findRepositoryRoot(start: string): string | undefined {
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, "sous.config.ts")) || existsSync(join(dir, "cookbooks"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function listDir(path: string): string[] {
  try {
    return readdirSync(path).sort();
  } catch {
    return [];
  }
}

function readCookbook(dir: string, origin: CookbookOnDisk["origin"], problems: Problem[]): CookbookOnDisk | undefined {
  const manifest = join(dir, "package.json");
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(manifest, "utf8"));
  } catch (error) {
    if (origin === "repository") problems.push({ path: manifest, message: `cannot read the cookbook's package.json: ${(error as Error).message}` });
    return undefined;
  }
  const name = json.name;
  const version = json.version;
  if (typeof name !== "string" || !/^[A-Za-z0-9_.-]+$/.test(name)) {
    problems.push({ path: `${manifest}.name`, message: `expected a cookbook name of letters, digits, _ . or -, got ${JSON.stringify(name)}` });
    return undefined;
  }
  if (typeof version !== "string" || !valid(version)) {
    problems.push({ path: `${manifest}.version`, message: `expected a semver version such as "1.0.0", got ${JSON.stringify(version)}` });
    return undefined;
  }
  const recipes: Record<string, string> = {};
  for (const entry of listDir(join(dir, "recipes"))) {
    if (SCRIPT.test(entry) && !entry.endsWith(".d.ts")) recipes[entry.replace(SCRIPT, "")] = join(dir, "recipes", entry);
  }
  const resources: Record<string, string> = {};
  for (const entry of listDir(join(dir, "resources"))) {
    if (SCRIPT.test(entry) && !entry.endsWith(".d.ts")) resources[entry.replace(SCRIPT, "")] ??= join(dir, "resources", entry);
  }
  const dependencies: Record<string, string> = {};
  for (const [dep, range] of Object.entries((json.dependencies as Record<string, unknown>) ?? {})) {
    if (dep === "sous") continue;
    if (typeof range !== "string") {
      problems.push({ path: `${manifest}.dependencies.${dep}`, message: `expected a semver range string, got ${JSON.stringify(range)}` });
      continue;
    }
    dependencies[dep] = range;
  }
  const attributesFile = ["attributes.ts", "attributes.js"].map((f) => join(dir, f)).find((f) => existsSync(f));
  return { name, version, dir, dependencies, recipes, resources, ...(attributesFile ? { attributesFile } : {}), origin };
}

function isCookbookDir(dir: string): boolean {
  try {
    return statSync(join(dir, "recipes")).isDirectory() && existsSync(join(dir, "package.json"));
  } catch {
    return false;
  }
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
  const modules = join(root, "node_modules");
  const libraries = new Set<string>();
  for (const entry of listDir(modules)) {
    const dirs = entry.startsWith("@") ? listDir(join(modules, entry)).map((e) => join(modules, entry, e)) : [join(modules, entry)];
    for (const dir of dirs) {
      if (!isCookbookDir(dir)) {
        if (existsSync(join(dir, "package.json"))) libraries.add(relative(modules, dir));
        continue;
      }
      const cookbook = readCookbook(dir, "node_modules", problems);
      if (cookbook) cookbooks.push(cookbook);
    }
  }
  // A cookbook is an npm package, so its dependencies may also name npm libraries its
  // recipes import: installed packages without recipes/ are libraries, not cookbooks.
  const cookbookNames = new Set(cookbooks.map((c) => c.name));
  for (const cookbook of cookbooks) {
    for (const dependency of Object.keys(cookbook.dependencies)) {
      if (libraries.has(dependency) && !cookbookNames.has(dependency)) delete cookbook.dependencies[dependency];
    }
  }
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
