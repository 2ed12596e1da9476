import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { LocalHost } from "../../src/host/local.js";
import { CommandFailedError, run } from "../../src/host/host.js";
import { ChrootHost } from "../../src/host/chroot.js";
import { convergeWith } from "../helpers.js";
import { createDisposableRoot } from "../support/disposable-root.js";
import { hostContract } from "./contract.js";

const box = createDisposableRoot();
const host = box.host;

hostContract("ChrootHost", () => ({ host, dir: "/srv/sous-contract" }));

test("commands run inside the root, as the given user, in the given directory", async () => {
  await host.writeFileAtomic("/etc/sous-chroot-marker", "inside\n");
  assert.equal(existsSync("/etc/sous-chroot-marker"), false, "the real /etc is untouched");
  assert.equal((await run(host, ["cat", "/etc/sous-chroot-marker"])).stdout, "inside\n");
  assert.equal((await run(host, ["id", "-u"], { user: "nobody" })).stdout.trim(), "65534");
  assert.equal((await run(host, ["id", "-gn"], { user: "nobody" })).stdout.trim(), "nogroup");
  assert.equal((await run(host, ["pwd"], { cwd: "/var/lib" })).stdout.trim(), "/var/lib");
  assert.equal((await run(host, { shell: 'echo "$0:$(pwd)"' }, { cwd: "/etc" })).stdout.trim(), "/bin/sh:/etc");
  assert.equal((await run(host, ["cat"], { input: "from stdin" })).stdout, "from stdin");
  assert.equal((await run(host, { shell: "echo $SOUS_VALUE" }, { env: { SOUS_VALUE: "passed" } })).stdout.trim(), "passed");
});

test("results read as the command that was asked for, with secrets masked", async () => {
  const result = await host.exec(["sh", "-c", "echo hunter2 >&2; exit 3"], { secrets: ["hunter2"] });
  assert.equal(result.exitCode, 3);
  assert.equal(result.display, "sh -c 'echo *** >&2; exit 3'");
  await assert.rejects(run(host, ["false"]), (error: unknown) => error instanceof CommandFailedError && error.message === "command `false` exited with code 1");
  assert.equal((await host.exec(["/no/such/program"])).exitCode, 127);
  assert.equal((await host.exec(["pwd"], { cwd: "/no/such/dir" })).exitCode, 127);
  const slow = await host.exec(["sleep", "30"], { timeoutMs: 200 });
  assert.equal(slow.timedOut, true);
});

test("absolute and relative links resolve inside the root, never on this machine", async () => {
  mkdirSync(box.path("/var/sous-target"), { recursive: true });
  writeFileSync(box.path("/var/sous-target/data"), "root's copy\n");
  symlinkSync("/var/sous-target", box.path("/opt/sous-abs"));
  symlinkSync("../../../../../../var/sous-target/data", box.path("/opt/sous-rel"));
  assert.equal((await host.tryReadFile("/opt/sous-abs/data"))?.toString(), "root's copy\n");
  assert.equal((await host.tryReadFile("/opt/sous-rel"))?.toString(), "root's copy\n");
  assert.equal((await host.tryReadFile("/../../../var/sous-target/data"))?.toString(), "root's copy\n");
  assert.equal((await host.tryLstat("/opt/sous-abs"))?.type, "symlink");
  assert.equal((await host.tryStat("/opt/sous-abs"))?.type, "directory");
  assert.equal(await host.readlink("/opt/sous-abs"), "/var/sous-target");
  assert.equal(await host.tryStat("/opt/sous-abs/missing/deeper"), undefined);

  await host.writeFileAtomic("/opt/sous-abs/written", "through a link\n", { mode: 0o600 });
  assert.equal(readFileSync(box.path("/var/sous-target/written"), "utf8"), "through a link\n");
  assert.equal(lstatSync(box.path("/var/sous-target/written")).mode & 0o777, 0o600);
  await host.mkdir("/opt/sous-abs/a/b/c", { recursive: true });
  assert.ok(lstatSync(box.path("/var/sous-target/a/b/c")).isDirectory());
  assert.equal(existsSync("/var/sous-target"), false, "nothing was written outside the root");

  symlinkSync("sous-loop-b", box.path("/opt/sous-loop-a"));
  symlinkSync("sous-loop-a", box.path("/opt/sous-loop-b"));
  await assert.rejects(host.tryReadFile("/opt/sous-loop-a"), /ELOOP/);
  await assert.rejects(host.remove("/"), /refusing to remove the root/);
});

test("file operations: rename, hard link, chmod, lchown, readdir, remove", async () => {
  await host.mkdir("/srv/sous-ops", { mode: 0o750 });
  await host.writeFileAtomic("/srv/sous-ops/one", "1");
  await host.rename("/srv/sous-ops/one", "/srv/sous-ops/two");
  await host.hardlink("/srv/sous-ops/two", "/srv/sous-ops/three");
  await host.symlink("/srv/sous-ops/two", "/srv/sous-ops/link");
  await host.chmod("/srv/sous-ops/two", 0o640);
  await host.lchown("/srv/sous-ops/two", 65534, 65534);
  assert.deepEqual((await host.readdir("/srv/sous-ops")).sort(), ["link", "three", "two"]);
  const stat = await host.tryStat("/srv/sous-ops/link");
  assert.deepEqual([stat?.mode, stat?.uid, stat?.nlink], [0o640, 65534, 2]);
  await host.remove("/srv/sous-ops/link");
  assert.equal((await host.tryLstat("/srv/sous-ops/two"))?.type, "file", "removing a link leaves its target");
  await host.remove("/srv/sous-ops", { recursive: true });
  assert.equal(await host.tryLstat("/srv/sous-ops"), undefined);
});

test("user and group lookups read the root's own accounts", async () => {
  box.run(["groupadd", "--gid", "4321", "sous-chroot-group"]);
  box.run(["useradd", "--uid", "4321", "--gid", "4321", "--no-create-home", "sous-chroot-user"]);
  assert.equal(await host.lookupUser("sous-chroot-user"), 4321);
  assert.equal(await host.lookupGroup("sous-chroot-group"), 4321);
  assert.equal(await host.userName(4321), "sous-chroot-user");
  assert.equal(await host.groupName(4321), "sous-chroot-group");
  assert.equal(await new LocalHost().lookupUser("sous-chroot-user"), undefined, "this machine has no such user");
  assert.equal((await run(host, ["id", "-un"], { user: "sous-chroot-user" })).stdout.trim(), "sous-chroot-user");
  box.run(["groupadd", "--gid", "4322", "sous-chroot-extra"]);
  box.run(["usermod", "--append", "--groups", "sous-chroot-extra", "sous-chroot-user"]);
  assert.equal((await run(host, ["id", "-Gn"], { user: "sous-chroot-user" })).stdout.trim(), "sous-chroot-group sous-chroot-extra", "supplementary groups come from the root's /etc/group");
  await assert.rejects(host.exec(["true"], { user: "sous-nobody-here" }), /no user named "sous-nobody-here" on chroot:/);
  await assert.rejects(host.exec(["true"], { user: 54321 }), /uid 54321 has no entry in .*\/etc\/passwd: give a group/);
  assert.equal((await run(host, ["id", "-u"], { user: 54321, group: "nogroup" })).stdout.trim(), "54321");
  assert.equal((await run(host, ["id", "-g"], { group: "nogroup" })).stdout.trim(), "65534");
});

test("a relative root is refused", () => {
  assert.throws(() => new ChrootHost("relative/root"), /must be an absolute path/);
});

test("resources converge inside the root, and a second run changes nothing", async () => {
  const declare = ({ file, directory }: import("../../src/dsl.js").Resources) => {
    directory("/etc/sous-chroot-app", { mode: "0750", owner: "nobody" });
    file("/etc/sous-chroot-app/app.conf", { content: "port = 8080\n", mode: "0640", group: "nogroup" });
  };
  const dry = box.digest();
  const preview = await convergeWith(declare, { host, dryRun: true, backupDir: "/var/lib/sous/backup" });
  assert.equal(preview.updated.length, 2);
  assert.equal(box.digest(), dry, "a dry run changes nothing in the root");
  const first = await convergeWith(declare, { host, backupDir: "/var/lib/sous/backup" });
  assert.equal(first.result.status, "converged");
  assert.equal(first.updated.length, 2);
  assert.equal(readFileSync(box.path("/etc/sous-chroot-app/app.conf"), "utf8"), "port = 8080\n");
  assert.equal(existsSync("/etc/sous-chroot-app"), false);
  const second = await convergeWith(declare, { host, backupDir: "/var/lib/sous/backup" });
  assert.deepEqual(second.updated, []);
});
