/** Temporary files that killed converges left beside a managed file or a file `line` edits: the next converge removes its own, and only those. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isAtomicTempOf } from "../../src/host/host.js";
import type { Resources } from "../../src/dsl.js";
import { convergeTwice, convergeWith, scratch } from "../helpers.js";

/** Starts an atomic write of `megabytes` to `path` in another process and SIGKILLs it once its temporary file exists. */
async function killedWrite(path: string, megabytes: number): Promise<void> {
  const dir = join(path, "..");
  const name = path.slice(dir.length + 1);
  const before = new Set(readdirSync(dir));
  const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "fixtures/atomic-write.ts"), path, String(megabytes)], { stdio: "ignore" });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const deadline = Date.now() + 20_000;
  while (!readdirSync(dir).some((entry) => !before.has(entry) && isAtomicTempOf(entry, name))) {
    if (Date.now() > deadline || child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  child.kill("SIGKILL");
  await exited;
}

test("12 converges killed while writing leave temp files; the next converge removes those of its path only, then nothing changes", { timeout: 120_000 }, async () => {
  const dir = scratch();
  const path = join(dir, "big.conf");
  for (let i = 0; i < 12; i++) await killedWrite(path, 64);
  const leftovers = readdirSync(dir).filter((entry) => isAtomicTempOf(entry, "big.conf"));
  assert.ok(leftovers.length >= 10, `${leftovers.length} of 12 killed writes left their temporary file`);
  // Not ours: another file's temp file, a name that only looks alike, and a user's own dotfile.
  const others = [".other.conf.sous-0123456789ab", ".big.conf.sous-notours", ".big.conf.sous-0123456789abc", ".big.conf"];
  for (const other of others) writeFileSync(join(dir, other), "keep\n");

  const dry = await convergeWith(({ file }) => void file(path, { content: "small\n" }), { dryRun: true });
  assert.equal(readdirSync(dir).filter((entry) => isAtomicTempOf(entry, "big.conf")).length, leftovers.length, "a dry run removes nothing");
  assert.ok(JSON.stringify(dry.events).includes('"leftovers"'), "the dry run shows the leftovers it would remove");

  await convergeTwice(({ file }) => void file(path, { content: "small\n" }), [`file[${path}]`]);
  assert.deepEqual(readdirSync(dir).filter((entry) => isAtomicTempOf(entry, "big.conf")), []);
  for (const other of others) assert.ok(existsSync(join(dir, other)), `${other} stays`);
  assert.equal(readFileSync(path, "utf8"), "small\n");
});

test("leftovers beside an up-to-date file are removed by a run that changes nothing else, and by a delete", async () => {
  const dir = scratch();
  const path = join(dir, "app.conf");
  await convergeWith(({ file }) => void file(path, { content: "v1\n" }));
  await killedWrite(path, 64);
  assert.equal(readdirSync(dir).filter((entry) => isAtomicTempOf(entry, "app.conf")).length, 1);
  await convergeTwice(({ file }) => void file(path, { content: "v1\n" }), [`file[${path}]`]);
  assert.deepEqual(readdirSync(dir).filter((entry) => entry !== "app.conf"), []);
  await killedWrite(path, 64);
  await convergeTwice(({ file }) => void file(path, { action: "delete" }), [`file[${path}]`]);
  assert.deepEqual(readdirSync(dir), []);
});

test("line: converges killed while writing leave temp files; the next converge removes them with its edit, then nothing changes, and leftovers alone are a change", { timeout: 120_000 }, async () => {
  const dir = scratch();
  const path = join(dir, "hosts");
  const original = "127.0.0.1 localhost\n";
  for (let i = 0; i < 4; i++) await killedWrite(path, 64);
  const leftovers = () => readdirSync(dir).filter((entry) => isAtomicTempOf(entry, "hosts"));
  assert.ok(leftovers().length >= 3, `${leftovers().length} of 4 killed writes left their temporary file`);
  // A kill that came after the rename left a whole file: the target starts again as it was.
  writeFileSync(path, original);
  const other = join(dir, ".hosts.sous-notours");
  writeFileSync(other, "keep\n");
  const declare = ({ line }: Resources) => void line(path, { line: "10.0.0.1 db" });

  const dry = await convergeWith(declare, { dryRun: true });
  assert.ok(leftovers().length >= 3, "a dry run removes nothing");
  assert.ok(JSON.stringify(dry.events).includes('"leftovers"'), "the dry run shows the leftovers it would remove");
  await convergeTwice(declare, [`line[${path}]`]);
  assert.deepEqual(leftovers(), []);
  assert.ok(existsSync(other), "a file that only looks like a temporary file stays");
  assert.equal(readFileSync(path, "utf8"), `${original}10.0.0.1 db\n`);

  // The line is there already: the leftovers of a killed write are the only change.
  await killedWrite(path, 64);
  writeFileSync(path, `${original}10.0.0.1 db\n`);
  assert.equal(leftovers().length, 1);
  await convergeTwice(declare, [`line[${path}]`]);
  assert.deepEqual(leftovers(), []);
  // absent on a file that is gone: its leftovers still go.
  await killedWrite(path, 64);
  rmSync(path, { force: true });
  await convergeTwice(({ line }: Resources) => void line(path, { line: "10.0.0.1 db", action: "absent" }), [`line[${path}]`]);
  assert.deepEqual(readdirSync(dir), [".hosts.sous-notours"]);
});

test("a run killed while it backed up the previous version left a temporary file in the backup folder: the next run removes it, and only it", async () => {
  const dir = scratch();
  const backupDir = scratch("sous-test-backups-");
  const path = join(dir, "app.conf");
  await convergeWith(({ file }) => void file(path, { content: "v1\n" }), { backupDir });
  const mirror = join(backupDir, dir);
  mkdirSync(mirror, { recursive: true });
  // What a kill inside the backup's atomic write leaves, beside look-alikes that are not ours:
  // a backup (not a temporary file), another file's backup's temporary file, and a bad stamp.
  const leftover = ".app.conf.sous-20261204T012345Z.1.sous-0123456789ab";
  const others = ["app.conf.sous-20261204T012345Z", ".other.conf.sous-20261204T012345Z.sous-0123456789ab", ".app.conf.sous-yesterday.sous-0123456789ab", ".app.conf.sous-20261204T012345Z.sous-notours"];
  for (const name of [leftover, ...others]) writeFileSync(join(mirror, name), "partial");
  const dry = await convergeWith(({ file }) => void file(path, { content: "v1\n" }), { backupDir, dryRun: true });
  assert.ok(JSON.stringify(dry.events).includes(leftover), "the dry run names it");
  await convergeTwice(({ file }) => void file(path, { content: "v1\n" }), [`file[${path}]`], { backupDir });
  assert.deepEqual(readdirSync(mirror).sort(), [...others].sort());
  // line backs up too.
  writeFileSync(join(mirror, leftover), "partial");
  await convergeTwice(({ line }) => void line(path, { line: "v2" }), [`line[${path}]`], { backupDir });
  assert.equal(existsSync(join(mirror, leftover)), false);
});
