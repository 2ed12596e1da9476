import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { Resources } from "../../src/dsl.js";
import { escapeMountField, fstabWith, parseMountTable } from "../../src/resources/mount.js";
import { convergeWith } from "../helpers.js";
import { changedProperties, leftoverOf } from "../support/leftovers.js";
import { startMachine } from "../support/machine.js";

const machine = await startMachine();
const backupDir = "/var/lib/sous/backup";
const converge = (declare: (resources: Resources) => void, dryRun = false) => convergeWith(declare, { host: machine.host, backupDir, dryRun });
const mountedAt = (point: string) => parseMountTable(machine.run(["cat", "/proc/self/mounts"])).filter((e) => e.mountPoint === point).at(-1);
const ourMounts = () => readFileSync("/proc/self/mounts", "utf8");

test("mount tables and fstab parse with escapes; fstab entries are replaced in place", () => {
  assert.deepEqual(parseMountTable("tmpfs /mnt/a\\040b tmpfs rw,size=1k 0 0\n# comment\n"), [{ device: "tmpfs", mountPoint: "/mnt/a b", fstype: "tmpfs", options: "rw,size=1k" }]);
  assert.equal(escapeMountField("/mnt/a b"), "/mnt/a\\040b");
  const fstab = "# /etc/fstab\nUUID=1 / ext4 defaults 0 1\nold /data tmpfs defaults 0 0\n";
  assert.equal(fstabWith(fstab, "/data", "new\t/data\ttmpfs\tsize=1m\t0\t0"), "# /etc/fstab\nUUID=1 / ext4 defaults 0 1\nnew\t/data\ttmpfs\tsize=1m\t0\t0\n");
  assert.equal(fstabWith(fstab, "/data", undefined), "# /etc/fstab\nUUID=1 / ext4 defaults 0 1\n");
});

test("a tmpfs is mounted and put in fstab; again changes nothing; this machine's mounts are untouched", async () => {
  const declare = ({ mount }: Resources) => {
    mount("/mnt/sous data", { device: "sous-data", fstype: "tmpfs", options: ["size=16m", "mode=0750"], action: ["mount", "enable"] });
  };
  const before = machine.digest("/etc", "/mnt");
  const dry = await converge(declare, true);
  assert.equal(dry.updated.length, 2);
  assert.equal(machine.digest("/etc", "/mnt"), before, "the dry run wrote nothing");
  assert.equal(mountedAt("/mnt/sous data"), undefined, "the dry run mounted nothing");

  const first = await converge(declare);
  assert.equal(first.result.status, "converged", JSON.stringify(first.events.at(-1)));
  assert.equal(first.updated.length, 2);
  const mounted = mountedAt("/mnt/sous data");
  assert.equal(mounted?.device, "sous-data");
  assert.equal(mounted?.fstype, "tmpfs");
  assert.match(mounted!.options, /size=16384k/);
  assert.match(machine.run(["cat", "/etc/fstab"]), /^sous-data\t\/mnt\/sous\\040data\ttmpfs\tsize=16m,mode=0750\t0\t0$/m);
  assert.equal(machine.run(["findmnt", "--fstab", "-n", "-o", "SOURCE", "/mnt/sous data"]).trim(), "sous-data", "findmnt reads the entry back");
  assert.deepEqual((await converge(declare)).updated, []);
  // Other tests add namespaces meanwhile: only what this test mounts must never show here.
  assert.doesNotMatch(ourMounts(), /\/mnt\/sous/, "this machine's mount table is untouched");
});

test("a different device is mounted in place of the old one; remount acts when asked; umount and disable undo it all", async () => {
  const at = "/mnt/sous-swap";
  await converge(({ mount }) => mount(at, { device: "sous-first", fstype: "tmpfs" }));
  assert.equal(mountedAt(at)?.device, "sous-first");
  const second = ({ mount }: Resources) => {
    mount(at, { device: "sous-second", fstype: "tmpfs", options: ["size=8m"], action: ["mount", "enable"] });
  };
  const swapped = await converge(second);
  assert.deepEqual(
    (swapped.events.find((e) => e.type === "resource:updated") as { changes: unknown[] }).changes,
    [{ property: "mounted", from: "sous-first (tmpfs)", to: "sous-second (tmpfs)" }],
  );
  assert.equal(mountedAt(at)?.device, "sous-second");
  assert.equal(parseMountTable(machine.run(["cat", "/proc/self/mounts"])).filter((e) => e.mountPoint === at).length, 1, "the old file system was unmounted");

  const remount = ({ mount }: Resources) => {
    mount(at, { device: "sous-second", fstype: "tmpfs", options: ["size=4m"], action: "remount" });
  };
  assert.equal((await converge(remount)).updated.length, 1);
  assert.match(mountedAt(at)!.options, /size=4096k/);

  const undo = ({ mount }: Resources) => {
    mount(at, { action: ["umount", "disable"] });
  };
  assert.equal((await converge(undo)).updated.length, 2);
  assert.equal(mountedAt(at), undefined);
  assert.doesNotMatch(machine.run(["cat", "/etc/fstab"]), /sous-second/);
  assert.deepEqual((await converge(undo)).updated, []);
  assert.equal((await converge(remount)).updated.length, 0, "nothing mounted: nothing to remount");
});

test("a bind mount is recognised by what it binds, so converging it again changes nothing", async () => {
  machine.run(["sh", "-c", "mkdir -p /srv/sous-source /srv/sous-other && echo bound > /srv/sous-source/marker"]);
  const declare = (source: string) => ({ mount }: Resources) => {
    mount("/mnt/sous-bind", { device: source, fstype: "none", options: ["bind"] });
  };
  const first = await converge(declare("/srv/sous-source"));
  assert.equal(first.result.status, "converged", JSON.stringify(first.events.at(-1)));
  assert.equal(machine.run(["cat", "/mnt/sous-bind/marker"]), "bound\n");
  assert.deepEqual((await converge(declare("/srv/sous-source"))).updated, []);
  // Another source is bound in its place.
  assert.equal((await converge(declare("/srv/sous-other"))).updated.length, 1);
  assert.equal(machine.try(["test", "-e", "/mnt/sous-bind/marker"]).status, 1);
  assert.deepEqual((await converge(declare("/srv/sous-other"))).updated, []);
  assert.doesNotMatch(ourMounts(), /\/mnt\/sous/);
});

test("temporary files that killed writes of fstab left are removed by the next enable, and only those; then nothing changes", async () => {
  const declare = ({ mount }: Resources) => void mount("/mnt/sous-left", { device: "sous-left", fstype: "tmpfs", action: "enable" });
  await converge(declare);
  const { leftover, lookalike } = leftoverOf("/etc/fstab");
  machine.run(["sh", "-c", `echo partial > ${leftover}; echo keep > ${lookalike}`]);
  const dry = await converge(declare, true);
  assert.deepEqual(changedProperties(dry), { "mount[/mnt/sous-left]": ["leftovers"] });
  assert.equal(machine.try(["test", "-e", leftover]).status, 0, "a dry run removes nothing");
  const fstab = machine.run(["cat", "/etc/fstab"]);
  assert.deepEqual(changedProperties(await converge(declare)), { "mount[/mnt/sous-left]": ["leftovers"] });
  assert.equal(machine.try(["test", "-e", leftover]).status, 1);
  assert.equal(machine.try(["test", "-e", lookalike]).status, 0, "a name that only looks alike stays");
  assert.equal(machine.run(["cat", "/etc/fstab"]), fstab, "fstab, already right, is left as it was");
  assert.deepEqual((await converge(declare)).updated, []);
  // A mount without enable or disable never writes fstab: it leaves fstab's folder alone.
  machine.run(["sh", "-c", `echo partial > ${leftover}`]);
  assert.deepEqual((await converge(({ mount }) => void mount("/mnt/sous-left", { action: "umount" }))).updated, []);
  assert.equal(machine.try(["test", "-e", leftover]).status, 0);
  await converge(({ mount }) => void mount("/mnt/sous-left", { action: "disable" }));
  assert.equal(machine.try(["test", "-e", leftover]).status, 1, "disable writes fstab: it removes them too");
  machine.run(["rm", "-f", lookalike]);
});
