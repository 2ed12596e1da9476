/**
 * Temporary files that interrupted atomic writes left beside the files a resource writes
 * (`.NAME.sous-XXXXXXXXXXXX`, host.ts): found when the resource is read, shown as a change of
 * their own (`leftovers`, so a dry run lists them) and removed by the next run. Only the temporary
 * files of the paths the resource writes are touched.
 */
import type { Change, Plan } from "../core/resource.js";
import { basename, dirname, join } from "node:path";
import type { Host } from "../host/host.js";
import { isAtomicTempOf } from "../host/host.js";

/** Finds the temporary files that interrupted atomic writes of `paths` left in their directories (full paths, sorted). */
export async function findLeftovers(host: Host, ...paths: string[]): Promise<string[]> {
  const found = await Promise.all(paths.map((path) => findInDirectory(host, dirname(path), (entry) => isAtomicTempOf(entry, basename(path)))));
  return found.flat().sort();
}

/**
 * The regular files of `dir` whose names `owned` accepts (full paths). Only regular files: an
 * atomic write's temporary file is one, and a directory or a link of such a name (planted in a
 * folder its owner may write, ~/.ssh say) is not ours to remove.
 */
export async function findInDirectory(host: Host, dir: string, owned: (entry: string) => boolean): Promise<string[]> {
  let entries: string[];
  try {
    entries = await host.readdir(dir);
  } catch {
    // No directory (yet): nothing can be left in it.
    return [];
  }
  const candidates = entries.filter(owned).map((entry) => join(dir, entry));
  const stats = await Promise.all(candidates.map((path) => host.tryLstat(path)));
  return candidates.filter((_, index) => stats[index]?.type === "file");
}

/** The change that removes leftover temporary files, or none. */
export function leftoverChange(current: { leftovers?: string[] }): Change[] {
  const leftovers = current.leftovers ?? [];
  return leftovers.length === 0 ? [] : [{ property: "leftovers", from: leftovers.map((path) => basename(path)), to: [] }];
}

/** Removes the leftovers a plan names (each is a temporary file of this resource's writes). */
export async function removeLeftovers(host: Host, plan: Plan, current: { leftovers?: string[] }): Promise<void> {
  if (!plan.changes.some((change) => change.property === "leftovers")) return;
  for (const leftover of current.leftovers ?? []) await host.remove(leftover);
}
