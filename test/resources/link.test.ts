/** `link` against the real file system: symbolic and hard links, wrong targets, regular files. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { convergeTwice, convergeWith, eventsOf, scratch } from "../helpers.js";

test("a symbolic link converges, then nothing changes", async () => {
  const dir = scratch();
  const path = join(dir, "current");
  writeFileSync(join(dir, "release-1"), "1");
  await convergeTwice(({ link }) => void link(path, { to: "release-1" }), [`link[${path}]`]);
  assert.equal(readlinkSync(path), "release-1");
});

test("a symbolic link to the wrong target is replaced, and nothing is left beside it", async () => {
  const dir = scratch();
  const path = join(dir, "current");
  symlinkSync("release-1", path);
  const { first } = await convergeTwice(({ link }) => void link(path, { to: "release-2" }), [`link[${path}]`]);
  assert.equal(readlinkSync(path), "release-2");
  assert.deepEqual(eventsOf(first.events, "resource:updated")[0]!.changes[0], { property: "to", from: "release-1", to: "release-2" });
  assert.deepEqual(readdirSync(dir), ["current"]);
});

test("a symbolic link's owner is set on the link itself", async () => {
  const dir = scratch();
  const path = join(dir, "owned");
  writeFileSync(join(dir, "target"), "t");
  await convergeTwice(({ link }) => void link(path, { to: join(dir, "target"), owner: "nobody", group: 65534 }), [`link[${path}]`]);
  assert.equal(lstatSync(path).uid, 65534);
  assert.equal(lstatSync(path).gid, 65534);
  assert.equal(statSync(join(dir, "target")).uid, 0, "the target keeps its owner");
});

test("a link refuses to replace a regular file without force, and replaces it with force", async () => {
  const dir = scratch();
  const path = join(dir, "config");
  writeFileSync(path, "precious\n");
  writeFileSync(join(dir, "shared"), "shared\n");
  const refused = await convergeWith(({ link }) => void link(path, { to: "shared" }));
  assert.equal(refused.result.status, "failed");
  assert.match(eventsOf(refused.events, "resource:failed")[0]!.error.message, /regular file; set force: true/);
  assert.equal(readFileSync(path, "utf8"), "precious\n");
  assert.ok(lstatSync(path).isFile());

  await convergeTwice(({ link }) => void link(path, { to: "shared", force: true }), [`link[${path}]`]);
  assert.equal(readlinkSync(path), "shared");
});

test("a hard link converges, then nothing changes; a different file at the path needs force", async () => {
  const dir = scratch();
  const target = join(dir, "data");
  const path = join(dir, "alias");
  writeFileSync(target, "content\n");
  await convergeTwice(({ link }) => void link(path, { to: target, linkType: "hard" }), [`link[${path}]`]);
  assert.equal(lstatSync(path).ino, lstatSync(target).ino);

  const other = join(dir, "other");
  writeFileSync(other, "other\n");
  const refused = await convergeWith(({ link }) => void link(other, { to: target, linkType: "hard" }));
  assert.equal(refused.result.status, "failed");
  assert.equal(readFileSync(other, "utf8"), "other\n");
  await convergeTwice(({ link }) => void link(other, { to: target, linkType: "hard", force: true }), [`link[${other}]`]);
  assert.equal(lstatSync(other).ino, lstatSync(target).ino);
});

test("a hard link to a missing target fails, naming the target", async () => {
  const dir = scratch();
  const { result, events } = await convergeWith(({ link }) => void link(join(dir, "alias"), { to: join(dir, "absent"), linkType: "hard" }));
  assert.equal(result.status, "failed");
  assert.match(eventsOf(events, "resource:failed")[0]!.error.message, /absent does not exist/);
});

test("link delete removes a symbolic link, not a regular file of the same name", async () => {
  const dir = scratch();
  const path = join(dir, "current");
  symlinkSync("release-1", path);
  await convergeTwice(({ link }) => void link(path, { to: "release-1", action: "delete" }), [`link[${path}]`]);
  assert.equal(existsSync(path), false);

  const regular = join(dir, "regular");
  writeFileSync(regular, "data\n");
  const { updated } = await convergeWith(({ link }) => void link(regular, { to: "x", action: "delete" }));
  assert.deepEqual(updated, []);
  assert.equal(readFileSync(regular, "utf8"), "data\n");
});

test("a link whose directory is missing fails naming that directory", async () => {
  const dir = scratch();
  const { result, events } = await convergeWith(({ link }) => void link(join(dir, "missing", "current"), { to: "x" }));
  assert.equal(result.status, "failed");
  const message = eventsOf(events, "resource:failed")[0]!.error.message;
  assert.ok(message.includes(`its directory ${join(dir, "missing")} does not exist`), message);
});
