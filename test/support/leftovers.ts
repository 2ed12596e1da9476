// What a converge killed inside an atomic write leaves beside its target, for the tests that check
// the next run removes it (and nothing that only looks like it).
import { basename, dirname, join } from "node:path";
import type { Converged } from "../helpers.js";

/** The temporary file a killed write of `path` leaves (`.NAME.sous-` and 12 hex digits), and a name that only looks alike. */
export function leftoverOf(path: string): { leftover: string; lookalike: string } {
  const dir = dirname(path);
  return { leftover: join(dir, `.${basename(path)}.sous-0123456789ab`), lookalike: join(dir, `.${basename(path)}.sous-notours`) };
}

/** The properties each updated resource of a run changed, by resource id. */
export function changedProperties(run: Converged): Record<string, string[]> {
  const changed: Record<string, string[]> = {};
  for (const event of run.events) {
    if (event.type !== "resource:updated") continue;
    const { resource, changes } = event as unknown as { resource: { id: string }; changes: Array<{ property: string }> };
    changed[resource.id] = changes.map((change) => change.property);
  }
  return changed;
}
