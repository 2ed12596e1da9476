/** Cookbook version resolution: the newest version of each cookbook that satisfies every constraint. */
import semver from "semver";
import { SousError } from "../core/errors.js";

/** A cookbook found in the repository or in node_modules. */
export interface CookbookInfo {
  name: string;
  version: string;
  dir: string;
  /** Cookbook dependencies: name → semver range. */
  dependencies: Record<string, string>;
}

interface Constraint {
  range: string;
  from: string;
}

/**
 * Resolves `wanted` cookbooks and their dependencies. `pins` are the environment's
 * constraints. Errors name the missing cookbook or the conflicting constraints and who set them.
 */
export function resolveCookbooks(wanted: readonly string[], available: readonly CookbookInfo[], pins: Record<string, string>, environment: string): Map<string, CookbookInfo> {
  const constraints = new Map<string, Constraint[]>();
  const add = (name: string, constraint: Constraint) => {
    const list = constraints.get(name) ?? [];
    if (!list.some((c) => c.range === constraint.range && c.from === constraint.from)) list.push(constraint);
    constraints.set(name, list);
  };
  for (const name of wanted) add(name, { range: "*", from: "the run list" });
  for (const [name, range] of Object.entries(pins)) {
    if (!semver.validRange(range)) throw new SousError("bad-version-constraint", `environment ${environment}: cookbook ${name} constraint ${JSON.stringify(range)} is not a semver range`);
  }

  const chosen = new Map<string, CookbookInfo>();
  // Iterate to a fixed point: choosing a version adds its dependencies' constraints.
  for (let round = 0; round < 1000; round++) {
    let changed = false;
    for (const [name, list] of constraints) {
      const all = pins[name] ? [...list, { range: pins[name]!, from: `environment ${environment}` }] : list;
      const candidates = available.filter((c) => c.name === name);
      if (candidates.length === 0) {
        const who = list.map((c) => c.from).join(", ");
        throw new SousError("missing-cookbook", `cookbook ${name} is needed by ${who} but was not found in cookbooks/ or node_modules/`);
      }
      const fitting = candidates.filter((c) => all.every((k) => semver.satisfies(c.version, k.range, { includePrerelease: true })));
      if (fitting.length === 0) {
        const have = candidates.map((c) => c.version).join(", ");
        throw new SousError(
          "version-conflict",
          `no version of cookbook ${name} satisfies ${all.map((k) => `${k.range} (from ${k.from})`).join(" and ")}; found versions: ${have}`,
        );
      }
      const best = fitting.sort((a, b) => semver.rcompare(a.version, b.version))[0]!;
      if (chosen.get(name) !== best) {
        chosen.set(name, best);
        changed = true;
        for (const [dep, range] of Object.entries(best.dependencies)) {
          if (!semver.validRange(range)) throw new SousError("bad-version-constraint", `cookbook ${name}@${best.version} (${best.dir}/package.json): dependency ${dep} ${JSON.stringify(range)} is not a semver range`);
          add(dep, { range, from: `${name}@${best.version}` });
        }
      }
    }
    if (!changed) return chosen;
  }
  throw new SousError("resolution-failed", "cookbook versions did not settle; the dependencies change with every choice");
}
