/**
 * A cookbook's manifest, one way for every reader. Its package.json, read alike by the loader
 * (repository.ts) and `sous cookbook upload`: a cookbook is an npm package, so its
 * `dependencies` name other cookbooks and may also name npm libraries its recipes import; only
 * the cookbooks are cookbook dependencies. And the manifest of an uploaded version as the API
 * carries it (upload, download, the agent's cache), with the file-path rule every side checks.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
// Only the functions used: the whole semver package costs a no-op run noticeable start-up time.
import valid from "semver/functions/valid.js";
import type { Problem } from "../core/errors.js";

/** What package.json says about a cookbook. */
export interface CookbookPackage {
  name: string;
  version: string;
  description: string;
  /** Every dependency but `sous` itself: name → range (cookbooks and npm libraries alike). */
  dependencies: Record<string, string>;
}

/** A cookbook name: letters, digits, `_`, `.`, `-` (also what the server accepts). */
const COOKBOOK_NAME = /^[A-Za-z0-9_.-]+$/;

/**
 * Reads `dir/package.json`; adds each problem (unreadable, name, version, a range that is not a
 * string) to `problems` with its path, and returns undefined when the cookbook cannot be used.
 */
export function readCookbookPackage(dir: string, problems: Problem[]): CookbookPackage | undefined {
  const manifest = join(dir, "package.json");
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(manifest, "utf8")) as Record<string, unknown>;
  } catch (error) {
    problems.push({ path: manifest, message: `cannot read the cookbook's package.json: ${(error as Error).message}` });
    return undefined;
  }
  const { name, version } = json;
  if (typeof name !== "string" || !COOKBOOK_NAME.test(name)) {
    problems.push({ path: `${manifest}.name`, message: `expected a cookbook name of letters, digits, _ . or -, got ${JSON.stringify(name)}` });
    return undefined;
  }
  if (typeof version !== "string" || !valid(version)) {
    problems.push({ path: `${manifest}.version`, message: `expected a semver version such as "1.0.0", got ${JSON.stringify(version)}` });
    return undefined;
  }
  const dependencies: Record<string, string> = {};
  for (const [dependency, range] of Object.entries((json.dependencies as Record<string, unknown>) ?? {})) {
    // Recipes import sous; it is the tool, not a cookbook.
    if (dependency === "sous") continue;
    if (typeof range !== "string") {
      problems.push({ path: `${manifest}.dependencies.${dependency}`, message: `expected a semver range string, got ${JSON.stringify(range)}` });
      continue;
    }
    dependencies[dependency] = range;
  }
  return { name, version, description: typeof json.description === "string" ? json.description : "", dependencies };
}

function listDir(path: string): string[] {
  try {
    return readdirSync(path).sort();
  } catch {
    return [];
  }
}

/** Whether a folder is a cookbook: a package.json and a recipes/ folder. */
export function isCookbookDir(dir: string): boolean {
  try {
    return statSync(join(dir, "recipes")).isDirectory() && existsSync(join(dir, "package.json"));
  } catch {
    return false;
  }
}

/** The packages installed in `root/node_modules`, split into cookbooks (folders) and libraries (names, `@scope/name`). */
export function installedPackages(root: string): { cookbookDirs: string[]; libraries: Set<string> } {
  const modules = join(root, "node_modules");
  const cookbookDirs: string[] = [];
  const libraries = new Set<string>();
  for (const entry of listDir(modules)) {
    const dirs = entry.startsWith("@") ? listDir(join(modules, entry)).map((e) => join(modules, entry, e)) : [join(modules, entry)];
    for (const dir of dirs) {
      if (isCookbookDir(dir)) cookbookDirs.push(dir);
      else if (existsSync(join(dir, "package.json"))) libraries.add(relative(modules, dir));
    }
  }
  return { cookbookDirs, libraries };
}

/** The cookbook dependencies among a package's dependencies: an installed npm library that is no known cookbook is left out. */
export function cookbookDependencies(dependencies: Readonly<Record<string, string>>, libraries: ReadonlySet<string>, cookbooks: ReadonlySet<string>): Record<string, string> {
  return Object.fromEntries(Object.entries(dependencies).filter(([name]) => !libraries.has(name) || cookbooks.has(name)));
}

/** One file of a cookbook version: its relative path, SHA-256 and size. */
export interface CookbookFile {
  path: string;
  sha256: string;
  size: number;
}

/** A cookbook version as stored: the files are content-addressed, the content lives in the blob table. */
export interface CookbookManifest {
  name: string;
  version: string;
  description: string;
  /** Cookbook name → semver range (npm-style, as in the cookbook's package.json). */
  dependencies: Record<string, string>;
  files: CookbookFile[];
  frozen: boolean;
}

/** Returns why a cookbook file path is unsafe, or undefined when it is a plain relative path. */
export function unsafePathReason(path: unknown): string | undefined {
  if (typeof path !== "string" || path.length === 0) return "the path is empty";
  if (path.length > 1024) return "the path is longer than 1024 characters";
  if (path.includes("\0")) return "the path contains a NUL byte";
  // A line break or other control character in a file name breaks every listing and log that shows it.
  for (let i = 0; i < path.length; i++) {
    const code = path.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return "the path contains a line break or another control character";
  }
  if (path.includes("\\")) return "the path contains a backslash; use /";
  if (path.startsWith("/") || /^[A-Za-z]:/.test(path)) return "the path is absolute";
  const segments = path.split("/");
  if (segments.some((segment) => segment === "..")) return "the path contains '..'";
  if (segments.some((segment) => segment === "" || segment === ".")) return "the path has an empty or '.' segment";
  return undefined;
}

/** `POST .../environments/ENV/cookbook_versions`: the run list expanded to recipes, and the version of each cookbook it needs. */
export interface ResolvedCookbooks {
  recipes: string[];
  cookbooks: Record<string, CookbookManifest>;
}
