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
import { runScript, STATE, SWITCH } from "./remote.js";

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
  /** When a rollback moved `current` away from it: no later rollback picks it by itself (`--to` still may). */
  rolledBackAt?: string;
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
  rolledBackAt?: string;
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

/** Parses the output of the STATE script (also the end of CHECK's) into a host's releases and current. */
export function parseState(output: string, layout: Layout): HostReleases {
  const releases: ReleaseInfo[] = [];
  let link = "";
  for (const line of output.split("\n")) {
    const [kind, ...fields] = line.split("\t");
    if (kind === "current") link = fields[0] ?? "";
    else if (kind === "release" && RELEASE_ID.test(fields[0] ?? "")) {
      const [id, revision, marker] = fields as [string, string | undefined, string | undefined];
      let info: ReleaseInfo = { id, status: marker ? "pending" : "unknown", ...(revision ? { revision } : {}) };
      if (marker) {
        try {
          const parsed = JSON.parse(marker) as ReleaseMarker;
          info = { id, status: parsed.status, revision: parsed.revision, by: parsed.by, createdAt: parsed.createdAt, ...(parsed.finishedAt ? { finishedAt: parsed.finishedAt } : {}), ...(parsed.rolledBackAt ? { rolledBackAt: parsed.rolledBackAt } : {}) };
        } catch {
          // A damaged marker: the release is not trusted as good.
        }
      }
      releases.push(info);
    }
  }
  releases.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const out: HostReleases = { releases };
  if (link) {
    const resolved = posix.resolve(layout.deployTo, link);
    const id = posix.dirname(resolved) === layout.releases ? posix.basename(resolved) : undefined;
    if (id && releases.some((r) => r.id === id)) out.current = id;
    else out.currentTarget = link;
  }
  return out;
}

/** Reads a host's releases, their markers and `current`, in one round trip. */
export async function readReleases(host: Host, layout: Layout): Promise<HostReleases> {
  return parseState(await runScript(host, "reading the releases", STATE, [layout.deployTo]), layout);
}

/** The newest good release older than `before` (the rollback target), if any. */
export function previousGood(state: HostReleases, before: string | undefined): ReleaseInfo | undefined {
  // A release a rollback left is not gone back to by itself: the user just turned away from it.
  return state.releases.filter((r) => r.status === "good" && !r.rolledBackAt && (before === undefined || r.id < before)).at(-1);
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
 * release, never no link or a half-made one. Without an id, removes `current` (a first deploy
 * switched back: there was nothing before). With `log`, appends it to revisions.log in the same
 * round trip.
 */
/**
 * Points `current` at release `id` (none: removes it), appending `log` to revisions.log and
 * rewriting `markers` (releases' states: the one a rollback leaves, the one it goes to) in the same round trip.
 */
export async function switchCurrent(host: Host, layout: Layout, id: string | undefined, log?: LogEntry, markers: readonly ReleaseMarker[] = []): Promise<void> {
  const markerArgs = markers.flatMap((marker) => [posix.join(releasePath(layout, marker.id), MARKER), JSON.stringify(marker)]);
  await runScript(host, "", SWITCH, [layout.current, id ? releasePath(layout, id) : "", ...(log || markerArgs.length ? [log ? layout.log : "", log ? JSON.stringify(log) : ""] : []), ...markerArgs]);
}

/** A release's marker as read (undefined for a release without one, made by another tool). */
export function markerOfRelease(release: ReleaseInfo): ReleaseMarker | undefined {
  if (release.status === "unknown" || !release.revision || !release.by || !release.createdAt) return undefined;
  return { id: release.id, status: release.status, revision: release.revision, by: release.by, createdAt: release.createdAt, ...(release.finishedAt ? { finishedAt: release.finishedAt } : {}), ...(release.rolledBackAt ? { rolledBackAt: release.rolledBackAt } : {}) };
}
