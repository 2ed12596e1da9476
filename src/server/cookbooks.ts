// Cookbook versions on the server: manifest validation (safe relative paths, sizes, checksums),
// and dependency resolution of a run list in an environment.
import semver from "semver";
import { isValidConstraint, semverRange } from "../protocol/constraints.js";
import type { CookbookFile, CookbookManifest } from "../protocol/manifest.js";
import { unsafePathReason } from "../protocol/manifest.js";
import { resolveCookbooks as solve } from "../protocol/resolve.js";
import { SousError } from "../core/errors.js";
import { ApiError, badRequest } from "./errors.js";
import { checkName } from "./objects.js";
import type { JsonObject } from "./objects.js";

/** Limits of what a cookbook may hold. */
export interface CookbookLimits {
  maxFileSize: number;
  maxFiles: number;
}

const SHA256 = /^[0-9a-f]{64}$/;

/** Validates an uploaded manifest against the URL's name and version and the limits. */
export function normalizeManifest(input: unknown, name: string, version: string, limits: CookbookLimits): CookbookManifest {
  checkName("cookbook", name);
  if (!semver.valid(version)) throw badRequest("invalid_version", `cookbook version '${version}' is not a semantic version like 1.2.3`);
  if (typeof input !== "object" || input === null || Array.isArray(input)) throw badRequest("invalid_body", "the request body must be a cookbook manifest (a JSON object)");
  const body = input as JsonObject;
  if (body.name !== undefined && body.name !== name) throw badRequest("name_mismatch", `manifest name '${String(body.name)}' differs from '${name}' in the URL`);
  if (body.version !== undefined && body.version !== version) throw badRequest("name_mismatch", `manifest version '${String(body.version)}' differs from '${version}' in the URL`);
  const dependencies: Record<string, string> = {};
  const rawDependencies = body.dependencies ?? {};
  if (typeof rawDependencies !== "object" || rawDependencies === null || Array.isArray(rawDependencies)) throw badRequest("invalid_field", "dependencies must map cookbook names to version ranges");
  for (const [dependency, range] of Object.entries(rawDependencies as JsonObject)) {
    checkName("cookbook", dependency);
    if (typeof range !== "string" || !isValidConstraint(range)) throw badRequest("invalid_field", `dependency ${dependency}: ${JSON.stringify(range)} is not a version range`);
    dependencies[dependency] = range;
  }
  if (!Array.isArray(body.files)) throw badRequest("invalid_field", "files must be an array of { path, sha256, size }");
  if (body.files.length > limits.maxFiles) throw badRequest("too_many_files", `a cookbook may hold at most ${limits.maxFiles} files; this one has ${body.files.length}`);
  const seen = new Set<string>();
  const files = body.files.map((entry: unknown, index: number): CookbookFile => {
    const file = (entry ?? {}) as JsonObject;
    const reason = unsafePathReason(file.path);
    if (reason) throw badRequest("unsafe_path", `files[${index}] ${JSON.stringify(file.path)} is refused: ${reason}`);
    const path = file.path as string;
    if (seen.has(path)) throw badRequest("duplicate_path", `files[${index}]: '${path}' is listed twice`);
    seen.add(path);
    if (typeof file.sha256 !== "string" || !SHA256.test(file.sha256)) throw badRequest("invalid_field", `files[${index}] '${path}': sha256 must be 64 lower-case hex digits`);
    if (typeof file.size !== "number" || !Number.isInteger(file.size) || file.size < 0) throw badRequest("invalid_field", `files[${index}] '${path}': size must be a whole number of bytes`);
    if (file.size > limits.maxFileSize) throw new ApiError(413, "file_too_large", `files[${index}] '${path}' is ${file.size} bytes; the limit is ${limits.maxFileSize}`);
    return { path, sha256: file.sha256, size: file.size };
  });
  return {
    name,
    version,
    description: typeof body.description === "string" ? body.description : "",
    dependencies,
    files,
    frozen: body.frozen === true,
  };
}

/**
 * Checks an environment constraint (Chef's `= 1.2.3`, `~> 1.2`, `>= 1.0`, or any semver range)
 * and returns it as semver reads it: the same translation the workstation uses.
 */
export function constraintToRange(constraint: string): string {
  if (!isValidConstraint(constraint)) throw badRequest("invalid_constraint", `version constraint '${constraint}' is not understood; write e.g. "= 1.2.3", "~> 1.2" or ">= 1.0"`);
  return semverRange(constraint.trim());
}

/** Cookbook name of a run-list recipe entry (`recipe[nginx::server]` → nginx; `nginx@1.2.0` → nginx). */
export function cookbookOfRecipe(recipe: string): string {
  return recipe.split("::")[0]!.split("@")[0]!;
}

/**
 * Picks one version of every cookbook needed, with the workstation's solver (src/protocol/resolve.ts):
 * the newest that satisfies the environment's constraint and every dependent's range,
 * backtracking when a choice leads to a dead end. A failure answers 412 with the solver's
 * explanation (the missing cookbook, or the conflicting constraints and who set them).
 */
export function resolveCookbooks(
  wanted: readonly string[],
  available: ReadonlyMap<string, readonly CookbookManifest[]>,
  environmentConstraints: Readonly<Record<string, string>>,
  environment = "_default",
): Map<string, CookbookManifest> {
  try {
    return solve([...new Set(wanted)], [...available.values()].flat(), environmentConstraints, environment, {}, "has not been uploaded to the server");
  } catch (error) {
    if (error instanceof SousError) throw new ApiError(412, "unresolvable", `cannot resolve cookbooks for the run list: ${error.message}`);
    throw error;
  }
}
