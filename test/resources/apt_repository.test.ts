import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Resources } from "../../src/dsl.js";
import { convergeWith, scratch } from "../helpers.js";
import { buildDeb, createDisposableRoot, indexRepository } from "../support/disposable-root.js";
import { changedProperties, leftoverOf } from "../support/leftovers.js";

// Two signing keys in a throwaway GnuPG home: the repository is signed with the first.
const gnupgHome = scratch("sous-gnupg-");
const gpgEnv = { ...process.env, GNUPGHOME: gnupgHome };
after(() => void spawnSync("gpgconf", ["--kill", "all"], { env: gpgEnv }));
function gpg(args: string[]): Buffer {
  return execFileSync("gpg", ["--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", "", ...args], { env: gpgEnv, stdio: ["ignore", "pipe", "pipe"] });
}
gpg(["--quick-gen-key", "Sous Repo <repo@sous.invalid>", "ed25519", "sign", "never"]);
gpg(["--quick-gen-key", "Someone Else <other@sous.invalid>", "ed25519", "sign", "never"]);
const goodKey = gpg(["--armor", "--export", "repo@sous.invalid"]).toString("utf8");
const otherKey = gpg(["--armor", "--export", "other@sous.invalid"]).toString("utf8");
const binaryKey = gpg(["--export", "repo@sous.invalid"]);

const base = scratch("sous-repo-");
const local = join(base, "local");
buildDeb(local, { name: "sous-base", version: "1.0-1" });
indexRepository(local);
const signed = join(base, "signed");
buildDeb(signed, { name: "sous-signed-tool", version: "4.2-1" });
indexRepository(signed);
gpg(["--local-user", "repo@sous.invalid", "--clearsign", "--output", join(signed, "InRelease"), join(signed, "Release")]);

const box = createDisposableRoot();
box.useAptRepository(local);
cpSync(signed, box.path("/srv/signed"), { recursive: true });
const host = box.host;

function candidate(name: string): string {
  return box.run(["apt-cache", "policy", name]).match(/Candidate: (\S+)/)?.[1] ?? "(unknown)";
}

test("a signed repository is added with its key, its lists refreshed, and its packages installable in the same run", async () => {
  const declare = ({ aptRepository, package: pkg }: Resources) => {
    aptRepository("sous-signed", { uri: "file:/srv/signed", suites: ["./"], key: goodKey });
    pkg("sous-signed-tool");
  };
  const before = box.digest();
  const preview = await convergeWith(declare, { host, dryRun: true });
  assert.equal(preview.updated[0], "apt_repository[sous-signed]");
  assert.match((preview.events.find((e) => e.type === "resource:updated") as { diff?: string }).diff ?? "", /^\+Signed-By: \/etc\/apt\/keyrings\/sous-signed\.asc$/m);
  assert.equal(box.digest(), before, "a dry run changes nothing");

  const first = await convergeWith(({ aptRepository }) => void aptRepository("sous-signed", { uri: "file:/srv/signed", suites: ["./"], key: goodKey }), { host });
  assert.equal(first.result.status, "converged", JSON.stringify(first.events.filter((e) => e.type === "resource:failed")));
  assert.equal(
    readFileSync(box.path("/etc/apt/sources.list.d/sous-signed.sources"), "utf8"),
    "# Managed by Sous: changes here are overwritten.\nTypes: deb\nURIs: file:/srv/signed\nSuites: ./\nSigned-By: /etc/apt/keyrings/sous-signed.asc\n",
  );
  assert.equal(readFileSync(box.path("/etc/apt/keyrings/sous-signed.asc"), "utf8"), goodKey);
  assert.equal(candidate("sous-signed-tool"), "4.2-1", "the source's lists were refreshed");
  assert.equal(existsSync("/etc/apt/sources.list.d/sous-signed.sources"), false, "this machine is untouched");

  const both = await convergeWith(declare, { host });
  assert.deepEqual(both.updated, ["package[sous-signed-tool]"], "the repository is already there; the package installs");
  assert.deepEqual((await convergeWith(declare, { host })).updated, []);
});

test("the wrong key makes the update fail: signed-by is what apt checks", async () => {
  cpSync(signed, box.path("/srv/signed-copy"), { recursive: true });
  const wrong = await convergeWith(({ aptRepository }) => void aptRepository("sous-wrong-key", { uri: "file:/srv/signed-copy", suites: ["./"], key: otherKey }), { host });
  assert.equal(wrong.result.status, "failed");
  assert.match(JSON.stringify(wrong.events), /NO_PUBKEY|not signed|signatures couldn't be verified/);
  const removed = await convergeWith(({ aptRepository }) => void aptRepository("sous-wrong-key", { action: "remove", updateCache: false }), { host });
  assert.deepEqual(removed.updated, ["apt_repository[sous-wrong-key]"]);
});

test("switching to the one-line format and a binary key replaces the other files", async () => {
  const declare = ({ aptRepository }: Resources) => void aptRepository("sous-signed", { uri: "file:/srv/signed", suites: ["./"], key: binaryKey, format: "list" });
  assert.deepEqual((await convergeWith(declare, { host })).updated, ["apt_repository[sous-signed]"]);
  assert.equal(readFileSync(box.path("/etc/apt/sources.list.d/sous-signed.list"), "utf8"), "# Managed by Sous: changes here are overwritten.\ndeb [signed-by=/etc/apt/keyrings/sous-signed.gpg] file:/srv/signed ./\n");
  assert.equal(existsSync(box.path("/etc/apt/sources.list.d/sous-signed.sources")), false);
  assert.equal(existsSync(box.path("/etc/apt/keyrings/sous-signed.asc")), false);
  assert.ok(readFileSync(box.path("/etc/apt/keyrings/sous-signed.gpg")).equals(binaryKey));
  assert.equal(candidate("sous-signed-tool"), "4.2-1");
  assert.deepEqual((await convergeWith(declare, { host })).updated, []);
});

test("remove deletes the source and its key, and apt forgets the repository's packages", async () => {
  writeFileSync(box.path("/etc/apt/sources.list.d/unrelated.list"), "# someone else's\n");
  const remove = ({ aptRepository }: Resources) => void aptRepository("sous-signed", { action: "remove" });
  const before = box.digest();
  assert.deepEqual((await convergeWith(remove, { host, dryRun: true })).updated, ["apt_repository[sous-signed]"]);
  assert.equal(box.digest(), before);
  assert.deepEqual((await convergeWith(remove, { host })).updated, ["apt_repository[sous-signed]"]);
  assert.equal(existsSync(box.path("/etc/apt/sources.list.d/sous-signed.list")), false);
  assert.equal(existsSync(box.path("/etc/apt/keyrings/sous-signed.gpg")), false);
  assert.ok(existsSync(box.path("/etc/apt/sources.list.d/unrelated.list")));
  assert.doesNotMatch(box.run(["apt-cache", "policy", "sous-signed-tool"]), /file:\/srv\/signed/);
  assert.deepEqual((await convergeWith(remove, { host })).updated, []);
});

test("declarations that cannot work are refused", async () => {
  await assert.rejects(convergeWith(({ aptRepository }) => void aptRepository("x", { suites: ["bookworm"] }), { host }), /add needs the repository's URI/);
  await assert.rejects(convergeWith(({ aptRepository }) => void aptRepository("x", { uri: "http://a b" }), { host }), /one word/);
  await assert.rejects(convergeWith(({ aptRepository }) => void aptRepository("x", { uri: "http://a", key: "not a key" }), { host }), /ASCII-armored/);
});

test("temporary files that killed writes of the source and its key left are removed by the next run, and only those", async () => {
  const declare = ({ aptRepository }: Resources) => void aptRepository("sous-left", { uri: "file:/srv/signed", suites: ["./"], key: goodKey, updateCache: false });
  assert.deepEqual((await convergeWith(declare, { host })).updated, ["apt_repository[sous-left]"]);
  const planted = ["/etc/apt/sources.list.d/sous-left.sources", "/etc/apt/keyrings/sous-left.asc"].map(leftoverOf);
  for (const { leftover, lookalike } of planted) {
    writeFileSync(box.path(leftover), "partial");
    writeFileSync(box.path(lookalike), "keep\n");
  }
  // Another source's leftover is not this resource's.
  const { leftover: others } = leftoverOf("/etc/apt/sources.list.d/unrelated.list");
  writeFileSync(box.path(others), "partial");
  const sources = readFileSync(box.path("/etc/apt/sources.list.d/sous-left.sources"));
  const cleaned = await convergeWith(declare, { host });
  assert.deepEqual(changedProperties(cleaned), { "apt_repository[sous-left]": ["leftovers"] });
  for (const { leftover, lookalike } of planted) {
    assert.equal(existsSync(box.path(leftover)), false, leftover);
    assert.ok(existsSync(box.path(lookalike)), `${lookalike} stays`);
  }
  assert.ok(existsSync(box.path(others)), "another source's temporary file stays");
  assert.ok(readFileSync(box.path("/etc/apt/sources.list.d/sous-left.sources")).equals(sources));
  assert.deepEqual((await convergeWith(declare, { host })).updated, []);
  // remove takes them too.
  writeFileSync(box.path(planted[0]!.leftover), "partial");
  await convergeWith(({ aptRepository }) => void aptRepository("sous-left", { action: "remove", updateCache: false }), { host });
  assert.equal(existsSync(box.path(planted[0]!.leftover)), false);
  for (const path of [others, ...planted.map(({ lookalike }) => lookalike)]) rmSync(box.path(path));
});
