/** Keeps previous versions of managed files, as Chef's file backups do. */
import { basename, dirname, join } from "node:path";
import type { Host } from "../host/host.js";

function stamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
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
  let target = join(dir, `${prefix}${stamp(new Date())}`);
  for (let n = 1; await host.tryLstat(target); n++) target = join(dir, `${prefix}${stamp(new Date())}.${n}`);
  await host.writeFileAtomic(target, content, { mode: mode & 0o700 });
  const existing = (await host.readdir(dir)).filter((name) => name.startsWith(prefix)).sort();
  for (const old of existing.slice(0, Math.max(0, existing.length - keep))) await host.remove(join(dir, old));
  return target;
}
