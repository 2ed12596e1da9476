/** Push mode end to end: `sous converge ssh://...` on a fleet of real sshd hosts. */
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { parseTarget } from "../../src/host/ssh.js";
import { pushConverge } from "../../src/run/push.js";
import { type Fleet, fleetUnavailable, useFleet } from "../fleet/index.js";
import { scratch, sous } from "../helpers.js";
import { writeW2Repository } from "./repository.js";

const skip = fleetUnavailable() ?? false;
const startedFleet = useFleet(5);
let fleet: Fleet;
const repo = skip ? "" : scratch("sous-push-repo-");

before(async () => {
  if (skip) return;
  fleet = await startedFleet();
  writeW2Repository(repo, { files: 6, directories: 2 });
});


const sshArgs = () => ["-k", fleet.keyFile, "--known-hosts", fleet.knownHostsFile];

describe("sous converge ssh://... (push)", { skip }, () => {
  it("converges every host, then finds nothing to change on the second run", async () => {
    const targets = fleet.hosts.map((h) => h.target);
    const first = await sous("converge", "--repo", repo, ...sshArgs(), ...targets);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.match(first.stdout, /5 ok, 0 failed/);
    for (const host of fleet.hosts) assert.match(first.stdout, new RegExp(`root@${host.address.replace(/\./g, "\\.")}\\s+converged, 8 updated of 8`));

    const shown = await sous("exec", "cat /srv/w2/d1/f3.conf", ...sshArgs(), ...targets);
    assert.equal(shown.code, 0, shown.stdout);
    for (const host of fleet.hosts) assert.ok(shown.stdout.includes(`root@${host.address} | host = ${host.name}`), shown.stdout);

    const second = await sous("converge", "--repo", repo, "--json", ...sshArgs(), ...targets);
    assert.equal(second.code, 0, second.stdout + second.stderr);
    const finished = second.stdout
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { type: string; host: string; counts?: { updated: number } })
      .filter((e) => e.type === "host:finish");
    assert.equal(finished.length, 5);
    for (const e of finished) assert.equal(e.counts?.updated, 0, `${e.host} changed something on the second run`);
  });

  it("shows what would change in a dry run and changes nothing", async () => {
    const target = fleet.hosts[0]!.target;
    await sous("exec", "rm /srv/w2/d0/f0.conf", ...sshArgs(), target);
    const dry = await sous("converge", "--repo", repo, "--dry-run", ...sshArgs(), target);
    assert.equal(dry.code, 0, dry.stdout);
    assert.match(dry.stdout, /\| .*file\[\/srv\/w2\/d0\/f0\.conf\] would (update|create)/);
    assert.match(dry.stdout, /\| +\+index = 0$/m, "the dry run shows the content it would write");
    assert.match(dry.stdout, /converged, 1 would change of 8/);
    const check = await sous("exec", "test -e /srv/w2/d0/f0.conf", ...sshArgs(), target);
    assert.equal(check.code, 1, "the dry run created the file");
  });

  it("reads targets from an inventory, and reports unreachable and refused hosts as failed (exit code 1) while the others converge", async () => {
    const address = fleet.hosts[1]!.address;
    const nobody = address.replace(/\.\d+$/, ".200");
    const inventory = join(repo, "inventory");
    writeFileSync(inventory, `# web servers\n${fleet.hosts[1]!.target}\n\nroot@${address}:2222   # sshd on another port\n${nobody}\n`);
    const result = await sous("converge", "--repo", repo, "--connect-timeout", "20", ...sshArgs(), "--inventory", inventory);
    assert.equal(result.code, 1);
    const escaped = (text: string) => text.replace(/\./g, "\\.");
    assert.match(result.stdout, new RegExp(`root@${escaped(address)}:2222\\s+FAILED: connection refused`));
    assert.match(result.stdout, new RegExp(`root@${escaped(nobody)}\\s+FAILED: .*(unreachable|timed out)`));
    assert.match(result.stdout, new RegExp(`root@${escaped(address)}\\s+converged`));
    assert.match(result.stdout, /1 ok, 2 failed/);
  });

  it("converges as a non-root user through sudo, and says why it fails without it", async () => {
    const host = fleet.hosts[3]!;
    // The user exists only inside this host's overlay.
    const setup = await sous("exec", "useradd -m -s /bin/sh deploy && usermod -p '*' deploy && echo 'deploy ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/deploy && rm -rf /srv/w2", ...sshArgs(), host.target);
    assert.equal(setup.code, 0, setup.stdout);
    const deploy = `ssh://deploy@${host.address}`;
    const denied = await sous("converge", "--repo", repo, ...sshArgs(), deploy);
    assert.equal(denied.code, 1);
    assert.match(denied.stdout, /FAILED: .*(Permission denied|EACCES)/);
    const withSudo = await sous("converge", "--repo", repo, "--sudo", ...sshArgs(), deploy);
    assert.equal(withSudo.code, 0, withSudo.stdout);
    assert.match(withSudo.stdout, /converged, 8 updated of 8/);
    const owner = await sous("exec", "stat -c %U /srv/w2/d0/f0.conf", ...sshArgs(), host.target);
    assert.match(owner.stdout, /\| root$/m);
  });

  it("reports a host whose sshd dies midway as failed with the reason, and the others finish", async () => {
    const victim = fleet.hosts[2]!;
    let killed = false;
    const outcomes = await pushConverge({
      root: repo,
      targets: fleet.hosts.map((h) => parseTarget(h.target)),
      ssh: { identityFile: fleet.keyFile, knownHostsFile: fleet.knownHostsFile },
      events(host, event) {
        if (!killed && host === `root@${victim.address}` && event.type.startsWith("resource:")) {
          killed = true;
          fleet.kill(2);
        }
      },
    });
    assert.ok(killed);
    const failed = outcomes.filter((o) => !o.ok);
    assert.deepEqual(
      failed.map((o) => o.host),
      [`root@${victim.address}`],
    );
    assert.match(failed[0]!.error ?? "", /lost the SSH connection to root@/);
    assert.equal(outcomes.filter((o) => o.ok).length, 4);
  });
});

describe("sous exec keeps its connections for the next command (--persist)", { skip }, () => {
  it("a second sous exec within the time runs over the same connections; --persist 0 connects afresh; the background process stops", async () => {
    const home = scratch("sous-persist-home-");
    const saved = process.env.SOUS_HOME;
    process.env.SOUS_HOME = home;
    const pidFile = join(home, "ssh", "persist.sock.pid");
    const targets = [fleet.hosts[0]!.target, fleet.hosts[1]!.target];
    // The client's address and port as each host's sshd sees them: a new connection has a new port.
    const ports = async (persist: string) => {
      const run = await sous("exec", "--persist", persist, "echo $SSH_CONNECTION", ...sshArgs(), ...targets);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stdout, /2 ok, 0 failed/);
      return [...run.stdout.matchAll(/\| (\S+ \d+) /g)].map((m) => m[1]);
    };
    try {
      const first = await ports("30");
      assert.equal(first.length, 2);
      assert.ok(existsSync(pidFile), "the background process records its PID");
      assert.deepEqual(await ports("30"), first, "same connections the second time");
      const fresh = await ports("0");
      assert.equal(fresh.length, 2);
      assert.ok(fresh.every((port) => !first.includes(port)), "--persist 0 makes new connections");
    } finally {
      if (saved === undefined) delete process.env.SOUS_HOME;
      else process.env.SOUS_HOME = saved;
      if (existsSync(pidFile)) process.kill(Number(readFileSync(pidFile, "utf8")), "SIGTERM");
    }
    // SIGTERM closes the connections and removes the socket and the PID file.
    for (let waited = 0; existsSync(pidFile) && waited < 5000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    assert.ok(!existsSync(pidFile) && !existsSync(join(home, "ssh", "persist.sock")));
  });
});
