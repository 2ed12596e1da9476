// What a new user tries, through the real `sous` process (bin/sous.js over dist/, built by
// `npm test` first): a cookbook that installs a package from an apt repository, writes its
// configuration, enables and starts its service and adds a user converges one disposable
// machine through its namespaces, then every machine of a set over SSH in one command; sshd
// dies on one machine midway and only that one fails, with the reason; the next runs change
// nothing, and the machine whose sshd came back converges what was left.
//
// The machines boot real systemd (systemd-nspawn) in their own network namespaces, with sshd
// started by it. SOUS_TEST_MACHINES sets how many (default 20).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { listening } from "../fleet/network.js";
import { scratch } from "../helpers.js";
import { machinesUnavailable, type SshMachine, useMachineSet } from "../support/machine.js";
import { buildDemoAptRepository, DEMO_APT_DIR, DEMO_RUNNING_CONFIG, writeDemoRepository } from "./demo-repository.js";

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const COUNT = Number(process.env.SOUS_TEST_MACHINES ?? 20);
const skip = machinesUnavailable() ?? false;
const apt = skip ? "" : buildDemoAptRepository(scratch("sous-demo-apt-"));
const repo = skip ? "" : writeDemoRepository(scratch("sous-demo-repo-"));
const machineSet = useMachineSet(COUNT, { bindReadOnly: { [apt]: DEMO_APT_DIR } });

interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `sous ARGS`; `watch` is called every 50 ms while it runs (to act midway). */
function sous(args: string[], watch?: () => void): Promise<ProcessResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(projectRoot, "bin", "sous.js"), ...args], { env: { ...process.env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const timer = watch ? setInterval(watch, 50) : undefined;
    child.on("error", reject);
    child.on("close", (code) => {
      clearInterval(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** The result line of one host in the summary. */
const resultLine = (result: ProcessResult, machine: SshMachine) => new RegExp(`^  root@${escaped(machine.address)} +(.*)$`, "m").exec(result.stdout)?.[1];

/** What a user would check on a machine after a converge with `greeting` and `user`. */
function assertConverged(machine: SshMachine, greeting: string, user: string): void {
  assert.equal(machine.try(["systemctl", "is-active", "sous-demo"]).stdout.trim(), "active", `${machine.name}: sous-demo not running`);
  assert.equal(machine.try(["systemctl", "is-enabled", "sous-demo"]).stdout.trim(), "enabled", `${machine.name}: sous-demo not enabled`);
  assert.match(machine.run(["dpkg-query", "-W", "-f", "${Version}", "sous-demo"]), /^1\.0-1$/);
  const config = machine.run(["cat", "/etc/sous-demo/demo.conf"]);
  const hostname = machine.run(["hostname"]).trim();
  assert.equal(config, `# Written by Sous for ${hostname}\ngreeting = ${greeting}\nworkers = 2\n`, `${machine.name}: configuration`);
  assert.equal(machine.run(["cat", DEMO_RUNNING_CONFIG]), config, `${machine.name}: the service did not restart with its new configuration`);
  assert.match(machine.run(["getent", "passwd", user]), new RegExp(`^${user}:x:\\d+:\\d+:Sous demo:/home/${user}:/bin/sh\n$`));
  assert.ok(existsSync(machine.path(`/home/${user}`)), `${machine.name}: no home for ${user}`);
}

describe(`the push scenario on ${COUNT} disposable machines`, { skip }, () => {
  const ssh = () => machineSet().then((set) => ["-k", set.keyFile, "--known-hosts", set.knownHostsFile]);

  it("converges one machine through its namespaces (nsenter://PID), then finds nothing to change", async () => {
    const [first] = (await machineSet()).machines;
    const run1 = await sous(["converge", "--repo", repo, `nsenter://${first!.pid}`]);
    assert.equal(run1.code, 0, run1.stdout + run1.stderr);
    assert.match(run1.stdout, /package\[sous-demo\] created/);
    assert.match(run1.stdout, /user\[demo\] created/);
    assert.match(run1.stdout, /Converged: 5 resources, 5 updated/);
    assertConverged(first!, "hello", "demo");
    const run2 = await sous(["converge", "--repo", repo, `nsenter://${first!.pid}`]);
    assert.equal(run2.code, 0, run2.stdout + run2.stderr);
    assert.match(run2.stdout, /Converged: 5 resources, 0 updated/);
  });

  it(`converges all ${COUNT} machines over SSH in one command, from an inventory`, async () => {
    const set = await machineSet();
    const result = await sous(["converge", "--repo", repo, ...(await ssh()), "--inventory", set.inventoryFile]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, new RegExp(`^${COUNT} ok, 0 failed$`, "m"));
    const [first, ...others] = set.machines;
    assert.match(resultLine(result, first!) ?? "", /^converged, up to date \(5 resources/, "the machine converged before has nothing to change");
    for (const machine of others) assert.match(resultLine(result, machine) ?? "", /^converged, 5 updated of 5/, machine.address);
    for (const machine of set.machines) assertConverged(machine, "hello", "demo");
  });

  it("reports the machine whose sshd dies midway as failed, with the reason, while the others finish (exit status 1)", async () => {
    const set = await machineSet();
    const victim = set.machines[Math.min(4, COUNT - 1)]!;
    // On the victim, the service's restart waits for a file: the push is then surely midway
    // (configuration written, restart running, user not yet added) when sshd dies.
    victim.run(["sh", "-c", "mkdir -p /run/systemd/system/sous-demo.service.d && cat > /run/systemd/system/sous-demo.service.d/gate.conf && systemctl daemon-reload"], "[Service]\nExecStartPre=/bin/sh -c 'touch /run/sous-demo-gate; while [ ! -e /run/sous-demo-go ]; do sleep 0.1; done'\n");
    const attributes = join(repo, "node.json");
    writeFileSync(attributes, JSON.stringify({ demo: { greeting: "bonjour", user: "demo2" } }));
    let killed = false;
    let killError: unknown;
    const result = await sous(["converge", "--repo", repo, "-j", attributes, ...(await ssh()), "--inventory", set.inventoryFile], () => {
      if (killed || !existsSync(victim.path("/run/sous-demo-gate"))) return;
      killed = true;
      try {
        // The listener stops for good, then every sshd of the machine (the push's session) dies as in a crash.
        victim.run(["systemctl", "stop", "ssh"]);
        for (const pid of victim.pids("sshd")) process.kill(pid, "SIGKILL");
      } catch (error) {
        killError = error;
      }
    });
    assert.equal(killError, undefined);
    victim.run(["sh", "-c", "touch /run/sous-demo-go && rm -r /run/systemd/system/sous-demo.service.d && systemctl daemon-reload"]);
    assert.ok(killed, `the push never reached the victim's restart:\n${result.stdout}`);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(resultLine(result, victim) ?? "", new RegExp(`^FAILED: service\\[sous-demo\\]: lost the SSH connection to root@${escaped(victim.address)}`));
    assert.match(result.stdout, new RegExp(`^root@${escaped(victim.address)}: FAILED: service\\[sous-demo\\]: lost the SSH connection`, "m"), "the progress line of the victim");
    assert.match(result.stdout, new RegExp(`^${COUNT - 1} ok, 1 failed$`, "m"));
    for (const machine of set.machines) {
      if (machine === victim) continue;
      assert.match(resultLine(result, machine) ?? "", /^converged, 3 updated of 5/, machine.address);
      assertConverged(machine, "bonjour", "demo2");
    }
    assert.equal(victim.try(["getent", "passwd", "demo2"]).status, 2, "the victim's run went on after sshd died");
  });

  it("the next run changes nothing on the others; the machine with sshd back converges what was left; then nothing changes anywhere", async () => {
    const set = await machineSet();
    const victim = set.machines[Math.min(4, COUNT - 1)]!;
    const others = set.machines.filter((m) => m !== victim);
    const attributes = ["-j", join(repo, "node.json")];
    const rest = await sous(["converge", "--repo", repo, ...attributes, ...(await ssh()), ...others.map((m) => m.target)]);
    assert.equal(rest.code, 0, rest.stdout + rest.stderr);
    for (const machine of others) assert.match(resultLine(rest, machine) ?? "", /^converged, up to date/, machine.address);

    victim.run(["systemctl", "start", "ssh"]);
    for (let i = 0; !listening(victim.pid, victim.address); i++) {
      assert.ok(i < 100, "sshd did not come back");
      await sleep(100);
    }
    const again = await sous(["converge", "--repo", repo, ...attributes, ...(await ssh()), victim.target]);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(resultLine(again, victim) ?? "", /^converged, 1 updated of 5/);
    assert.match(again.stdout, /user\[demo2\] created/);
    assertConverged(victim, "bonjour", "demo2");

    const all = await sous(["converge", "--repo", repo, ...attributes, ...(await ssh()), "--inventory", set.inventoryFile]);
    assert.equal(all.code, 0, all.stdout + all.stderr);
    for (const machine of set.machines) assert.match(resultLine(all, machine) ?? "", /^converged, up to date/, machine.address);
  });
});
