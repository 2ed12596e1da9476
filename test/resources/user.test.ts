import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import type { Resources } from "../../src/dsl.js";
import { convergeWith } from "../helpers.js";
import { createDisposableRoot } from "../support/disposable-root.js";
import { changedProperties, leftoverOf } from "../support/leftovers.js";

const box = createDisposableRoot();
const host = box.host;

const HASH = "$6$soussalt$Jq0kWq3Ykq2c8mS0m1u6dQz5sY0bR2o3Zp1QxAq7Vd1JtS8yLrKc0mN9fG4hW2eT6uI5oP3aZ7xC1vB8nM0lK.";
const KEYS = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBsous1 alice@laptop", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBsous2 alice@desk"];

function passwdLine(name: string): string | undefined {
  return readFileSync(box.path("/etc/passwd"), "utf8").split("\n").find((line) => line.startsWith(`${name}:`));
}
function shadowField(name: string): string | undefined {
  return readFileSync(box.path("/etc/shadow"), "utf8").split("\n").find((line) => line.startsWith(`${name}:`))?.split(":")[1];
}
function groupsOf(name: string): string[] {
  return box.run(["id", "-Gn", name]).trim().split(" ").slice(1).sort();
}

test("a user with groups, home, password and SSH keys is created once; the second run changes nothing", async () => {
  const declare = ({ group, user }: Resources) => {
    group("sous-deploy");
    group("sous-web");
    user("alice", {
      uid: 5001,
      comment: "Alice Example",
      home: "/home/alice",
      manageHome: true,
      shell: "/bin/bash",
      groups: ["sous-deploy", "sous-web"],
      password: HASH,
      sshAuthorizedKeys: KEYS,
    });
  };
  const before = box.digest();
  const preview = await convergeWith(declare, { host, dryRun: true });
  assert.deepEqual(preview.updated, ["group[sous-deploy]", "group[sous-web]", "user[alice]"]);
  assert.equal(box.digest(), before, "a dry run changes nothing");

  const first = await convergeWith(declare, { host });
  assert.equal(first.result.status, "converged", JSON.stringify(first.events.filter((e) => e.type === "resource:failed")));
  assert.equal(passwdLine("alice"), "alice:x:5001:5001:Alice Example:/home/alice:/bin/bash");
  assert.equal(shadowField("alice"), HASH);
  assert.deepEqual(groupsOf("alice"), ["sous-deploy", "sous-web"]);
  assert.equal(readFileSync(box.path("/home/alice/.ssh/authorized_keys"), "utf8"), `${KEYS.join("\n")}\n`);
  const ssh = statSync(box.path("/home/alice/.ssh"));
  const keys = statSync(box.path("/home/alice/.ssh/authorized_keys"));
  assert.deepEqual([ssh.mode & 0o7777, ssh.uid, ssh.gid, keys.mode & 0o7777, keys.uid], [0o700, 5001, 5001, 0o600, 5001]);
  assert.ok(existsSync(box.path("/home/alice/.bashrc")), "the home came from /etc/skel");
  assert.equal(readFileSync("/etc/passwd", "utf8").includes("\nalice:x:5001"), false, "this machine has no such user");
  assert.equal(JSON.stringify(first.events).includes(HASH), false, "the hash appears in no event");

  const second = await convergeWith(declare, { host });
  assert.deepEqual(second.updated, []);
});

test("modify: shell, comment and the exact set of groups change; appended groups keep the others", async () => {
  const exact = ({ user }: Resources) => void user("alice", { shell: "/bin/sh", comment: "Alice E.", groups: ["sous-web"] });
  assert.deepEqual((await convergeWith(exact, { host })).updated, ["user[alice]"]);
  assert.equal(passwdLine("alice"), "alice:x:5001:5001:Alice E.:/home/alice:/bin/sh");
  assert.deepEqual(groupsOf("alice"), ["sous-web"]);
  assert.deepEqual((await convergeWith(exact, { host })).updated, []);

  const append = ({ user }: Resources) => void user("alice", { action: "modify", groups: ["sous-deploy"], appendGroups: true });
  assert.deepEqual((await convergeWith(append, { host })).updated, ["user[alice]"]);
  assert.deepEqual(groupsOf("alice"), ["sous-deploy", "sous-web"]);
  assert.deepEqual((await convergeWith(append, { host })).updated, []);
});

test("SSH keys: loose modes are repaired, a changed key list shows a diff", async () => {
  chmodSync(box.path("/home/alice/.ssh/authorized_keys"), 0o644);
  const same = ({ user }: Resources) => void user("alice", { sshAuthorizedKeys: KEYS });
  assert.deepEqual((await convergeWith(same, { host })).updated, ["user[alice]"]);
  assert.equal(statSync(box.path("/home/alice/.ssh/authorized_keys")).mode & 0o777, 0o600);
  const fewer = ({ user }: Resources) => void user("alice", { sshAuthorizedKeys: [KEYS[1]!] });
  const changed = await convergeWith(fewer, { host });
  const event = changed.events.find((e) => e.type === "resource:updated") as { diff?: string };
  assert.match(event.diff ?? "", /^-ssh-ed25519 \S+ alice@laptop$/m);
  assert.equal(readFileSync(box.path("/home/alice/.ssh/authorized_keys"), "utf8"), `${KEYS[1]}\n`);
  assert.deepEqual((await convergeWith(fewer, { host })).updated, []);
});

test("lock and unlock keep the hash and converge once each", async () => {
  const lock = ({ user }: Resources) => void user("alice", { action: "lock" });
  assert.deepEqual((await convergeWith(lock, { host })).updated, ["user[alice]"]);
  assert.equal(shadowField("alice"), `!${HASH}`);
  assert.deepEqual((await convergeWith(lock, { host })).updated, []);
  assert.deepEqual((await convergeWith(({ user }) => void user("alice", { password: HASH }), { host })).updated, [], "the same hash on a locked account is no change");
  const unlock = ({ user }: Resources) => void user("alice", { action: "unlock" });
  assert.deepEqual((await convergeWith(unlock, { host })).updated, ["user[alice]"]);
  assert.equal(shadowField("alice"), HASH);
  assert.deepEqual((await convergeWith(unlock, { host })).updated, []);
});

test("a managed home moves with the account; remove deletes account and home", async () => {
  const moved = ({ user }: Resources) => void user("alice", { home: "/srv/alice", manageHome: true });
  assert.deepEqual((await convergeWith(moved, { host })).updated, ["user[alice]"]);
  assert.ok(existsSync(box.path("/srv/alice/.ssh/authorized_keys")));
  assert.equal(existsSync(box.path("/home/alice")), false);
  assert.deepEqual((await convergeWith(moved, { host })).updated, []);

  const remove = ({ user }: Resources) => void user("alice", { action: "remove", manageHome: true });
  const before = box.digest();
  assert.deepEqual((await convergeWith(remove, { host, dryRun: true })).updated, ["user[alice]"]);
  assert.equal(box.digest(), before);
  assert.deepEqual((await convergeWith(remove, { host })).updated, ["user[alice]"]);
  assert.equal(passwdLine("alice"), undefined);
  assert.equal(existsSync(box.path("/srv/alice")), false);
  assert.deepEqual((await convergeWith(remove, { host })).updated, []);
});

test("a group named after the user, declared first, becomes its primary group", async () => {
  const declare = ({ group, user }: Resources) => {
    group("sous-carol", { gid: 5500 });
    user("sous-carol", { uid: 5501 });
  };
  const first = await convergeWith(declare, { host });
  assert.equal(first.result.status, "converged", JSON.stringify(first.events.filter((e) => e.type === "resource:failed")));
  assert.equal(passwdLine("sous-carol"), "sous-carol:x:5501:5500::/home/sous-carol:/bin/sh");
  assert.deepEqual((await convergeWith(declare, { host })).updated, []);
});

test("mistakes are reported clearly: modify of a missing user, a clear-text password, a missing group", async () => {
  const missing = await convergeWith(({ user }) => void user("sous-ghost", { action: "modify", shell: "/bin/sh" }), { host });
  assert.match(JSON.stringify(missing.events), /user sous-ghost does not exist \(modify changes existing users only/);
  await assert.rejects(convergeWith(({ user }) => void user("bob", { password: "hunter2" }), { host }), /never a clear-text password/);
  const noGroup = await convergeWith(({ user }) => void user("sous-bob", { groups: ["sous-no-such-group"] }), { host });
  assert.equal(noGroup.result.status, "failed");
  assert.match(JSON.stringify(noGroup.events), /useradd/);
});

test("temporary files that killed writes of authorized_keys left are removed by the next run, and only those (never a folder or a link the user made)", async () => {
  const declare = ({ user }: Resources) => void user("sous-leftie", { manageHome: true, sshAuthorizedKeys: KEYS });
  await convergeWith(declare, { host });
  const { leftover, lookalike } = leftoverOf("/home/sous-leftie/.ssh/authorized_keys");
  writeFileSync(box.path(leftover), "ssh-ed25519 AAAA partial");
  writeFileSync(box.path(lookalike), "keep\n");
  // What the user may make in ~/.ssh under such a name is not a temporary file of ours.
  mkdirSync(box.path("/home/sous-leftie/.ssh/.authorized_keys.sous-abcdefabcdef"));
  symlinkSync("/etc/passwd", box.path("/home/sous-leftie/.ssh/.authorized_keys.sous-fedcbafedcba"));
  const cleaned = await convergeWith(declare, { host });
  assert.deepEqual(changedProperties(cleaned), { "user[sous-leftie]": ["leftovers"] });
  assert.equal(existsSync(box.path(leftover)), false);
  for (const kept of [lookalike, "/home/sous-leftie/.ssh/.authorized_keys.sous-abcdefabcdef"]) assert.ok(existsSync(box.path(kept)), `${kept} stays`);
  assert.ok(lstatSync(box.path("/home/sous-leftie/.ssh/.authorized_keys.sous-fedcbafedcba")).isSymbolicLink(), "the link stays");
  assert.equal(readFileSync(box.path("/home/sous-leftie/.ssh/authorized_keys"), "utf8"), `${KEYS.join("\n")}\n`);
  assert.deepEqual((await convergeWith(declare, { host })).updated, []);
  await convergeWith(({ user }) => void user("sous-leftie", { action: "remove", manageHome: true }), { host });
});
