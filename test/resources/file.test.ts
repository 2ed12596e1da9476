/** `file` against the real file system: converge twice, each action, backups, sources, atomic writes. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { convergeTwice, convergeWith, eventsOf, scratch } from "../helpers.js";

test("file create: content, mode, owner and group converge, then nothing changes", async () => {
  const dir = scratch();
  const path = join(dir, "motd");
  const { first } = await convergeTwice(({ file }) => void file(path, { content: "hello\n", mode: "0640", owner: "nobody", group: "nogroup" }), [`file[${path}]`]);
  assert.equal(readFileSync(path, "utf8"), "hello\n");
  const info = statSync(path);
  assert.equal(info.mode & 0o7777, 0o640);
  assert.equal(info.uid, 65534);
  assert.equal(info.gid, 65534);
  assert.match(eventsOf(first.events, "resource:updated")[0]!.diff ?? "", /^\+hello$/m);
});

test("file create fixes only the metadata of a file whose content is right, and manages no content when none is given", async () => {
  const dir = scratch();
  const path = join(dir, "conf");
  writeFileSync(path, "keep me\n", { mode: 0o666 });
  const { first } = await convergeTwice(({ file }) => void file(path, { mode: 0o600, owner: 65534 }), [`file[${path}]`]);
  assert.equal(readFileSync(path, "utf8"), "keep me\n");
  assert.equal(statSync(path).mode & 0o7777, 0o600);
  assert.deepEqual(
    eventsOf(first.events, "resource:updated")[0]!.changes.map((c) => c.property),
    ["mode", "owner"],
  );
});

test("file create_if_missing creates an absent file and leaves an existing one alone", async () => {
  const dir = scratch();
  const absent = join(dir, "absent");
  const present = join(dir, "present");
  writeFileSync(present, "mine\n");
  await convergeTwice(
    ({ file }) => {
      file(absent, { action: "create_if_missing", content: "default\n" });
      file(present, { action: "create_if_missing", content: "default\n" });
    },
    [`file[${absent}]`],
  );
  assert.equal(readFileSync(absent, "utf8"), "default\n");
  assert.equal(readFileSync(present, "utf8"), "mine\n");
});

test("file delete removes the file (keeping a backup), then nothing changes", async () => {
  const dir = scratch();
  const backupDir = join(dir, "backups");
  const path = join(dir, "old.conf");
  writeFileSync(path, "old content\n");
  await convergeTwice(({ file }) => void file(path, { action: "delete" }), [`file[${path}]`], { backupDir });
  assert.equal(existsSync(path), false);
  const kept = readdirSync(join(backupDir, dir));
  assert.equal(kept.length, 1);
  assert.equal(readFileSync(join(backupDir, dir, kept[0]!), "utf8"), "old content\n");
});

test("file touch creates a missing file, then updates the modification time on every run", async () => {
  const dir = scratch();
  const path = join(dir, "stamp");
  const declare = ({ file }: import("../../src/dsl.js").Resources) => void file(path, { action: "touch" });
  const first = await convergeWith(declare);
  assert.deepEqual(first.updated, [`file[${path}]`]);
  assert.equal(readFileSync(path, "utf8"), "");
  const past = new Date("2001-01-01T00:00:00Z");
  utimesSync(path, past, past);
  const second = await convergeWith(declare);
  // touch is an action that always acts, as in Chef: it is the one file action that is never "up to date".
  assert.deepEqual(second.updated, [`file[${path}]`]);
  assert.ok(statSync(path).mtimeMs > past.getTime());
});

test("file backups keep the configured number of previous versions, newest kept", async () => {
  const dir = scratch();
  const backupDir = join(dir, "backups");
  const path = join(dir, "app.conf");
  for (let version = 1; version <= 13; version++) {
    const { updated } = await convergeWith(({ file }) => void file(path, { content: `version ${version}\n`, backup: 3 }), { backupDir });
    assert.deepEqual(updated, [`file[${path}]`]);
  }
  const kept = readdirSync(join(backupDir, dir)).map((name) => readFileSync(join(backupDir, dir, name), "utf8"));
  assert.deepEqual(kept.sort(), ["version 10\n", "version 11\n", "version 12\n"]);

  const none = join(dir, "unbacked.conf");
  writeFileSync(none, "before\n");
  await convergeWith(({ file }) => void file(none, { content: "after\n", backup: 0 }), { backupDir });
  assert.equal(existsSync(join(backupDir, dir, "unbacked.conf.sous-")), false);
  assert.deepEqual(readdirSync(join(backupDir, dir)).filter((name) => name.startsWith("unbacked")), []);
});

test("file source: content from the cookbook's files/ folder", async () => {
  const dir = scratch();
  const cookbookDir = join(dir, "cookbook");
  mkdirSync(join(cookbookDir, "files", "etc"), { recursive: true });
  writeFileSync(join(cookbookDir, "files", "etc", "motd"), "from the cookbook\n");
  const path = join(dir, "motd");
  await convergeTwice(({ file }) => void file(path, { source: "etc/motd" }), [`file[${path}]`], { cookbookDir });
  assert.equal(readFileSync(path, "utf8"), "from the cookbook\n");

  const outside = await convergeWith(({ file }) => void file(join(dir, "x"), { source: "../../etc/passwd" }), { cookbookDir });
  assert.equal(outside.result.status, "failed");
  assert.match(eventsOf(outside.events, "resource:failed")[0]!.error.message, /outside the cookbook's files\/ folder/);

  const missing = await convergeWith(({ file }) => void file(join(dir, "y"), { source: "nope" }), { cookbookDir });
  assert.match(eventsOf(missing.events, "resource:failed")[0]!.error.message, /has no files\/nope/);
});

test("file refuses to write through a symbolic link unless forceUnlink is set", async () => {
  const dir = scratch();
  const target = join(dir, "target");
  const path = join(dir, "conf");
  writeFileSync(target, "target content\n");
  symlinkSync(target, path);
  const refused = await convergeWith(({ file }) => void file(path, { content: "new\n" }));
  assert.equal(refused.result.status, "failed");
  assert.match(eventsOf(refused.events, "resource:failed")[0]!.error.message, /symbolic link.*forceUnlink/);
  assert.equal(readFileSync(target, "utf8"), "target content\n");

  await convergeTwice(({ file }) => void file(path, { content: "new\n", forceUnlink: true }), [`file[${path}]`]);
  assert.ok(lstatSync(path).isFile());
  assert.equal(readFileSync(path, "utf8"), "new\n");
  assert.equal(readFileSync(target, "utf8"), "target content\n");
});

function chattr(flag: "+i" | "-i", path: string): boolean {
  return spawnSync("chattr", [flag, path]).status === 0;
}

test("a write that fails at the rename leaves the old content and no temporary file", async (t) => {
  const dir = scratch();
  const path = join(dir, "config");
  writeFileSync(path, "old content\n");
  // An immutable file cannot be replaced, even by root: the atomic rename fails after the temp file is written.
  if (!chattr("+i", path)) return t.skip("chattr +i is not supported on this file system");
  try {
    const { result, events } = await convergeWith(({ file }) => void file(path, { content: "new content\n", backup: 0 }));
    assert.equal(result.status, "failed");
    assert.match(eventsOf(events, "resource:failed")[0]!.error.code, /EPERM/);
  } finally {
    chattr("-i", path);
  }
  assert.equal(readFileSync(path, "utf8"), "old content\n");
  assert.deepEqual(readdirSync(dir), ["config"]);
});

test("a write into a directory that became unwritable fails cleanly and leaves the old content", async (t) => {
  const dir = scratch();
  const sub = join(dir, "etc");
  mkdirSync(sub);
  const path = join(sub, "config");
  writeFileSync(path, "old content\n");
  if (!chattr("+i", sub)) return t.skip("chattr +i is not supported on this file system");
  try {
    const { result } = await convergeWith(({ file }) => void file(path, { content: "new content\n", backup: 0 }));
    assert.equal(result.status, "failed");
  } finally {
    chattr("-i", sub);
  }
  assert.equal(readFileSync(path, "utf8"), "old content\n");
  assert.deepEqual(readdirSync(sub), ["config"]);
});

test("an unknown owner fails with a message naming it, and nothing is written", async () => {
  const dir = scratch();
  const path = join(dir, "f");
  const { result, events } = await convergeWith(({ file }) => void file(path, { content: "x", owner: "no-such-user-sous" }));
  assert.equal(result.status, "failed");
  assert.match(eventsOf(events, "resource:failed")[0]!.error.message, /no-such-user-sous/);
  assert.equal(existsSync(path), false);
});

test("a setuid file keeps its mode when its owner changes", async () => {
  const dir = scratch();
  const path = join(dir, "helper");
  writeFileSync(path, "#!/bin/sh\n", { mode: 0o755 });
  chmodSync(path, 0o4755);
  // chown clears the setuid bit of an executable, even for root: the mode must be set after the owner.
  await convergeTwice(({ file }) => void file(path, { mode: "4755", owner: "nobody" }), [`file[${path}]`]);
  assert.equal(statSync(path).mode & 0o7777, 0o4755);
  assert.equal(statSync(path).uid, 65534);
});

test("a file whose directory is missing fails naming that directory, not a temporary file", async () => {
  const dir = scratch();
  const path = join(dir, "missing", "app.conf");
  const { result, events } = await convergeWith(({ file }) => void file(path, { content: "x" }));
  assert.equal(result.status, "failed");
  const message = eventsOf(events, "resource:failed")[0]!.error.message;
  assert.ok(message.includes(`its directory ${join(dir, "missing")} does not exist`), message);
  assert.doesNotMatch(message, /\.sous-/);
});
