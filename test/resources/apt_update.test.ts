import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import type { Resources } from "../../src/dsl.js";
import { APT_UPDATE_STAMP } from "../../src/resources/apt_update.js";
import { convergeWith, scratch } from "../helpers.js";
import { buildDeb, createDisposableRoot, indexRepository, ROOT_REPOSITORY } from "../support/disposable-root.js";
import { changedProperties, leftoverOf } from "../support/leftovers.js";

const repository = scratch("sous-repo-");
buildDeb(repository, { name: "sous-early", version: "1.0-1" });
indexRepository(repository);
const box = createDisposableRoot();
box.useAptRepository(repository);
const host = box.host;

test("periodic updates when the stamp is missing or stale, then stays quiet within the window", async () => {
  const declare = ({ aptUpdate }: Resources) => void aptUpdate("lists", { frequency: 3600 });
  assert.equal(existsSync(box.path(APT_UPDATE_STAMP)), false);
  const before = box.digest();
  assert.deepEqual((await convergeWith(declare, { host, dryRun: true })).updated, ["apt_update[lists]"]);
  assert.equal(box.digest(), before, "a dry run changes nothing");

  const first = await convergeWith(declare, { host });
  assert.deepEqual(first.updated, ["apt_update[lists]"]);
  assert.ok(existsSync(box.path(APT_UPDATE_STAMP)), "a successful update leaves its stamp");
  assert.equal(existsSync(APT_UPDATE_STAMP) && statSync(APT_UPDATE_STAMP).mtimeMs > Date.now() - 60_000, false, "not this machine's stamp");
  assert.deepEqual((await convergeWith(declare, { host })).updated, []);

  const twoHoursAgo = new Date(Date.now() - 2 * 3600 * 1000);
  utimesSync(box.path(APT_UPDATE_STAMP), twoHoursAgo, twoHoursAgo);
  assert.deepEqual((await convergeWith(declare, { host })).updated, ["apt_update[lists]"], "a stale stamp updates again");
  assert.deepEqual((await convergeWith(declare, { host })).updated, []);
});

test("an update in the run makes a newly published package installable by a later resource", async () => {
  buildDeb(box.path(ROOT_REPOSITORY), { name: "sous-late", version: "3.0-1" });
  indexRepository(box.path(ROOT_REPOSITORY));
  const withoutUpdate = await convergeWith(({ package: pkg }) => void pkg("sous-late"), { host });
  assert.equal(withoutUpdate.result.status, "failed", "the lists do not know it yet");

  const declare = ({ aptUpdate, package: pkg }: Resources) => {
    aptUpdate("now", { action: "update" });
    pkg("sous-late");
  };
  const run = await convergeWith(declare, { host });
  assert.equal(run.result.status, "converged");
  assert.deepEqual(run.updated, ["apt_update[now]", "package[sous-late]"]);
  const state = spawnSync("chroot", [box.root, "dpkg-query", "-W", "-f", "${Version}", "sous-late"], { encoding: "utf8" });
  assert.equal(state.stdout, "3.0-1");
});

test("a failing update is reported and leaves the stamp alone", async () => {
  const stampBefore = statSync(box.path(APT_UPDATE_STAMP)).mtimeMs;
  box.run(["sh", "-c", `echo 'deb [trusted=yes] file:/srv/sous-missing-repo ./' > /etc/apt/sources.list.d/broken.list`]);
  try {
    const failed = await convergeWith(({ aptUpdate }) => void aptUpdate("broken", { action: "update" }), { host });
    assert.equal(failed.result.status, "failed");
    assert.equal(statSync(box.path(APT_UPDATE_STAMP)).mtimeMs, stampBefore);
  } finally {
    box.run(["rm", "-f", "/etc/apt/sources.list.d/broken.list"]);
  }
});

test("temporary files that killed writes of the stamp left are removed by the next run, without an update while the lists are fresh", async () => {
  const declare = ({ aptUpdate }: Resources) => void aptUpdate("lists", { frequency: 3600 });
  await convergeWith(declare, { host });
  const stamp = statSync(box.path(APT_UPDATE_STAMP)).mtimeMs;
  const { leftover, lookalike } = leftoverOf(APT_UPDATE_STAMP);
  writeFileSync(box.path(leftover), "");
  writeFileSync(box.path(lookalike), "keep\n");
  const cleaned = await convergeWith(declare, { host });
  assert.deepEqual(changedProperties(cleaned), { "apt_update[lists]": ["leftovers"] });
  assert.equal(existsSync(box.path(leftover)), false);
  assert.ok(existsSync(box.path(lookalike)), "a name that only looks alike stays");
  assert.equal(statSync(box.path(APT_UPDATE_STAMP)).mtimeMs, stamp, "no update ran: the stamp is as it was");
  assert.deepEqual((await convergeWith(declare, { host })).updated, []);
  rmSync(box.path(lookalike));
});
