import { test } from "node:test";
import assert from "node:assert/strict";
import { SousError } from "../../src/core/errors.js";
import { semverRange } from "../../src/protocol/constraints.js";
import { type CookbookInfo, resolveCookbooks } from "../../src/protocol/resolve.js";

function cb(id: string, dependencies: Record<string, string> = {}): CookbookInfo {
  const [name, version] = id.split("@") as [string, string];
  return { name, version, dir: `/cookbooks/${name}-${version}`, dependencies };
}

function chosen(map: Map<string, CookbookInfo>): string[] {
  return [...map.values()].map((c) => `${c.name}@${c.version}`).sort();
}

function failure(run: () => unknown): SousError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof SousError, `expected a SousError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected resolution to fail");
}

test("the newest version that satisfies every constraint wins, dependencies included", () => {
  const available = [cb("web@1.0.0", { base: "^1.0.0" }), cb("web@1.2.0", { base: "^1.1.0" }), cb("base@1.0.0"), cb("base@1.1.5"), cb("base@2.0.0")];
  assert.deepEqual(chosen(resolveCookbooks(["web"], available, {}, "_default")), ["base@1.1.5", "web@1.2.0"]);
});

test("an environment pin chooses an older version, and its dependencies follow it", () => {
  const available = [cb("web@1.0.0", { base: "^1.0.0" }), cb("web@2.0.0", { base: "^2.0.0" }), cb("base@1.3.0"), cb("base@2.0.0")];
  assert.deepEqual(chosen(resolveCookbooks(["web"], available, { web: "= 1.0.0" }, "production")), ["base@1.3.0", "web@1.0.0"]);
});

test("a version abandoned for a later constraint leaves no constraints behind (no false conflict)", () => {
  // app wants web ^1; web@2 (the first choice) wanted base ^2, web@1 wants base ^1.
  const available = [cb("web@1.0.0", { base: "^1.0.0" }), cb("web@2.0.0", { base: "^2.0.0" }), cb("base@1.0.0"), cb("base@2.0.0"), cb("app@1.0.0", { web: "^1.0.0" })];
  assert.deepEqual(chosen(resolveCookbooks(["web", "app"], available, {}, "_default")), ["app@1.0.0", "base@1.0.0", "web@1.0.0"]);
});

test("a dependency only an abandoned version needed is neither required nor chosen", () => {
  const available = [cb("web@1.0.0"), cb("web@2.0.0", { gone: "*", extra: "*" }), cb("extra@1.0.0"), cb("app@1.0.0", { web: "~1.0.0" })];
  assert.deepEqual(chosen(resolveCookbooks(["web", "app"], available, {}, "_default")), ["app@1.0.0", "web@1.0.0"]);
});

test("a missing cookbook names who needed it", () => {
  const error = failure(() => resolveCookbooks(["web"], [cb("web@1.0.0", { base: "^1.0.0" })], {}, "_default"));
  assert.equal(error.code, "missing-cookbook");
  assert.match(error.message, /cookbook base is needed by web@1\.0\.0 \(\^1\.0\.0\)/);
});

test("a cookbook missing from the run list is named as wanted by the run list", () => {
  const error = failure(() => resolveCookbooks(["nope"], [cb("web@1.0.0")], {}, "_default"));
  assert.equal(error.code, "missing-cookbook");
  assert.match(error.message, /cookbook nope is needed by the run list/);
});

test("a conflict names every constraint, who set it, and the versions found", () => {
  const available = [cb("web@1.0.0", { base: "^1.0.0" }), cb("base@1.0.0"), cb("base@2.0.0")];
  const error = failure(() => resolveCookbooks(["web"], available, { base: ">= 2.0.0" }, "production"));
  assert.equal(error.code, "version-conflict");
  assert.match(error.message, /base/);
  assert.match(error.message, /\^1\.0\.0 \(from web@1\.0\.0\)/);
  assert.match(error.message, />= 2\.0\.0 \(from environment production\)/);
  assert.match(error.message, /found versions: 2\.0\.0, 1\.0\.0/);
});

test("two cookbooks asking for incompatible versions of a third is a conflict naming both", () => {
  const available = [cb("web@1.0.0", { base: "^1.0.0" }), cb("db@1.0.0", { base: "^2.0.0" }), cb("base@1.0.0"), cb("base@2.0.0")];
  const error = failure(() => resolveCookbooks(["web", "db"], available, {}, "_default"));
  assert.equal(error.code, "version-conflict");
  assert.match(error.message, /\^1\.0\.0 \(from web@1\.0\.0\)/);
  assert.match(error.message, /\^2\.0\.0 \(from db@1\.0\.0\)/);
});

test("a pin no version satisfies is a conflict naming the environment", () => {
  const error = failure(() => resolveCookbooks(["web"], [cb("web@1.0.0"), cb("web@1.1.0")], { web: "~2.0.0" }, "staging"));
  assert.equal(error.code, "version-conflict");
  assert.match(error.message, /~2\.0\.0 \(from environment staging\)/);
  assert.match(error.message, /found versions: 1\.1\.0, 1\.0\.0/);
});

test("a pin that is not a semver range is rejected with the environment's name", () => {
  const error = failure(() => resolveCookbooks(["web"], [cb("web@1.0.0")], { web: "latest please" }, "staging"));
  assert.equal(error.code, "bad-version-constraint");
  assert.match(error.message, /environment staging/);
});

test("dependency cycles between cookbooks resolve (each cookbook once)", () => {
  const available = [cb("a@1.0.0", { b: "*" }), cb("b@1.0.0", { a: "*" })];
  assert.deepEqual(chosen(resolveCookbooks(["a"], available, {}, "_default")), ["a@1.0.0", "b@1.0.0"]);
});

test("a cookbook whose dependency conflicts with an earlier choice is named with both constraints", () => {
  const available = [cb("base@1.0.0"), cb("base@2.0.0"), cb("web@1.0.0", { base: "^3.0.0" })];
  const error = failure(() => resolveCookbooks(["base", "web"], available, {}, "_default"));
  assert.equal(error.code, "version-conflict");
  assert.match(error.message, /web@1\.0\.0 needs base \^3\.0\.0/);
  assert.match(error.message, /\* \(from the run list\)/);
});

test("Chef's pessimistic constraints keep Chef's meaning: ~> 1.2 allows 1.9 but not 2.0; ~> 1.2.3 stays below 1.3", () => {
  assert.equal(semverRange("~> 1.2"), ">=1.2.0 <2.0.0-0");
  assert.equal(semverRange("~>1.2.3"), ">=1.2.3 <1.3.0-0");
  assert.equal(semverRange("^1.2.0"), "^1.2.0");
  const available = [cb("web@1.2.9"), cb("web@1.9.0"), cb("web@2.0.0")];
  assert.deepEqual(chosen(resolveCookbooks(["web"], available, { web: "~> 1.2" }, "production")), ["web@1.9.0"]);
  assert.deepEqual(chosen(resolveCookbooks(["web"], available, { web: "~> 1.2.3" }, "production")), ["web@1.2.9"]);
  const error = failure(() => resolveCookbooks(["web"], available, { web: "~> 3.1" }, "production"));
  assert.match(error.message, /~> 3\.1 \(from environment production\)/);
});

test("a search with no way out stops, and still names the first conflict it met", () => {
  // 30 versions each of a, b, c, d all want e ^2, which does not exist: 30^4 combinations.
  const available: CookbookInfo[] = [cb("e@1.0.0")];
  for (const name of ["a", "b", "c", "d"]) for (let minor = 0; minor < 30; minor++) available.push(cb(`${name}@1.${minor}.0`, { e: "^2.0.0" }));
  const error = failure(() => resolveCookbooks(["a", "b", "c", "d"], available, {}, "_default"));
  assert.equal(error.code, "version-conflict");
  assert.match(error.message, /no version of cookbook e satisfies \^2\.0\.0 \(from a@1\.29\.0\)/);
});

test("skipping hopeless choices still finds the solution that needs an older version chosen early", () => {
  const available = [cb("a@1.0.0", { x: "^1.0.0" }), cb("a@2.0.0", { x: "^2.0.0" }), cb("b@1.0.0"), cb("b@1.1.0"), cb("b@1.2.0"), cb("c@1.0.0", { x: "^1.0.0" }), cb("x@1.0.0"), cb("x@1.5.0")];
  assert.deepEqual(chosen(resolveCookbooks(["a", "b", "c"], available, {}, "_default")), ["a@1.0.0", "b@1.2.0", "c@1.0.0", "x@1.5.0"]);
  // Both constraints fit some version alone, but not together: either cookbook's choice may help.
  const together = [cb("p@1.0.0", { x: "<1.5.0" }), cb("p@2.0.0", { x: ">=1.5.0" }), cb("q@1.0.0", { x: "<1.5.0" }), cb("x@1.0.0"), cb("x@1.5.0")];
  assert.deepEqual(chosen(resolveCookbooks(["p", "q"], together, {}, "_default")), ["p@1.0.0", "q@1.0.0", "x@1.0.0"]);
});
