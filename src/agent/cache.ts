/**
 * The agent's cookbook cache. Cookbook files are kept by SHA-256 (a file is downloaded only
 * when no cookbook version ever had that content); each run's cookbooks, roles and
 * environment are laid out as a repository of their own, named by a digest of its content, so
 * an unchanged run finds the same folder (and the same compiled module). The last run that
 * converged is recorded, with its run list and attributes, for runs while the server is down.
 */
import { createHash } from "node:crypto";
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { SousApiError, type SousClient } from "../client/api.js";
import { SousError } from "../core/errors.js";
import type { AttributeTree } from "../dsl.js";
import type { NodeBody, RoleBody } from "../protocol/bodies.js";
import { unsafePathReason } from "../protocol/manifest.js";
import type { SearchAnswers } from "./search-cache.js";

/** What a run converges: a repository on disk and what it was made of. */
export interface RunInputs {
  /** The repository folder (cookbooks/, roles/, environments/). */
  root: string;
  digest: string;
  nodeName: string;
  environment: string;
  /** The node's own run list (roles unexpanded). */
  runList: string[];
  /** The run list expanded by the server: recipe names. */
  recipes: string[];
  normal: AttributeTree;
  cookbooks: Record<string, string>;
  /** Files fetched from the server this time, and files found in the cache. */
  downloaded: number;
  cachedFiles: number;
}

const LAST_GOOD = "last-good.json";

function writeAtomic(file: string, data: string | Uint8Array, mode = 0o600): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, data, { mode });
  renameSync(temp, file);
}

/** Writes a file only when its content differs, so an unchanged file keeps its time (the compile cache's key). */
function writeIfChanged(file: string, content: string): void {
  try {
    if (readFileSync(file, "utf8") === content) return;
  } catch {
    // Not there yet.
  }
  writeAtomic(file, content, 0o644);
}

function sha256(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Role names of a run list (`role[web]`). */
function rolesOf(runList: readonly string[]): string[] {
  return runList.map((item) => /^role\[([^\]]+)\]$/.exec(item.trim())?.[1]).filter((name): name is string => name !== undefined);
}

/** The cookbook cache of one agent. */
export class CookbookCache {
  readonly filesDir: string;
  readonly reposDir: string;

  constructor(readonly dir: string) {
    this.filesDir = join(dir, "files");
    this.reposDir = join(dir, "repositories");
  }

  /**
   * Fetches what a run of `node` needs from the server: its environment, roles and resolved
   * cookbooks (only files whose checksum is not cached), and lays them out as a repository.
   */
  async sync(client: SousClient, node: NodeBody): Promise<RunInputs> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const environmentName = node.chef_environment || "_default";
    const environment = (await client.getObject("environments", environmentName)).body;
    const roles = new Map<string, RoleBody>();
    const visit = async (list: readonly string[]): Promise<void> => {
      for (const name of rolesOf(list)) {
        if (roles.has(name)) continue;
        let role: RoleBody;
        try {
          role = (await client.getObject("roles", name)).body;
        } catch (error) {
          if (error instanceof SousApiError && error.status === 404) throw new SousError("unknown_role", `node ${node.name}'s run list names role ${name}, which is not on the server`);
          throw error;
        }
        roles.set(name, role);
        // As before, a role without these fields counts as empty.
        await visit(role.env_run_lists?.[environmentName] ?? role.run_list ?? []);
      }
    };
    await visit(node.run_list);
    const resolved = await client.resolveCookbooks(environmentName, node.run_list);

    let downloaded = 0;
    let cachedFiles = 0;
    mkdirSync(this.filesDir, { recursive: true, mode: 0o700 });
    for (const manifest of Object.values(resolved.cookbooks)) {
      for (const file of manifest.files) {
        const reason = unsafePathReason(file.path);
        if (reason) throw new SousError("unsafe_cookbook", `cookbook ${manifest.name}@${manifest.version}: file ${JSON.stringify(file.path)} is refused: ${reason}`);
        const blob = join(this.filesDir, file.sha256);
        if (existsSync(blob)) {
          cachedFiles++;
          continue;
        }
        const body = await client.getFile(file.sha256);
        if (sha256(body) !== file.sha256) throw new SousError("checksum_mismatch", `cookbook ${manifest.name}@${manifest.version}: ${file.path} arrived with another SHA-256 than its manifest's; not used`);
        writeAtomic(blob, body, 0o644);
        downloaded++;
      }
    }

    const layout = {
      cookbooks: Object.values(resolved.cookbooks)
        .map((manifest) => ({ name: manifest.name, version: manifest.version, files: manifest.files.map((file) => [file.path, file.sha256]) }))
        .sort((a, b) => a.name.localeCompare(b.name)),
      roles: [...roles.entries()].sort(([a], [b]) => a.localeCompare(b)),
      environment: [environmentName, environment],
    };
    const digest = sha256(JSON.stringify(layout)).slice(0, 20);
    const root = join(this.reposDir, digest);
    if (!existsSync(join(root, ".complete"))) {
      rmSync(root, { recursive: true, force: true });
      for (const cookbook of layout.cookbooks) {
        for (const [path, sum] of cookbook.files) {
          const target = join(root, "cookbooks", cookbook.name, path!);
          mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
          // A hard link: no copy, and the file keeps the blob's time run after run.
          linkSync(join(this.filesDir, sum!), target);
        }
      }
      for (const [name, role] of layout.roles) writeIfChanged(join(root, "roles", `${name}.json`), `${JSON.stringify(role, null, 2)}\n`);
      writeIfChanged(join(root, "environments", `${environmentName}.json`), `${JSON.stringify(environment, null, 2)}\n`);
      mkdirSync(join(root, "cookbooks"), { recursive: true, mode: 0o700 });
      writeFileSync(join(root, ".complete"), "");
    }
    return {
      root,
      digest,
      nodeName: node.name,
      environment: environmentName,
      runList: [...node.run_list],
      recipes: resolved.recipes,
      normal: node.normal ?? {},
      cookbooks: Object.fromEntries(Object.values(resolved.cookbooks).map((manifest) => [manifest.name, manifest.version])),
      downloaded,
      cachedFiles,
    };
  }

  /** Records a run that converged, for runs while the server is down; prunes repositories no longer used. */
  recordGood(inputs: RunInputs, search: SearchAnswers = {}): void {
    const { downloaded: _downloaded, cachedFiles: _cached, ...kept } = inputs;
    writeAtomic(join(this.dir, LAST_GOOD), `${JSON.stringify({ ...kept, search, recorded_at: new Date().toISOString() }, null, 2)}\n`);
    this.prune([inputs.digest]);
  }

  /** The last run that converged, or undefined when there was none. */
  lastGood(): (RunInputs & { recorded_at: string; search: SearchAnswers }) | undefined {
    try {
      const good = JSON.parse(readFileSync(join(this.dir, LAST_GOOD), "utf8")) as RunInputs & { recorded_at: string; search: SearchAnswers };
      if (!existsSync(join(good.root, ".complete"))) return undefined;
      return { ...good, downloaded: 0, cachedFiles: 0 };
    } catch {
      return undefined;
    }
  }

  /** Removes repositories other than `keep` (the last good one is always kept) that are older than a day. */
  prune(keep: readonly string[]): void {
    const kept = new Set(keep);
    const good = this.lastGood();
    if (good) kept.add(good.digest);
    let entries: string[] = [];
    try {
      entries = readdirSync(this.reposDir);
    } catch {
      return;
    }
    const dayAgo = Date.now() - 86_400_000;
    for (const entry of entries) {
      if (kept.has(entry)) continue;
      const path = join(this.reposDir, entry);
      try {
        if (statSync(path).mtimeMs < dayAgo || entries.length > 10) rmSync(path, { recursive: true, force: true });
      } catch {
        // Gone already.
      }
    }
  }
}
