import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import type { Resources } from "../../src/dsl.js";
import type { Host } from "../../src/host/host.js";
import { parseAptPolicy } from "../../src/resources/apt.js";
import { convergeWith, scratch } from "../helpers.js";
import { buildDeb, createDisposableRoot, indexRepository } from "../support/disposable-root.js";
import { recordingHost } from "../support/recording-host.js";

const repository = scratch("sous-repo-");
buildDeb(repository, { name: "sous-hello", version: "1.0-1" });
// An epoch makes 1:0.5-1 newer than 1.0-1: semver or string order would say the opposite.
buildDeb(repository, { name: "sous-hello", version: "1:0.5-1" });
buildDeb(repository, { name: "sous-lib", version: "1.0-1" });
buildDeb(repository, { name: "sous-app", version: "1.0-1", depends: "sous-lib (>= 1.0)" });
buildDeb(repository, { name: "sous-conf", version: "2.0-1", files: { "/etc/sous-conf.conf": "setting = 1\n" }, conffiles: ["/etc/sous-conf.conf"] });
indexRepository(repository);

const box = createDisposableRoot();
box.useAptRepository(repository);
const host = box.host;

/** The root's host, recording the argv of every command it runs. */
function recording(): { host: Host; commands: string[][] } {
  return recordingHost(host);
}

/** dpkg's view inside the root: "status version", or "absent". */
function dpkgState(name: string): string {
  const result = spawnSync("chroot", [box.root, "dpkg-query", "-W", "-f", "${db:Status-Abbrev}${Version}", name], { encoding: "utf8" });
  return result.status === 0 ? result.stdout.trim().replace(/\s+/, " ") : "absent";
}

test("several packages install in one resource, with their dependencies; the second run changes nothing", async () => {
  const declare = ({ package: pkg }: Resources) => {
    pkg("app stack", { packageName: ["sous-app", "sous-conf"] });
  };
  const before = box.digest();
  const preview = await convergeWith(declare, { host, dryRun: true });
  assert.equal(preview.result.status, "converged");
  assert.deepEqual(preview.updated, ["package[app stack]"]);
  assert.equal(box.digest(), before, "the dry run left the root unchanged");
  assert.equal(dpkgState("sous-app"), "absent");

  const recorder = recording();
  const first = await convergeWith(declare, { host: recorder.host });
  assert.equal(first.result.status, "converged", JSON.stringify(first.events.at(-1)));
  const installs = recorder.commands.filter((argv) => argv[0] === "apt-get");
  assert.equal(installs.length, 1, "one apt-get call for both packages");
  assert.deepEqual(installs[0]!.slice(-3), ["--", "sous-app=1.0-1", "sous-conf=2.0-1"]);
  const updated = first.events.find((e) => e.type === "resource:updated") as { changes: Array<{ property: string; from: unknown; to: unknown }> };
  assert.deepEqual(updated.changes, [
    { property: "sous-app", from: undefined, to: "1.0-1" },
    { property: "sous-conf", from: undefined, to: "2.0-1" },
  ]);
  assert.equal(dpkgState("sous-app"), "ii 1.0-1");
  assert.equal(dpkgState("sous-lib"), "ii 1.0-1", "the dependency came along");
  assert.equal(readFileSync(box.path("/etc/sous-conf.conf"), "utf8"), "setting = 1\n");
  assert.equal(existsSync("/etc/sous-conf.conf"), false, "this machine is untouched");

  const quiet = recording();
  const second = await convergeWith(declare, { host: quiet.host });
  assert.deepEqual(second.updated, []);
  assert.deepEqual(quiet.commands.map((argv) => argv[0]), ["dpkg-query"], "an installed package costs one dpkg-query, no apt call");
});

test("a version pin installs that version; upgrade follows dpkg's ordering (epochs); a pin can go back down", async () => {
  const pinned = ({ package: pkg }: Resources) => void pkg("sous-hello", { version: "1.0-1" });
  const first = await convergeWith(pinned, { host });
  assert.deepEqual(first.updated, ["package[sous-hello]"]);
  assert.equal(dpkgState("sous-hello"), "ii 1.0-1");
  assert.deepEqual((await convergeWith(pinned, { host })).updated, []);

  const upgrade = ({ package: pkg }: Resources) => void pkg("sous-hello", { action: "upgrade" });
  const before = box.digest();
  assert.deepEqual((await convergeWith(upgrade, { host, dryRun: true })).updated, ["package[sous-hello]"]);
  assert.equal(box.digest(), before);
  const upgraded = await convergeWith(upgrade, { host });
  assert.deepEqual(upgraded.updated, ["package[sous-hello]"]);
  assert.equal(dpkgState("sous-hello"), "ii 1:0.5-1");
  assert.deepEqual((await convergeWith(upgrade, { host })).updated, [], "already the candidate: no change");
  assert.deepEqual((await convergeWith(({ package: pkg }) => void pkg("sous-hello"), { host })).updated, [], "install leaves a newer version alone");

  const down = await convergeWith(pinned, { host });
  assert.deepEqual(down.updated, ["package[sous-hello]"]);
  assert.equal(dpkgState("sous-hello"), "ii 1.0-1");
});

test("remove keeps configuration files, purge removes them; each converges once", async () => {
  const install = ({ package: pkg }: Resources) => void pkg("sous-conf");
  await convergeWith(install, { host });
  const remove = ({ package: pkg }: Resources) => void pkg("sous-conf", { action: "remove" });
  const removed = await convergeWith(remove, { host });
  assert.deepEqual(removed.updated, ["package[sous-conf]"]);
  assert.equal(dpkgState("sous-conf"), "rc 2.0-1");
  assert.ok(existsSync(box.path("/etc/sous-conf.conf")), "remove keeps the conffile");
  assert.deepEqual((await convergeWith(remove, { host })).updated, []);

  const purge = ({ package: pkg }: Resources) => void pkg("sous-conf", { action: "purge" });
  const before = box.digest();
  assert.deepEqual((await convergeWith(purge, { host, dryRun: true })).updated, ["package[sous-conf]"]);
  assert.equal(box.digest(), before);
  assert.deepEqual((await convergeWith(purge, { host })).updated, ["package[sous-conf]"]);
  assert.equal(dpkgState("sous-conf"), "absent");
  assert.equal(existsSync(box.path("/etc/sous-conf.conf")), false);
  assert.deepEqual((await convergeWith(purge, { host })).updated, []);
});

test("an unknown package or version fails clearly and installs nothing", async () => {
  const unknown = await convergeWith(({ package: pkg }) => void pkg("sous-not-in-any-repo"), { host });
  assert.equal(unknown.result.status, "failed");
  const failure = unknown.events.find((e) => e.type === "resource:failed") as { error: { message: string } };
  assert.match(failure.error.message, /sous-not-in-any-repo: apt has no installation candidate/);
  const badPin = await convergeWith(({ package: pkg }) => void pkg("sous-lib", { version: "9.9-9" }), { host });
  const pinFailure = badPin.events.find((e) => e.type === "resource:failed") as { error: { message: string } };
  assert.match(pinFailure.error.message, /version 9\.9-9 is not available \(apt knows 1\.0-1/);
});

test("apt-cache policy output parses into candidates and versions", () => {
  const text = [
    "sous-hello:",
    "  Installed: 1.0-1",
    "  Candidate: 1:0.5-1",
    "  Version table:",
    "     1:0.5-1 500",
    "        500 file:/srv/repo ./ Packages",
    " *** 1.0-1 500",
    "        500 file:/srv/repo ./ Packages",
    "        100 /var/lib/dpkg/status",
    "gone:",
    "  Installed: (none)",
    "  Candidate: (none)",
    "  Version table:",
    "",
  ].join("\n");
  assert.deepEqual(Object.fromEntries(parseAptPolicy(text)), {
    "sous-hello": { candidate: "1:0.5-1", versions: ["1:0.5-1", "1.0-1"] },
    gone: { candidate: undefined, versions: [] },
  });
});
