/** `directory` against the real file system: converge twice, recursive create and delete, metadata. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { convergeTwice, convergeWith, eventsOf, scratch } from "../helpers.js";

test("directory create with recursive makes the parents, sets mode, owner and group, then nothing changes", async () => {
  const dir = scratch();
  const path = join(dir, "a", "b", "c");
  await convergeTwice(({ directory }) => void directory(path, { recursive: true, mode: "0750", owner: "nobody", group: "nogroup" }), [`directory[${path}]`]);
  const info = statSync(path);
  assert.ok(info.isDirectory());
  assert.equal(info.mode & 0o7777, 0o750, "the mode is exact, not filtered by the umask");
  assert.equal(info.uid, 65534);
  assert.equal(info.gid, 65534);
});

test("directory create without recursive refuses a missing parent", async () => {
  const dir = scratch();
  const path = join(dir, "missing", "child");
  const { result, events } = await convergeWith(({ directory }) => void directory(path));
  assert.equal(result.status, "failed");
  assert.match(eventsOf(events, "resource:failed")[0]!.error.message, /does not exist \(set recursive: true/);
  assert.equal(existsSync(join(dir, "missing")), false);
});

test("directory create fixes the mode of an existing directory", async () => {
  const dir = scratch();
  const path = join(dir, "existing");
  mkdirSync(path, { mode: 0o777 });
  await convergeTwice(({ directory }) => void directory(path, { mode: 0o700 }), [`directory[${path}]`]);
  assert.equal(statSync(path).mode & 0o7777, 0o700);
});

test("directory delete refuses a non-empty directory unless recursive, and removes it with recursive", async () => {
  const dir = scratch();
  const path = join(dir, "full");
  mkdirSync(join(path, "inner"), { recursive: true });
  writeFileSync(join(path, "inner", "data"), "keep\n");

  const refused = await convergeWith(({ directory }) => void directory(path, { action: "delete" }));
  assert.equal(refused.result.status, "failed");
  assert.match(eventsOf(refused.events, "resource:failed")[0]!.error.message, /not empty; set recursive: true/);
  assert.equal(readFileSync(join(path, "inner", "data"), "utf8"), "keep\n");

  await convergeTwice(({ directory }) => void directory(path, { action: "delete", recursive: true }), [`directory[${path}]`]);
  assert.equal(existsSync(path), false);
});

test("directory delete removes an empty directory without recursive", async () => {
  const dir = scratch();
  const path = join(dir, "empty");
  mkdirSync(path);
  await convergeTwice(({ directory }) => void directory(path, { action: "delete" }), [`directory[${path}]`]);
  assert.equal(existsSync(path), false);
});

test("directory refuses a path that is a regular file", async () => {
  const dir = scratch();
  const path = join(dir, "file");
  writeFileSync(path, "x");
  const { result, events } = await convergeWith(({ directory }) => void directory(path));
  assert.equal(result.status, "failed");
  assert.match(eventsOf(events, "resource:failed")[0]!.error.message, /is not a directory/);
  assert.equal(readFileSync(path, "utf8"), "x");
});

test("directory recursive create applies mode and owner to the leaf only; new parents stay traversable", async () => {
  const dir = scratch();
  const path = join(dir, "srv", "app", "secrets");
  await convergeTwice(({ directory }) => void directory(path, { recursive: true, mode: "0700", owner: "nobody" }), [`directory[${path}]`]);
  assert.equal(statSync(path).mode & 0o7777, 0o700);
  assert.equal(statSync(path).uid, 65534);
  for (const parent of [join(dir, "srv"), join(dir, "srv", "app")]) {
    assert.equal(statSync(parent).mode & 0o001, 0o001, `${parent} must stay traversable by others`);
    assert.equal(statSync(parent).uid, 0);
  }
});
