/** Keeps previous versions of managed files, as Chef's file backups do. */
import { basename, dirname, join } from "node:path";
import type { Host } from "../host/host.js";
import { isAtomicTempOf } from "../host/host.js";
import { findInDirectory } from "./leftovers.js";

function stamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
}

/** Splits a backup name into its time stamp and the numeric suffix of same-second backups (0 when none). */
function backupKey(prefix: string, name: string): [string, number] {
  const match = /^(.*?)(?:\.(\d+))?$/.exec(name.slice(prefix.length))!;
  return [match[1]!, match[2] === undefined ? 0 : Number(match[2])];
}

/** A backup's name after `NAME.sous-`: its time stamp, and a suffix for same-second backups. */
const BACKUP_STAMP = /^\d{8}T\d{6}Z(?:\.\d+)?$/;

/**
 * The temporary files that interrupted backups of `path` left in its backup folder (full paths):
 * an atomic write's `.BACKUP.sous-XXXXXXXXXXXX`, where BACKUP is a backup name of `path`. A run
 * killed while it saved the previous version of a large file left as large a file there.
 */
export async function findBackupLeftovers(host: Host, backupDir: string, path: string): Promise<string[]> {
  const prefix = `${basename(path)}.sous-`;
  return findInDirectory(host, join(backupDir, dirname(path)), (entry) => {
    const backup = /^\.(.+)\.sous-[0-9a-f]{12}$/.exec(entry)?.[1];
    return backup !== undefined && backup.startsWith(prefix) && BACKUP_STAMP.test(backup.slice(prefix.length)) && isAtomicTempOf(entry, backup);
  });
}

/**
 * Saves `content` as a backup of `path` under `backupDir` (mirroring the path) and keeps
 * only the newest `keep` backups of that path.
 */
export async function backupFile(host: Host, backupDir: string, path: string, content: Buffer, keep: number, mode = 0o600): Promise<string | undefined> {
  if (keep <= 0) return undefined;
  const dir = join(backupDir, dirname(path));
  await host.mkdir(dir, { recursive: true, mode: 0o700 });
  const prefix = `${basename(path)}.sous-`;
  const keyed = (names: string[]) => names.filter((name) => name.startsWith(prefix)).map((name) => ({ name, key: backupKey(prefix, name) }));
  // A backup made in the same second as others gets a suffix above theirs, never a pruned slot below them.
  const now = stamp(new Date());
  const sameSecond = keyed(await host.readdir(dir)).filter((backup) => backup.key[0] === now);
  const next = sameSecond.length === 0 ? 0 : Math.max(...sameSecond.map((backup) => backup.key[1])) + 1;
  const target = join(dir, `${prefix}${now}${next === 0 ? "" : `.${next}`}`);
  await host.writeFileAtomic(target, content, { mode: mode & 0o700 });
  // Oldest first: by time stamp, then numerically by suffix (".2" before ".10").
  const existing = keyed(await host.readdir(dir)).sort((a, b) => (a.key[0] < b.key[0] ? -1 : a.key[0] > b.key[0] ? 1 : a.key[1] - b.key[1]));
  for (const old of existing.slice(0, Math.max(0, existing.length - keep))) await host.remove(join(dir, old.name));
  return target;
}
