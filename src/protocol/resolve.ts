/**
 * Cookbook version resolution, the one solver of the workstation and the server: one version
 * of each cookbook the run list needs, the newest that satisfies every constraint, found by a
 * depth-first search that backtracks when a choice leads to a conflict (so a version given up
 * leaves none of its constraints behind).
 */
import { isValidConstraint, newestVersionFirst, satisfiesConstraint } from "./constraints.js";
import { SousError } from "../core/errors.js";

/** What the solver needs of a cookbook version (on disk, or a manifest on the server). */
export interface Resolvable {
  name: string;
  version: string;
  /** Cookbook dependencies: name → version constraint. */
  dependencies: Record<string, string>;
}

/** A cookbook found in the repository or in node_modules. */
export interface CookbookInfo extends Resolvable {
  dir: string;
}

interface Constraint {
  range: string;
  from: string;
  /** The chosen cookbook that set it; none for the run list's and the environment's. */
  cookbook?: string;
}

/** Bounds the search: real repositories settle in a few dozen steps. */
const MAX_STEPS = 100_000;

const newestFirst = (a: Resolvable, b: Resolvable) => newestVersionFirst(a.version, b.version);
const describe = (constraints: readonly Constraint[]) => constraints.map((k) => `${k.range} (from ${k.from})`).join(" and ");

/**
 * Resolves `wanted` cookbooks and their dependencies. `pins` are the environment's
 * constraints; `requested` are versions the run list itself names (`recipe[web@1.2.0]`),
 * each with the text that asked. The result lists the run list's cookbooks first, then
 * dependencies in the order they were found. Errors name the missing cookbook or the
 * conflicting constraints and who set them.
 */
export function resolveCookbooks<T extends Resolvable & { dir?: string }>(
  wanted: readonly string[],
  available: readonly T[],
  pins: Readonly<Record<string, string>>,
  environment: string,
  requested: Record<string, { version: string; item: string }> = {},
  /** Where a cookbook that is not found was looked for, for the message. */
  searched = "was not found in cookbooks/ or node_modules/",
): Map<string, T> {
  for (const [name, range] of Object.entries(pins)) {
    if (!isValidConstraint(range)) throw new SousError("bad-version-constraint", `environment ${environment}: cookbook ${name} constraint ${JSON.stringify(range)} is not a semver range`);
  }
  const versions = new Map<string, T[]>();
  for (const cookbook of available) versions.set(cookbook.name, [...(versions.get(cookbook.name) ?? []), cookbook]);
  for (const list of versions.values()) list.sort(newestFirst);

  const chosen = new Map<string, T>();
  // The first dead end met on the newest-first path explains a failure best: it is where
  // the most natural choices ran into each other.
  let firstFailure: SousError | undefined;
  let steps = 0;

  /** Every constraint on `name` from the run list, the environment and the chosen cookbooks. */
  const constraintsOn = (name: string): Constraint[] => {
    const asked = requested[name];
    const out: Constraint[] = !wanted.includes(name) ? [] : asked ? [{ range: `= ${asked.version}`, from: `the run list (${asked.item})` }] : [{ range: "*", from: "the run list" }];
    for (const cookbook of chosen.values()) {
      const range = cookbook.dependencies[name];
      if (range !== undefined) out.push({ range, from: `${cookbook.name}@${cookbook.version}`, cookbook: cookbook.name });
    }
    if (pins[name] !== undefined) out.push({ range: pins[name], from: `environment ${environment}` });
    return out;
  };

  /** The next cookbook to choose: the run list's in order, then the chosen ones' dependencies. */
  const nextUnchosen = (): string | undefined => {
    const queue = [...wanted];
    const seen = new Set<string>();
    while (queue.length) {
      const name = queue.shift()!;
      if (seen.has(name)) continue;
      seen.add(name);
      const cookbook = chosen.get(name);
      if (!cookbook) return name;
      queue.push(...Object.keys(cookbook.dependencies));
    }
    return undefined;
  };

  /** The chosen cookbooks that depend on `name`: they made it needed and limit its versions. */
  const dependentsOf = (name: string): Set<string> => new Set([...chosen.values()].filter((c) => c.dependencies[name] !== undefined).map((c) => c.name));

  const fail = (error: SousError, culprits: Set<string>): Set<string> => {
    firstFailure ??= error;
    return culprits;
  };

  /**
   * Chooses the next needed cookbook and recurses. On failure, returns the culprits: the
   * cookbooks whose chosen versions together caused it. A choice that is not among them
   * cannot help, so its other versions are skipped (conflict-directed backjumping), which
   * keeps a hopeless search from trying every combination.
   */
  const search = (): true | Set<string> => {
    if (++steps > MAX_STEPS) {
      // The first dead end still explains the trouble better than the count of attempts.
      const why = firstFailure ? `${firstFailure.message}; ` : "";
      throw new SousError(firstFailure?.code ?? "resolution-failed", `${why}gave up after trying ${MAX_STEPS} combinations of cookbook versions; narrow the version constraints`);
    }
    const name = nextUnchosen();
    if (name === undefined) return true;
    const constraints = constraintsOn(name);
    const candidates = versions.get(name) ?? [];
    if (candidates.length === 0) {
      const who = constraints.filter((k) => !k.from.startsWith("environment ")).map((k) => (k.from.startsWith("the run list") ? k.from : `${k.from} (${k.range})`));
      return fail(new SousError("missing-cookbook", `cookbook ${name} is needed by ${who.join(", ")} but ${searched}`), dependentsOf(name));
    }
    const fitting = candidates.filter((c) => constraints.every((k) => satisfiesConstraint(c.version, k.range)));
    if (fitting.length === 0) {
      // When one cookbook's constraint rules out every version by itself (with the fixed
      // run list and environment ones), only that cookbook's choice can help.
      const fixed = constraints.filter((k) => k.cookbook === undefined);
      const alone = constraints.find((k) => k.cookbook !== undefined && !candidates.some((c) => [...fixed, k].every((f) => satisfiesConstraint(c.version, f.range))));
      const culprits = alone ? new Set([alone.cookbook!]) : dependentsOf(name);
      return fail(new SousError("version-conflict", `no version of cookbook ${name} satisfies ${describe(constraints)}; found versions: ${candidates.map((c) => c.version).join(", ")}`), culprits);
    }
    const culprits = dependentsOf(name);
    for (const candidate of fitting) {
      const clash = Object.entries(candidate.dependencies).find(([dep, range]) => {
        if (!isValidConstraint(range)) throw new SousError("bad-version-constraint", `cookbook ${name}@${candidate.version}${candidate.dir !== undefined ? ` (${candidate.dir}/package.json)` : ""}: dependency ${dep} ${JSON.stringify(range)} is not a semver range`);
        const already = chosen.get(dep);
        return already !== undefined && !satisfiesConstraint(already.version, range);
      });
      if (clash) {
        const [dep, range] = clash;
        const held = chosen.get(dep)!;
        fail(new SousError("version-conflict", `cookbook ${name}@${candidate.version} needs ${dep} ${range}, which conflicts with ${describe(constraintsOn(dep))} (${dep}@${held.version} and the other versions found do not fit all)`), new Set());
        culprits.add(dep);
        continue;
      }
      chosen.set(name, candidate);
      const below = search();
      if (below === true) return true;
      chosen.delete(name);
      if (!below.has(name)) return below;
      for (const culprit of below) if (culprit !== name) culprits.add(culprit);
    }
    return culprits;
  };

  if (search() !== true) throw firstFailure ?? new SousError("resolution-failed", "cookbook versions could not be resolved");
  const ordered = new Map<string, T>();
  const queue = [...wanted];
  while (queue.length) {
    const name = queue.shift()!;
    const cookbook = chosen.get(name);
    if (!cookbook || ordered.has(name)) continue;
    ordered.set(name, cookbook);
    queue.push(...Object.keys(cookbook.dependencies));
  }
  return ordered;
}
