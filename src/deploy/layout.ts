/**
 * The layout of an application on a host, Capistrano's with a state marker per release:
 *
 *   <deployTo>/releases/<id>/           one folder per release (git archive of one commit)
 *   <deployTo>/releases/<id>/REVISION   the commit it holds
 *   <deployTo>/releases/<id>/.sous-release  its state: pending, good or failed (JSON)
 *   <deployTo>/shared/                  linked files and folders kept across releases
 *   <deployTo>/current -> releases/<id> switched by rename(2), never missing or half-made
 *   <deployTo>/repo/                    a bare mirror of the repository, fetched every deploy
 *   <deployTo>/revisions.log            one JSON line per deploy and rollback
 *   <deployTo>/.sous-lock/              the deploy lock (on the primary host only)
 *
 * Reading and the pure decisions (which id, which releases to remove) live here; the flow
 * decides when to write.
 */
import { posix } from "node:path";
import type { Host } from "../host/host.js";

/** The paths of an application on a host. */
export interface Layout {
  deployTo: string;
  releases: string;
  shared: string;
  current: string;
  repo: string;
  log: string;
  lock: string;
}

/** The paths under `deployTo`. */
export function layoutOf(deployTo: string): Layout {
  const at = (name: string) => posix.join(deployTo, name);
  return { deployTo, releases: at("releases"), shared: at("shared"), current: at("current"), repo: at("repo"), log: at("revisions.log"), lock: at(".sous-lock") };
}

/** The folder of a release. */
export function releasePath(layout: Layout, id: string): string {
  return posix.join(layout.releases, id);
}

/** The state file of a release. */
export const MARKER = ".sous-release";

/** Pending: made, the deploy not finished. Good: the deploy finished. Failed: the deploy failed (removed at once). */
export type ReleaseStatus = "pending" | "good" | "failed";

/** What a release's marker holds. */
export interface ReleaseMarker {
  id: string;
  status: ReleaseStatus;
  revision: string;
  /** Who deployed it: `user@workstation`. */
  by: string;
  createdAt: string;
  finishedAt?: string;
}

/** One release found on a host. */
export interface ReleaseInfo {
  id: string;
  /** `unknown` for a folder without a marker (a release made by another tool). */
  status: ReleaseStatus | "unknown";
  revision?: string;
  by?: string;
  createdAt?: string;
  finishedAt?: string;
}

/** A host's releases, oldest first, and the one `current` points to. */
export interface HostReleases {
  current?: string;
  /** Where `current` points when that is not a release of this layout. */
  currentTarget?: string;
  releases: ReleaseInfo[];
}

const RELEASE_ID = /^\d{14}$/;

/** A release id: the UTC time as YYYYMMDDHHMMSS (Capistrano's form). */
export function releaseId(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, "").slice(0, 14);
}

function idToDate(id: string): Date {
  return new Date(Date.UTC(Number(id.slice(0, 4)), Number(id.slice(4, 6)) - 1, Number(id.slice(6, 8)), Number(id.slice(8, 10)), Number(id.slice(10, 12)), Number(id.slice(12, 14))));
}

/** The id of a new release: now, or one second after the newest existing one (two deploys in one second stay apart and in order). */
export function nextReleaseId(now: Date, existing: Iterable<string>): string {
  let newest: string | undefined;
  for (const id of existing) if (RELEASE_ID.test(id) && (!newest || id > newest)) newest = id;
  const candidate = releaseId(now);
  if (!newest || candidate > newest) return candidate;
  return releaseId(new Date(idToDate(newest).getTime() + 1000));
}

/** Reads a host's releases, their markers and `current`. */
export async function readReleases(host: Host, layout: Layout): Promise<HostReleases> {
  let names: string[];
  try {
    names = await host.readdir(layout.releases);
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") names = [];
    else throw error;
  }
  const ids = names.filter((n) => RELEASE_ID.test(n)).sort();
  const [releases, link] = await Promise.all([
    Promise.all(
      ids.map(async (id): Promise<ReleaseInfo> => {
        const [marker, revision] = await Promise.all([host.tryReadFile(posix.join(layout.releases, id, MARKER)), host.tryReadFile(posix.join(layout.releases, id, "REVISION"))]);
        if (marker) {
          try {
            const parsed = JSON.parse(marker.toString("utf8")) as ReleaseMarker;
            return { id, status: parsed.status, revision: parsed.revision, by: parsed.by, createdAt: parsed.createdAt, ...(parsed.finishedAt ? { finishedAt: parsed.finishedAt } : {}) };
          } catch {
            // A damaged marker: the release is not trusted as good.
          }
        }
        return { id, status: marker ? "pending" : "unknown", ...(revision ? { revision: revision.toString("utf8").trim() } : {}) };
      }),
    ),
    host.tryLstat(layout.current).then((stat) => (stat?.type === "symlink" ? host.readlink(layout.current) : undefined)),
  ]);
  const out: HostReleases = { releases };
  if (link !== undefined) {
    const resolved = posix.resolve(layout.deployTo, link);
    const id = posix.dirname(resolved) === layout.releases ? posix.basename(resolved) : undefined;
    if (id && ids.includes(id)) out.current = id;
    else out.currentTarget = link;
  }
  return out;
}

/** The newest good release older than `before` (the rollback target), if any. */
export function previousGood(state: HostReleases, before: string | undefined): ReleaseInfo | undefined {
  return state.releases.filter((r) => r.status === "good" && (before === undefined || r.id < before)).at(-1);
}

/**
 * Which releases the clean phase removes: every failed or abandoned (pending, older than the
 * newest) release, and good ones beyond the newest `keep`; never the one `current` points to,
 * never the newest good release before it (the rollback target), never `protect`.
 */
export function releasesToRemove(state: HostReleases, keep: number, protect: readonly string[] = []): string[] {
  const keepSet = new Set(protect);
  if (state.current) keepSet.add(state.current);
  const previous = previousGood(state, state.current);
  if (previous) keepSet.add(previous.id);
  const good = state.releases.filter((r) => r.status === "good");
  for (const r of good.slice(-keep)) keepSet.add(r.id);
  const newest = state.releases.at(-1)?.id;
  return state.releases
    .filter((r) => !keepSet.has(r.id))
    .filter((r) => r.status === "good" || r.status === "failed" || (r.status === "pending" && r.id !== newest))
    .map((r) => r.id);
}

/** One line of revisions.log. */
export interface LogEntry {
  action: "deploy" | "rollback";
  release: string;
  revision?: string;
  /** Where a rollback came from. */
  from?: string;
  by: string;
  at: string;
  outcome: "good" | "failed" | "partial" | "switched-back" | "rolled-back" | "interrupted";
  message?: string;
}

/** Appends one entry to the host's revisions.log (one JSON line; every writer holds the lock). */
export async function appendLog(host: Host, layout: Layout, entry: LogEntry): Promise<void> {
  const result = await host.exec(["sh", "-c", `printf '%s\\n' "$1" >> "$2"`, "sh", JSON.stringify(entry), layout.log]);
  if (result.exitCode !== 0) throw new Error(`cannot append to ${layout.log} on ${host.name}: ${result.stderr.trim()}`);
}

/** The entries of a host's revisions.log, oldest first (lines that are not JSON are skipped). */
export async function readLog(host: Host, layout: Layout): Promise<LogEntry[]> {
  const text = (await host.tryReadFile(layout.log))?.toString("utf8") ?? "";
  const out: LogEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as LogEntry);
    } catch {
      // A line from another tool.
    }
  }
  return out;
}

/**
 * Points `current` at a release atomically: a new link beside it, then rename(2) over the old
 * one (`mv -T`), so a reader (or a deploy killed at any instant) sees the old or the new
 * release, never no link or a half-made one.
 */
export async function switchCurrent(host: Host, layout: Layout, id: string): Promise<void> {
  const temp = `${layout.current}.sous-next`;
  await host.remove(temp);
  await host.symlink(releasePath(layout, id), temp);
  await host.rename(temp, layout.current);
}

/** Removes `current` (a first deploy switched back: there was nothing before). */
export async function removeCurrent(host: Host, layout: Layout): Promise<void> {
  await host.remove(layout.current);
}
