/** SshHost against the shared Host contract, as root and as a sudo user, and its connection errors. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { run } from "../../src/host/host.js";
import { parseTarget, type SshHost, SshHost as Ssh } from "../../src/host/ssh.js";
import { type Fleet, fleetUnavailable, useFleet } from "../fleet/index.js";
import { scratch } from "../helpers.js";
import { hostContract } from "./contract.js";

const skip = fleetUnavailable() ?? false;
const startedFleet = useFleet(3);
let fleetValue: Fleet;
const fleet = () => fleetValue;
const hosts: SshHost[] = [];
let asRoot: SshHost;
let asDeploy: SshHost;
let withTimeouts: SshHost;

before(async () => {
  if (skip) return;
  fleetValue = await startedFleet();
  const { hosts: [first, second], keyFile, knownHostsFile } = fleet();
  asRoot = await Ssh.connect(parseTarget(first!.target), { identityFile: keyFile, knownHostsFile });
  const rootOnSecond = await Ssh.connect(parseTarget(second!.target), { identityFile: keyFile, knownHostsFile });
  // With a command timeout, file operations take their own channels instead of the resident shell.
  withTimeouts = await Ssh.connect(parseTarget(first!.target), { identityFile: keyFile, knownHostsFile, commandTimeoutMs: 60_000 });
  hosts.push(asRoot, rootOnSecond, withTimeouts);
  // The user exists only inside the second host's overlay.
  await run(rootOnSecond, { shell: "useradd -m -s /bin/sh deploy && usermod -p '*' deploy && echo 'deploy ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/deploy" });
  asDeploy = await Ssh.connect(parseTarget(`ssh://deploy@${second!.address}`), { identityFile: keyFile, knownHostsFile, sudo: true });
  hosts.push(asDeploy);
  for (const host of [asRoot, asDeploy]) await run(host, ["mkdir", "-p", "/srv/contract", "/srv/contract-timeouts"]);
});
after(() => {
  for (const host of hosts) host.close();
});

hostContract("SshHost as root", () => ({ host: asRoot, dir: "/srv/contract" }), { skip });
hostContract("SshHost as a user with sudo", () => ({ host: asDeploy, dir: "/srv/contract" }), { skip });
hostContract("SshHost with a command timeout (a channel per operation)", () => ({ host: withTimeouts, dir: "/srv/contract-timeouts" }), { skip });

describe("SshHost connections", { skip }, () => {
  const temp = skip ? "" : scratch("sous-ssh-test-");

  const connectError = async (target: string, options: Parameters<typeof Ssh.connect>[1]) => {
    try {
      (await Ssh.connect(parseTarget(target), options)).close();
    } catch (error) {
      return error as Error & { code: string };
    }
    assert.fail(`connecting to ${target} succeeded`);
  };

  it("runs `sh -c SCRIPT NAME ARGS` in the resident shell as sh would: the arguments whole, its exit code and set -e, nothing left for the next script", async () => {
    for (const host of [asRoot, asDeploy]) {
      const args = ["a b", "-x", "it's", "$HOME", "*", ""];
      const printed = await host.exec(["sh", "-c", 'printf "%s|" "$#" "$@"; leftover=1; exit 3', "sous", ...args], { resident: true });
      assert.equal(printed.exitCode, 3);
      assert.equal(printed.stdout, `${args.length}|${args.join("|")}|`);
      const stopped = await host.exec(["sh", "-c", "set -e; false; echo not reached"], { resident: true });
      assert.equal(stopped.exitCode, 1);
      assert.equal(stopped.stdout, "");
      const next = await host.exec(["sh", "-c", 'printf "%s|%s" "${leftover-unset}" "$#"'], { resident: true });
      assert.equal(next.stdout, "unset|0");
      // An environment of its own still goes through env and a shell of its own.
      const withEnv = await host.exec(["sh", "-c", 'printf "%s" "$GREETING"', "sous"], { resident: true, env: { GREETING: "hello" } });
      assert.equal(withEnv.stdout, "hello");
    }
  });

  it("parses targets", () => {
    assert.deepEqual(parseTarget("ssh://deploy@web1.example.com:2222"), { user: "deploy", host: "web1.example.com", port: 2222 });
    assert.deepEqual(parseTarget("10.0.0.5"), { user: "root", host: "10.0.0.5", port: 22 });
    assert.throws(() => parseTarget("ssh://a@b:99999"), /not an SSH target/);
  });

  it("refuses a host whose key changed, naming the known_hosts line", async () => {
    const { hosts, keyFile } = fleet();
    const other = join(temp, "other-host-key");
    spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]);
    const knownHostsFile = join(temp, "known_hosts_changed");
    writeFileSync(knownHostsFile, `# comment\n${hosts[2]!.address} ${readFileSync(`${other}.pub`, "utf8").split(" ").slice(0, 2).join(" ")}\n`);
    const error = await connectError(hosts[2]!.target, { identityFile: keyFile, knownHostsFile, acceptNewHostKeys: true });
    assert.equal(error.code, "ssh-host-key-changed");
    assert.match(error.message, /HOST KEY MISMATCH/);
    assert.match(error.message, new RegExp(`${knownHostsFile}:2`));
    assert.equal(readFileSync(knownHostsFile, "utf8").split("\n").filter(Boolean).length, 2, "known_hosts is left as it was");
  });

  it("refuses an unknown host key unless asked to accept new keys, then remembers it", async () => {
    const { hosts, keyFile, hostKey } = fleet();
    const knownHostsFile = join(temp, "known_hosts_new");
    const error = await connectError(hosts[2]!.target, { identityFile: keyFile, knownHostsFile });
    assert.equal(error.code, "ssh-host-key-unknown");
    assert.match(error.message, /--accept-new-host-keys/);
    (await Ssh.connect(parseTarget(hosts[2]!.target), { identityFile: keyFile, knownHostsFile, acceptNewHostKeys: true })).close();
    assert.equal(readFileSync(knownHostsFile, "utf8"), `${hosts[2]!.address} ${hostKey}\n`);
    (await Ssh.connect(parseTarget(hosts[2]!.target), { identityFile: keyFile, knownHostsFile })).close();
  });

  it("says so when the server accepts none of the keys", async () => {
    const { hosts, knownHostsFile } = fleet();
    const stranger = join(temp, "stranger");
    spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", stranger]);
    const error = await connectError(hosts[2]!.target, { identityFile: stranger, knownHostsFile });
    assert.equal(error.code, "ssh-auth");
    assert.match(error.message, /authentication failed for root@/);
  });

  it("authenticates through the SSH agent when no key file is given", async () => {
    const { hosts, keyFile, knownHostsFile } = fleet();
    const socket = join(temp, "agent.sock");
    const agent = spawnSync("ssh-agent", ["-a", socket, "-s"], { encoding: "utf8" });
    const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(agent.stdout)?.[1]);
    const saved = process.env.SSH_AUTH_SOCK;
    try {
      assert.equal(spawnSync("ssh-add", ["-q", keyFile], { env: { ...process.env, SSH_AUTH_SOCK: socket } }).status, 0);
      process.env.SSH_AUTH_SOCK = socket;
      const host = await Ssh.connect(parseTarget(hosts[2]!.target), { knownHostsFile });
      assert.equal((await host.exec(["hostname"])).stdout, `${hosts[2]!.name}\n`);
      host.close();
    } finally {
      if (saved === undefined) delete process.env.SSH_AUTH_SOCK;
      else process.env.SSH_AUTH_SOCK = saved;
      if (pid) process.kill(pid);
    }
  });

  it("says so when nothing listens on the port", async () => {
    const { hosts, keyFile, knownHostsFile } = fleet();
    const error = await connectError(`ssh://root@${hosts[2]!.address}:2222`, { identityFile: keyFile, knownHostsFile });
    assert.equal(error.code, "ssh-refused");
    assert.match(error.message, /connection refused by root@.*:2222/);
  });

  it("without sudo, a non-root login gets the permission errors it would get locally", async () => {
    const { hosts, keyFile, knownHostsFile } = fleet();
    const plain = await Ssh.connect(parseTarget(`ssh://deploy@${hosts[1]!.address}`), { identityFile: keyFile, knownHostsFile });
    try {
      await assert.rejects(plain.writeFileAtomic("/etc/sous-denied", "x"), (error: NodeJS.ErrnoException) => error.code === "EACCES");
      assert.equal((await plain.exec(["id", "-un"])).stdout, "deploy\n");
      assert.equal((await asDeploy.exec(["id", "-un"])).stdout, "root\n");
    } finally {
      plain.close();
    }
  });
});
