/** Optional packages: a command that needs one that is not installed says which and how to add it. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { importOptional } from "../../src/core/optional.js";

test("a missing optional package is named with the command that needs it and the npm install that adds it", async () => {
  const missing = "sous-test-package-that-is-not-installed";
  await assert.rejects(
    importOptional([missing], "sous server start", () => import(missing)),
    (error: Error & { code?: string }) => error.code === "missing-package" && error.message === `sous server start needs the npm package ${missing}, which is not installed here (Sous installs it only on demand, so that nodes running the agent stay small): npm install ${missing}`,
  );
});

test("other failures pass through unchanged, and an installed package loads", async () => {
  const broken = new Error("boom");
  await assert.rejects(importOptional(["fastify"], "x", () => Promise.reject(broken)), (error) => error === broken);
  const semver = await importOptional(["semver"], "x", () => import("semver"));
  assert.equal(typeof semver.default.valid, "function");
});
