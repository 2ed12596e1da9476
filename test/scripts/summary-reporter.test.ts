// The summary line of scripts/summary-reporter.mjs, over a real test run: a skipped suite is
// one skipped with its reason, listed before the line, as are skipped tests.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot, scratch } from "../helpers.js";

test("a skipped suite counts as skipped with its reason; tests inside a suite that ran count one by one", () => {
  const file = join(scratch("sous-summary-"), "fixture.test.mjs");
  writeFileSync(
    file,
    `import { describe, test } from "node:test";
describe("over SSH", { skip: "no test fleet: needs root and ip netns" }, () => { test("one", () => {}); test("two", () => {}); });
describe("local", () => {
  test("passes", () => {});
  test("needs busybox", { skip: "busybox is not installed" }, () => {});
  test("fails", () => { throw new Error("no"); });
});
test("also passes", () => {});
`,
  );
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const run = spawnSync(process.execPath, ["--test", "--test-reporter=./scripts/summary-reporter.mjs", file], { cwd: projectRoot, env, encoding: "utf8" });
  const lines = run.stdout.trim().split("\n");
  assert.equal(lines.at(-1), "2 passed, 1 failed, 2 skipped", run.stdout);
  assert.ok(lines.includes(`  suite "over SSH" (${file}): no test fleet: needs root and ip netns`), run.stdout);
  assert.ok(lines.includes(`  test "needs busybox" (${file}): busybox is not installed`), run.stdout);
});
