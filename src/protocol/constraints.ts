/**
 * Cookbook version constraints, for the workstation and the server alike: the ranges of
 * package.json dependencies (npm semver) and the environment pins, which may also be written
 * the Chef way (`= 1.2.3`, `>= 1.0`, `~> 1.2`).
 */
// Only the functions used: the whole semver package costs a no-op run noticeable start-up time.
import semverSatisfies from "semver/functions/satisfies.js";
import validRange from "semver/ranges/valid.js";
import rcompare from "semver/functions/rcompare.js";

/**
 * A constraint as semver understands it. Chef's pessimistic operator keeps all but the last
 * part given: `~> 1` and `~> 1.2` mean `>= 1.x.0 < 2.0.0`, `~> 1.2.3` means `>= 1.2.3 < 1.3.0`;
 * semver would read `~> 1.2` as its own tilde (`< 1.3.0`), so Chef's spelling is translated
 * first. Upper bounds end in `-0` so that no prerelease of the excluded version (`2.0.0-rc.1`)
 * slips under them. Anything else is semver (`= 1.2.3` and `>= 1.0` already are).
 */
export function semverRange(constraint: string): string {
  const pessimistic = /^\s*~>\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?\s*$/.exec(constraint);
  if (!pessimistic) return constraint;
  const [major, minor, patch] = pessimistic.slice(1).map((part) => (part === undefined ? undefined : Number(part))) as [number, number | undefined, number | undefined];
  if (patch !== undefined) return `>=${major}.${minor}.${patch} <${major}.${minor! + 1}.0-0`;
  return `>=${major}.${minor ?? 0}.0 <${major + 1}.0.0-0`;
}

/** Whether a constraint is one Sous understands. */
export function isValidConstraint(constraint: string): boolean {
  return validRange(semverRange(constraint)) !== null;
}

/** Whether a cookbook version satisfies a constraint (prereleases count as versions: a cookbook may only have those). */
export function satisfiesConstraint(version: string, constraint: string): boolean {
  return semverSatisfies(version, semverRange(constraint), { includePrerelease: true });
}

/** Sorts versions newest first. */
export function newestVersionFirst(a: string, b: string): number {
  return rcompare(a, b);
}
