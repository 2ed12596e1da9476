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
  const found = await Promise.all(
    paths.map(async (path) => {
      let entries: string[];
      try {
        entries = await host.readdir(dirname(path));
      } catch {
        // No directory (yet): nothing can be left in it.
        return [];
      }
      return entries.filter((entry) => isAtomicTempOf(entry, basename(path))).map((entry) => join(dirname(path), entry));
    }),
  );
  return found.flat().sort();
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
