import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { CommandFailedError, run } from "../../src/host/host.js";
import { NsenterHost } from "../../src/host/nsenter.js";
import { convergeWith } from "../helpers.js";
import { startMachine, stopMachine } from "../support/machine.js";
import { hostContract } from "./contract.js";

// At the top level: the machine's removal is then registered for the end of the file.
const machine = await startMachine();
machine.run(["mkdir", "-p", "/srv/sous-contract"]);
hostContract("NsenterHost", () => ({ host: machine.host, dir: "/srv/sous-contract" }));

test("commands run inside the machine: its systemd, hostname and network, as the given user, in the given directory", async () => {
  const host = machine.host;
  assert.equal((await run(host, ["cat", "/proc/1/comm"])).stdout.trim(), "systemd");
  assert.equal((await run(host, ["hostname"])).stdout.trim(), "sous-machine");
  assert.notEqual(hostname(), "sous-machine");
  assert.deepEqual((await run(host, ["ip", "-o", "link", "show"])).stdout.trim().split("\n").map((line) => line.split(": ")[1]), ["lo"]);
  assert.equal((await run(host, ["systemctl", "is-system-running"], { accept: [0, 1] })).stdout.trim().length > 0, true);
  assert.equal((await run(host, ["id", "-u"], { user: "nobody" })).stdout.trim(), "65534");
  assert.equal((await run(host, ["id", "-G"], { user: "nobody" })).stdout.trim(), "65534", "only the primary group");
  assert.equal((await run(host, ["id", "-gn"], { user: "nobody", group: "daemon" })).stdout.trim(), "daemon");
  assert.equal((await run(host, { shell: "echo $HOME" }, { user: "nobody" })).stdout.trim(), "/nonexistent");
  assert.equal((await run(host, ["pwd"], { cwd: "/var/lib" })).stdout.trim(), "/var/lib");
  assert.equal((await run(host, ["cat"], { input: "from stdin" })).stdout, "from stdin");
  assert.equal((await run(host, { shell: "echo $SOUS_VALUE" }, { env: { SOUS_VALUE: "passed" } })).stdout.trim(), "passed");
});

test("the workstation's environment stays outside", async () => {
  process.env.SOUS_WORKSTATION_ONLY = "leak";
  try {
    const env = (await run(machine.host, ["env"])).stdout;
    assert.doesNotMatch(env, /SOUS_WORKSTATION_ONLY/);
    assert.match(env, /^PATH=\/usr\/local\/sbin:/m);
  } finally {
    delete process.env.SOUS_WORKSTATION_ONLY;
  }
});

test("results read as the command that was asked for, with secrets masked; failures and timeouts as LocalHost reports them", async () => {
  const host = machine.host;
  const result = await host.exec(["sh", "-c", "echo hunter2 >&2; exit 3"], { secrets: ["hunter2"] });
  assert.equal(result.exitCode, 3);
  assert.equal(result.display, "sh -c 'echo *** >&2; exit 3'");
  assert.equal(result.stderr, "hunter2\n");
  await assert.rejects(run(host, ["false"]), (error: unknown) => error instanceof CommandFailedError && error.message === "command `false` exited with code 1");
  assert.equal((await host.exec(["/no/such/program"])).exitCode, 127);
  assert.equal((await host.exec(["pwd"], { cwd: "/no/such/dir" })).exitCode, 127);
  const slow = await host.exec(["sh", "-c", "echo $$ > /tmp/sous-slow.pid; exec sleep 60"], { timeoutMs: 300 });
  assert.equal(slow.timedOut, true);
  // What nsenter started inside is killed too, not left running in the machine.
  const inside = (await run(host, ["cat", "/tmp/sous-slow.pid"])).stdout.trim();
  for (let i = 0; i < 50 && (await host.exec(["kill", "-0", inside])).exitCode === 0; i++) await new Promise((r) => setTimeout(r, 100));
  assert.notEqual((await host.exec(["kill", "-0", inside])).exitCode, 0, "the command still runs inside the machine");
  await assert.rejects(host.exec(["true"], { user: "sous-nobody-here" }), /no user named "sous-nobody-here" on machine:/);
});

test("files are the machine's: absolute links resolve inside it, never on this machine", async () => {
  const host = machine.host;
  mkdirSync(machine.path("/var/sous-target"), { recursive: true });
  writeFileSync(machine.path("/var/sous-target/data"), "machine's copy\n");
  symlinkSync("/var/sous-target", machine.path("/opt/sous-abs"));
  assert.equal((await host.tryReadFile("/opt/sous-abs/data"))?.toString(), "machine's copy\n");
  assert.equal((await host.tryLstat("/opt/sous-abs"))?.type, "symlink");
  assert.equal((await host.tryStat("/opt/sous-abs"))?.type, "directory");
  await host.writeFileAtomic("/opt/sous-abs/written", "through a link\n", { mode: 0o600 });
  assert.equal(machine.run(["cat", "/var/sous-target/written"]), "through a link\n");
  assert.equal(lstatSync(machine.path("/var/sous-target/written")).mode & 0o777, 0o600);
  assert.equal(existsSync("/var/sous-target"), false, "nothing was written outside the machine");

  machine.run(["useradd", "--uid", "4322", "--no-create-home", "sous-ns-user"]);
  assert.equal(await host.lookupUser("sous-ns-user"), 4322);
  assert.equal((await run(host, ["id", "-un"], { user: "sous-ns-user" })).stdout.trim(), "sous-ns-user");
});

test("resources converge inside the machine, a dry run changes nothing, a second run changes nothing", async () => {
  const host = machine.host;
  const declare = ({ file, directory }: import("../../src/dsl.js").Resources) => {
    directory("/etc/sous-ns-app", { mode: "0750", owner: "nobody" });
    file("/etc/sous-ns-app/app.conf", { content: "port = 8080\n", mode: "0640", group: "nogroup" });
  };
  const before = machine.digest("/etc");
  const preview = await convergeWith(declare, { host, dryRun: true, backupDir: "/var/lib/sous/backup" });
  assert.equal(preview.updated.length, 2);
  assert.equal(machine.digest("/etc"), before, "a dry run changes nothing in the machine");
  const first = await convergeWith(declare, { host, backupDir: "/var/lib/sous/backup" });
  assert.equal(first.result.status, "converged");
  assert.equal(first.updated.length, 2);
  assert.equal(readFileSync(machine.path("/etc/sous-ns-app/app.conf"), "utf8"), "port = 8080\n");
  assert.equal(existsSync("/etc/sous-ns-app"), false);
  assert.deepEqual((await convergeWith(declare, { host, backupDir: "/var/lib/sous/backup" })).updated, []);
});

test("a bad process id is refused", () => {
  assert.throws(() => new NsenterHost(0), /needs a process id/);
});

test("a stopped machine leaves no process, namespace or record behind", async () => {
  const second = await startMachine();
  assert.notEqual(second.name, machine.name);
  assert.equal(machine.try(["test", "-e", "/etc/sous-ns-app/app.conf"]).status, 0);
  assert.equal(second.try(["test", "-e", "/etc/sous-ns-app/app.conf"]).status, 1, "machines share no writes (the base stays clean)");
  await stopMachine(second);
  assert.equal(existsSync(`/proc/${second.pid}`), false);
  assert.doesNotMatch(execFileSync("ip", ["netns", "list"], { encoding: "utf8" }), new RegExp(second.name));
});
