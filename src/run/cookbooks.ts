/**
 * Cookbooks between a repository and a Sous server: upload reads cookbook folders as the loader
 * reads them, orders them by dependency, sends only the files the server lacks and then each
 * manifest; download fetches a version's files, checking every path and checksum before it
 * writes to the local disk. The CLI only parses flags and prints the results.
 */
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import type { SousClient } from "../client/api.js";
import { formatProblem, type Problem, SousError } from "../core/errors.js";
import { findRepositoryRoot } from "../cookbook/repository.js";
import { cookbookDependencies, type CookbookManifest, installedPackages, readCookbookPackage, unsafePathReason } from "../protocol/manifest.js";

export type { CookbookManifest };

/** A cookbook folder read for upload: its manifest fields and every file with its checksum. */
interface LocalCookbook {
  dir: string;
  name: string;
  version: string;
  description: string;
  dependencies: Record<string, string>;
  files: Array<{ path: string; full: string; sha256: string; size: number }>;
}

/** What one cookbook's upload did: how many files it has and how many the server lacked. */
export interface UploadedCookbook {
  name: string;
  version: string;
  files: number;
  sent: number;
}

/** How cookbooks are uploaded. */
export interface UploadOptions {
  /** Freeze the uploaded versions (they can no longer be overwritten). */
  freeze?: boolean;
  /** Overwrite a frozen version. */
  force?: boolean;
}

/** The largest file a cookbook may hold (the server's limit too). */
const MAX_FILE_SIZE = 8 * 1024 * 1024;

const SKIPPED_DIRS = new Set(["node_modules", ".git", ".sous"]);

/**
 * Uploads the cookbooks at `paths` (cookbook folders, or folders of cookbooks), each after the
 * ones it depends on; with a lock file, only what was locked.
 */
export async function uploadCookbooks(client: SousClient, paths: readonly string[], options: UploadOptions = {}): Promise<UploadedCookbook[]> {
  const dirs = paths.flatMap(cookbookDirs);
  const uploading = new Set(dirs.map((dir) => readCookbookPackage(dir, [])?.name).filter((name): name is string => name !== undefined));
  const local = dependencyOrder(dirs.map((dir) => readLocalCookbook(dir, MAX_FILE_SIZE, uploading)));
  // With a lock file, only what was locked goes to the server. Loaded here: the lock reads the whole repository.
  (await import("../cookbook/lock.js")).refuseUnlocked(local);
  const results: UploadedCookbook[] = [];
  for (const book of local) results.push(await uploadCookbook(client, book, options));
  return results;
}

/** Sends the files the server lacks, then the manifest. */
async function uploadCookbook(client: SousClient, book: LocalCookbook, options: UploadOptions): Promise<UploadedCookbook> {
  const lacking = await client.missingFiles(book.files.map((file) => file.sha256));
  const missing = new Set(lacking);
  for (const file of book.files) {
    if (!missing.has(file.sha256)) continue;
    await client.putFile(file.sha256, readFileSync(file.full));
    missing.delete(file.sha256);
  }
  const manifest = { name: book.name, version: book.version, description: book.description, dependencies: book.dependencies, files: book.files.map(({ path, sha256, size }) => ({ path, sha256, size })), frozen: options.freeze === true };
  await client.putCookbook(manifest, { force: options.force === true });
  return { name: book.name, version: book.version, files: book.files.length, sent: lacking.length };
}

/** The cookbook folders `path` names: itself when it holds a package.json, else the cookbooks in it; an error says what it holds instead. */
function cookbookDirs(path: string): string[] {
  const full = resolve(path);
  if (existsSync(join(full, "package.json"))) return [full];
  if (!existsSync(full) || !lstatSync(full).isDirectory()) throw new SousError("not_a_cookbook", `${path} is neither a cookbook (a folder with package.json) nor a folder of cookbooks`);
  const entries = readdirSync(full).sort().map((entry) => join(full, entry));
  const books = entries.filter((entry) => existsSync(join(entry, "package.json")));
  if (books.length > 0) return books;
  const folders = entries.filter((entry) => lstatSync(entry).isDirectory()).map((entry) => basename(entry));
  const chefLike = folders.filter((name) => ["metadata.json", "metadata.rb"].some((file) => existsSync(join(full, name, file))));
  throw new SousError(
    "not_a_cookbook",
    `${path} holds no cookbook: a cookbook is a folder with a package.json (name, version, dependencies)${folders.length > 0 ? `, and none of ${folders.slice(0, 5).join(", ")}${folders.length > 5 ? ", ..." : ""} has one` : ""}${chefLike.length > 0 ? ` (${chefLike.join(", ")} ${chefLike.length === 1 ? "has" : "have"} Chef's metadata instead: see "Your first repository" in the README)` : ""}`,
  );
}

/**
 * Reads a cookbook folder: package.json as the loader reads it (src/protocol/manifest.ts), with
 * the npm libraries installed for it (its own node_modules, its repository's) left out of the
 * cookbook dependencies; every file, refusing links and unsafe names.
 */
function readLocalCookbook(dir: string, maxFileSize: number, uploading: ReadonlySet<string>): LocalCookbook {
  const root = resolve(dir);
  const packageFile = join(root, "package.json");
  if (!existsSync(packageFile)) throw new SousError("not_a_cookbook", `${dir} has no package.json (a cookbook is an npm-style package: name, version, dependencies)`);
  const problems: Problem[] = [];
  const pkg = readCookbookPackage(root, problems);
  if (!pkg || problems.length > 0) throw new SousError("bad_cookbook", `${dir}: ${problems.map(formatProblem).join("; ")}`);
  const repository = findRepositoryRoot(root);
  const libraries = new Set([...installedPackages(root).libraries, ...(repository ? installedPackages(repository).libraries : [])]);
  const files = cookbookFiles(root, pkg.name, maxFileSize);
  return { dir: root, name: pkg.name, version: pkg.version, description: pkg.description, dependencies: cookbookDependencies(pkg.dependencies, libraries, uploading), files };
}

/** Every regular file under a cookbook's root (in name order, without node_modules, .git, .sous), with its checksum. */
function cookbookFiles(root: string, name: string, maxFileSize: number): LocalCookbook["files"] {
  const files: LocalCookbook["files"] = [];
  const walk = (current: string): void => {
    for (const entry of readdirSync(current).sort()) {
      const full = join(current, entry);
      const info = lstatSync(full);
      const rel = relative(root, full).split(sep).join("/");
      if (info.isSymbolicLink()) throw new SousError("link_refused", `${rel} in ${name} is a symbolic link; cookbooks may hold only regular files`);
      if (info.isDirectory()) {
        if (!SKIPPED_DIRS.has(entry)) walk(full);
        continue;
      }
      if (!info.isFile()) throw new SousError("special_file", `${rel} in ${name} is not a regular file`);
      const reason = unsafePathReason(rel);
      if (reason) throw new SousError("unsafe_path", `${rel} in ${name}: ${reason}`);
      if (info.size > maxFileSize) throw new SousError("file_too_large", `${rel} in ${name} is ${info.size} bytes; the limit is ${maxFileSize}`);
      const content = readFileSync(full);
      files.push({ path: rel, full, sha256: createHash("sha256").update(content).digest("hex"), size: content.length });
    }
  };
  walk(root);
  return files;
}

/** Orders cookbooks so that each comes after the ones it depends on (among those being uploaded). */
function dependencyOrder(cookbooks: LocalCookbook[]): LocalCookbook[] {
  const byName = new Map(cookbooks.map((cookbook) => [cookbook.name, cookbook]));
  const ordered: LocalCookbook[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (cookbook: LocalCookbook, chain: string[]): void => {
    if (state.get(cookbook.name) === "done") return;
    if (state.get(cookbook.name) === "visiting") throw new SousError("dependency_cycle", `cookbook dependency cycle: ${[...chain, cookbook.name].join(" -> ")}`);
    state.set(cookbook.name, "visiting");
    for (const dependency of Object.keys(cookbook.dependencies)) {
      const local = byName.get(dependency);
      if (local) visit(local, [...chain, cookbook.name]);
    }
    state.set(cookbook.name, "done");
    ordered.push(cookbook);
  };
  for (const cookbook of cookbooks) visit(cookbook, []);
  return ordered;
}

/**
 * Downloads a cookbook version (the newest without `version`) into `dir(version)`; each path is
 * checked again and each file's SHA-256 compared, since this writes to the local disk.
 */
export async function downloadCookbook(client: SousClient, name: string, version: string | undefined, dir: (version: string) => string): Promise<{ version: string; dir: string }> {
  const manifest = await client.getCookbook(name, version);
  const target = resolve(dir(manifest.version));
  for (const file of manifest.files) {
    // The server validated paths; check again, since this writes to the local disk.
    const reason = unsafePathReason(file.path);
    if (reason) throw new SousError("unsafe_path", `the server sent an unsafe path ${JSON.stringify(file.path)}: ${reason}`);
    const content = await client.getFile(file.sha256);
    if (createHash("sha256").update(content).digest("hex") !== file.sha256) throw new SousError("checksum_mismatch", `${file.path}: the downloaded content does not match its SHA-256`);
    const destination = join(target, ...file.path.split("/"));
    mkdirSync(dirname(destination), { recursive: true });
    writeFileSync(destination, content);
  }
  return { version: manifest.version, dir: target };
}
