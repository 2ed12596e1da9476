// scripts/run-tests.mjs gives the server tests a throwaway PostgreSQL cluster of its own when
// SOUS_TEST_POSTGRES_URL is not set, and removes it when the run ends.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot, scratch } from "../helpers.js";

test("a run with server tests and no SOUS_TEST_POSTGRES_URL gets a cluster that accepts connections, stopped and removed afterwards", { skip: process.getuid?.() !== 0 ? "ci-postgres.sh runs the cluster as postgres" : false }, () => {
  const dir = scratch("sous-run-tests-");
  const seen = join(dir, "seen.json");
  mkdirSync(join(dir, "server"));
  // A test file of its own, in a folder named server: it records the URL it was given and connects.
  writeFileSync(
    join(dir, "server", "postgres.test.ts"),
    `import { test } from "node:test";
import { connect } from "node:net";
import { writeFileSync } from "node:fs";
test("postgres is there", async () => {
  const url = new URL(process.env.SOUS_TEST_POSTGRES_URL!);
  await new Promise<void>((resolve, reject) => connect(Number(url.port), url.hostname).on("connect", function () { this.end(); resolve(); }).on("error", reject));
  writeFileSync(${JSON.stringify(seen)}, JSON.stringify({ url: url.href }));
});
`,
  );
  const env = { ...process.env };
  delete env.SOUS_TEST_POSTGRES_URL;
  // Not a child of this test runner: a runner of its own, with its own report.
  delete env.NODE_TEST_CONTEXT;
  const run = spawnSync(process.execPath, ["scripts/run-tests.mjs", join(dir, "server")], { cwd: projectRoot, env, encoding: "utf8" });
  assert.equal(run.status, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /1 passed, 0 failed/);
  const announced = /throwaway PostgreSQL cluster for this run at (\S+),/.exec(run.stdout);
  assert.ok(announced, run.stdout);
  assert.equal(JSON.parse(readFileSync(seen, "utf8")).url, announced[1]);
  const port = Number(new URL(announced[1]!).port);
  // Stopped: nothing listens on its port any more, and its folder is gone.
  const listening = readFileSync("/proc/net/tcp", "utf8").split("\n").some((line) => line.split(/\s+/)[2]?.endsWith(`:${port.toString(16).toUpperCase().padStart(4, "0")}`) && line.split(/\s+/)[4] === "0A");
  assert.equal(listening, false, `port ${port} still listening`);
  const data = /cluster in (\S+) on/.exec(run.stderr)?.[1];
  if (data) assert.equal(existsSync(data), false);
});
