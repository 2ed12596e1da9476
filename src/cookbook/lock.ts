/**
 * The lock file, `sous.lock.json` (Chef's Policyfile.lock, npm's package-lock): the exact
 * cookbook versions every run list of the repository resolves to, per environment, and a
 * digest of each cookbook's files. With a lock, a converge or an upload uses exactly what was
 * locked, and refuses a cookbook whose files changed since, naming them.
 */
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, renameSync, writeFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { errorMessage, type Problem, SousError, ValidationError } from "../core/errors.js";
import { repositoryDefinitions } from "./load.js";
import { type CookbookOnDisk, findRepositoryRoot, openRepository } from "./repository.js";
import { resolveCookbooks } from "../protocol/resolve.js";
import { expandRunList, parseRunList } from "./runlist.js";

/** The lock file's name, at the repository's root. */
export const LOCK_FILE = "sous.lock.json";
const LOCK_VERSION = 1;
/** Folders whose files do not change what a cookbook converges: its tests, its machine checks, installed packages. */
const NOT_LOCKED = new Set(["node_modules", ".git", ".sous", "test", "verify"]);

/** One locked cookbook version. */
export interface LockedCookbook {
  /** Where it was found, relative to the repository root. */
  source: string;
  /** `sha256:` of its files' names and digests. */
  digest: string;
  /** File (relative to the cookbook, `/`-separated) → SHA-256 of its content. */
  files: Record<string, string>;
  dependencies: Record<string, string>;
}

/** The contents of sous.lock.json. */
export interface Lock {
  lockfileVersion: typeof LOCK_VERSION;
  /** Environment → run list (`role[web]`, or sous.config.ts's) → cookbook → version. */
  environments: Record<string, Record<string, Record<string, string>>>;
  /** `name@version` → what was locked. */
  cookbooks: Record<string, LockedCookbook>;
}

/** The files of a cookbook that the lock covers, with their SHA-256 digests. */
export function cookbookFiles(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (current: string) => {
    for (const entry of readdirSync(current).sort()) {
      const full = join(current, entry);
      const info = lstatSync(full);
      if (info.isDirectory()) {
        // test/ and verify/ only at the top: a templates/test/ folder is content.
        if (!(NOT_LOCKED.has(entry) && current === dir) && entry !== "node_modules" && entry !== ".git") walk(full);
      } else if (info.isFile() || info.isSymbolicLink()) {
        const content = info.isSymbolicLink() ? Buffer.from(`link:${readlinkSync(full)}`) : readFileSync(full);
        files[relative(dir, full).split(sep).join("/")] = createHash("sha256").update(content).digest("hex");
      }
    }
  };
  walk(dir);
  return files;
}

/** The digest of a set of files, as the lock records it. */
export function filesDigest(files: Record<string, string>): string {
  const hash = createHash("sha256");
  for (const path of Object.keys(files).sort()) hash.update(`${path}\0${files[path]}\n`);
  return `sha256:${hash.digest("hex")}`;
}

/** Reads the repository's lock file; undefined when there is none. */
export function readLock(root: string): Lock | undefined {
  const file = join(root, LOCK_FILE);
  if (!existsSync(file)) return undefined;
  let lock: Lock;
  try {
    lock = JSON.parse(readFileSync(file, "utf8")) as Lock;
  } catch (error) {
    throw new SousError("bad-lock", `${file}: ${errorMessage(error)} (write it again with sous lock)`);
  }
  if (lock?.lockfileVersion !== LOCK_VERSION || typeof lock.environments !== "object" || typeof lock.cookbooks !== "object") {
    throw new SousError("bad-lock", `${file} is not a lock file this version of Sous reads (lockfileVersion ${JSON.stringify(lock?.lockfileVersion)}); write it again with sous lock`);
  }
  return lock;
}

/**
 * The version constraints a locked run resolves with: each cookbook locked in the environment
 * at exactly its locked version(s); the environment's own pins for the others.
 */
export function lockedPins(lock: Lock, environment: string, environmentPins: Record<string, string>): Record<string, string> {
  const runLists = lock.environments[environment];
  if (!runLists) {
    throw new SousError("not-locked", `environment ${environment} is not in ${LOCK_FILE} (it locks ${Object.keys(lock.environments).join(", ") || "none"}): run sous lock`);
  }
  const versions = new Map<string, Set<string>>();
  for (const cookbooks of Object.values(runLists)) {
    for (const [name, version] of Object.entries(cookbooks)) versions.set(name, (versions.get(name) ?? new Set()).add(version));
  }
  const pins = { ...environmentPins };
  for (const [name, set] of versions) pins[name] = [...set].map((version) => `=${version}`).join(" || ");
  return pins;
}

/** What differs between locked files and the files now on disk. */
export function changedFiles(locked: Record<string, string>, now: Record<string, string>): string[] {
  const out: string[] = [];
  for (const [path, digest] of Object.entries(locked)) {
    if (!(path in now)) out.push(`${path} was deleted`);
    else if (now[path] !== digest) out.push(`${path} changed`);
  }
  for (const path of Object.keys(now)) if (!(path in locked)) out.push(`${path} was added`);
  return out;
}

/** Problems of cookbooks that are not what the lock says (empty when all match). */
export function lockProblems(lock: Lock, cookbooks: ReadonlyArray<Pick<CookbookOnDisk, "name" | "version" | "dir">>): Problem[] {
  const problems: Problem[] = [];
  for (const cookbook of cookbooks) {
    const key = `${cookbook.name}@${cookbook.version}`;
    const locked = lock.cookbooks[key];
    if (!locked) {
      const others = Object.keys(lock.cookbooks).filter((k) => k.startsWith(`${cookbook.name}@`));
      problems.push({ path: key, message: `is not in ${LOCK_FILE}${others.length ? ` (it locks ${others.join(", ")})` : ""}: run sous lock --update ${cookbook.name}` });
      continue;
    }
    const now = cookbookFiles(cookbook.dir);
    if (filesDigest(now) === locked.digest) continue;
    const changes = changedFiles(locked.files, now);
    const first = changes[0]?.split(" ")[0];
    problems.push({
      path: key,
      message: `no longer matches ${LOCK_FILE}: ${changes.join(", ")} since it was locked; run sous lock --update ${cookbook.name} to lock the new content`,
      ...(first && existsSync(join(cookbook.dir, first)) ? { location: { file: join(cookbook.dir, first), line: 1 } } : {}),
    });
  }
  return problems;
}

/** Throws, naming every changed file, when a cookbook of the run is not what the lock says. */
export function verifyLocked(lock: Lock, _root: string, cookbooks: readonly CookbookOnDisk[]): void {
  const problems = lockProblems(lock, cookbooks);
  if (problems.length) throw new ValidationError(problems, `${problems.length} cookbook${problems.length === 1 ? " does" : "s do"} not match ${LOCK_FILE}; nothing was changed`);
}

/**
 * Resolves every run list of the repository (each role, and sous.config.ts's) in every
 * environment (and `_default`) to exact versions, and digests each cookbook used. With
 * `update`, only those cookbooks may move: the others keep their locked versions and digests.
 */
export async function createLock(root: string, options: { update?: readonly string[] } = {}): Promise<Lock> {
  const repository = openRepository(root);
  const { roles, environments, settings } = await repositoryDefinitions(repository);
  const previous = options.update ? readLock(repository.root) : undefined;
  if (options.update && !previous) throw new SousError("not-locked", `there is no ${LOCK_FILE} to update: run sous lock first`);
  for (const name of options.update ?? []) {
    if (!repository.cookbooks.some((c) => c.name === name)) throw new SousError("missing-cookbook", `cookbook ${name} is not in cookbooks/ or node_modules/`);
  }
  const runLists = new Map<string, string[]>();
  for (const name of [...roles.keys()].sort()) runLists.set(`role[${name}]`, [`role[${name}]`]);
  if (settings.runList?.length) runLists.set(settings.runList.join(","), settings.runList);
  const environmentNames = [...new Set(["_default", ...(settings.environment ? [settings.environment] : []), ...environments.keys()])].sort();

  const lock: Lock = { lockfileVersion: LOCK_VERSION, environments: {}, cookbooks: {} };
  const problems: Problem[] = [];
  const used = new Map<string, CookbookOnDisk>();
  for (const environmentName of environmentNames) {
    const environment = environments.get(environmentName);
    let pins = environment?.cookbookVersions ?? {};
    if (previous?.environments[environmentName]) {
      const kept = lockedPins(previous, environmentName, pins);
      for (const name of options.update ?? []) delete kept[name];
      pins = { ...pins, ...kept };
      for (const name of options.update ?? []) if (environment?.cookbookVersions?.[name]) pins[name] = environment.cookbookVersions[name]!;
    }
    lock.environments[environmentName] = {};
    for (const [key, items] of runLists) {
      try {
        const expanded = expandRunList(parseRunList(items), roles, environmentName);
        const wanted = [...new Set(expanded.recipes.map((r) => r.split("::")[0]!))];
        const resolved = resolveCookbooks(wanted, repository.cookbooks, pins, environmentName, expanded.versions) as Map<string, CookbookOnDisk>;
        const versions: Record<string, string> = {};
        for (const cookbook of [...resolved.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
          versions[cookbook.name] = cookbook.version;
          used.set(`${cookbook.name}@${cookbook.version}`, cookbook);
        }
        lock.environments[environmentName]![key] = versions;
      } catch (error) {
        if (!(error instanceof SousError)) throw error;
        problems.push({ path: `${key} in environment ${environmentName}`, message: error.message });
      }
    }
  }
  if (problems.length) throw new ValidationError(problems, `${LOCK_FILE} was not written: ${problems.length} run list${problems.length === 1 ? "" : "s"} did not resolve`);
  const updated = new Set(options.update ?? []);
  for (const key of [...used.keys()].sort()) {
    const cookbook = used.get(key)!;
    const kept = previous?.cookbooks[key];
    if (kept && !updated.has(cookbook.name)) {
      // Not asked to move: its locked digest stays, so changed content is still refused.
      lock.cookbooks[key] = kept;
      continue;
    }
    const files = cookbookFiles(cookbook.dir);
    lock.cookbooks[key] = { source: relative(repository.root, cookbook.dir).split(sep).join("/"), digest: filesDigest(files), files, dependencies: cookbook.dependencies };
  }
  return lock;
}

/** Writes the lock file atomically; returns its path. */
export function writeLock(root: string, lock: Lock): string {
  const file = join(root, LOCK_FILE);
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(lock, null, 2)}\n`);
  renameSync(temp, file);
  return file;
}

/**
 * Refuses to upload cookbooks that differ from their repository's lock file: a locked
 * name at another version, or locked content that changed. Cookbooks of repositories
 * without a lock, and names the lock does not hold, pass.
 */
export function refuseUnlocked(cookbooks: ReadonlyArray<Pick<CookbookOnDisk, "name" | "version" | "dir">>): void {
  const problems: Problem[] = [];
  for (const cookbook of cookbooks) {
    const root = findRepositoryRoot(join(cookbook.dir, ".."));
    const lock = root ? readLock(root) : undefined;
    if (!lock || !Object.keys(lock.cookbooks).some((key) => key.startsWith(`${cookbook.name}@`))) continue;
    problems.push(...lockProblems(lock, [cookbook]));
  }
  if (problems.length) throw new ValidationError(problems, `nothing was uploaded: ${problems.length} cookbook${problems.length === 1 ? " does" : "s do"} not match ${LOCK_FILE}`);
}
