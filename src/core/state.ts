/**
 * The generic state differ, for providers whose state is a set of properties (Chef's
 * `converge_if_changed`): each property of role `state` that the declaration sets and the
 * current state does not match becomes one change row. Providers with richer state (content
 * with diffs, ordered lists) plan by hand; this covers the common case in one call.
 */
import { isDeepStrictEqual } from "node:util";
import type { PropertySpec } from "./properties.js";
import type { Change } from "./resource.js";

/** How `diffState` compares. */
export interface DiffStateOptions<P> {
  /** Only these properties (default: every state property of the specs). */
  only?: ReadonlyArray<keyof P & string>;
  /** A comparison for a property whose order or form does not matter (`members` as a set). */
  equal?: { readonly [K in keyof P]?: (current: P[K] | undefined, desired: NonNullable<P[K]>) => boolean };
}

/**
 * The changes that make `current` (undefined when the thing does not exist) match `desired`:
 * one row per state property that `desired` sets (an undefined value is not managed) and
 * `current` does not equal. Pure; sensitive values are redacted by the engine, not here.
 */
export function diffState<P extends object>(specs: Readonly<Record<string, PropertySpec>>, current: NoInfer<Partial<P>> | undefined, desired: Readonly<P>, options: NoInfer<DiffStateOptions<P>> = {}): Change[] {
  const changes: Change[] = [];
  const keys = (options.only ?? Object.keys(specs)) as Array<keyof P & string>;
  for (const key of keys) {
    const spec = specs[key];
    if (!spec || spec.role !== "state") continue;
    const want = desired[key];
    if (want === undefined) continue;
    const have = (current as Partial<P> | undefined)?.[key];
    const compare = (options as DiffStateOptions<P>).equal?.[key];
    const same = compare ? compare(have, want as NonNullable<P[typeof key]>) : isDeepStrictEqual(have, want);
    if (!same) changes.push({ property: key, from: have, to: want });
  }
  return changes;
}
