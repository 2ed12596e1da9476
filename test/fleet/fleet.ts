/**
 * A fleet of light SSH hosts on this machine, for tests and benchmarks: each host is a
 * network namespace with its own 127.0.N.x address (a veth pair to a bridge), and one
 * `sshd -D` in a private mount namespace whose root is an overlay of this machine's root
 * on a tmpfs, with its own /srv, /tmp and /run. Whatever a test writes on a host (even in
 * /etc or /usr) stays in that host and vanishes with it. Needs root, sshd and iproute2.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { answers, createBridgeNetwork, listening } from "../../src/machine/network.js";
import { makeSshKeys } from "../../src/machine/ssh-keys.js";

export { makeSshKeys };

/** One host of a fleet. */
export interface FleetHost {
  /** Its hostname inside the fleet, e.g. "fleet-3". */
  name: string;
  address: string;
  port: number;
  /** The network namespace it lives in (under /run/netns). */
  netns: string;
  /** The PID of its sshd listener. */
  pid: number;
  /** `ssh://root@address:port`. */
  target: string;
}

/** A running fleet; `stop()` removes every namespace, bridge, mount and process it made. */
export interface Fleet {
  hosts: FleetHost[];
  /** Private key file (ed25519, no passphrase) authorized for every user on every host. */
  keyFile: string;
  /** A known_hosts file listing every host with its host key. */
  knownHostsFile: string;
  /** The hosts' public host key line (`ssh-ed25519 AAAA...`), the same on every host. */
  hostKey: string;
  /** The fleet's temporary folder (keys, logs). */
  dir: string;
  /** Kills every process of one host (its sshd and open sessions), as a crash would. */
  kill(index: number): void;
  /** Tears everything down; safe to call twice. */
  stop(): void;
}

/** Why a fleet cannot start on this machine, or undefined when it can. */
export function fleetUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "the SSH test fleet needs root (network and mount namespaces)";
  for (const tool of ["/usr/sbin/sshd", "/usr/bin/ssh-keygen", "/usr/bin/unshare"]) if (!existsSync(tool)) return `the SSH test fleet needs ${tool} (Debian packages openssh-server, util-linux)`;
  if (spawnSync("ip", ["-V"]).status !== 0) return "the SSH test fleet needs ip (Debian package iproute2)";
  return undefined;
}

function sh(script: string): void {
  const result = spawnSync("/bin/bash", ["-c", script], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`fleet setup failed: ${result.stderr || result.stdout}`);
}

const SSHD_CONFIG = (address: string) =>
  [
    `ListenAddress ${address}:22`,
    "HostKey /etc/ssh/sous_fleet_host_key",
    "AuthorizedKeysFile /etc/ssh/sous_fleet_authorized_keys",
    "PermitRootLogin prohibit-password",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "UsePAM no",
    "StrictModes no",
    "UseDNS no",
    "MaxSessions 64",
    "MaxStartups 500",
    "PidFile none",
    "LogLevel ERROR",
    "Subsystem sftp internal-sftp",
    "",
  ].join("\n");

// Runs inside `unshare --mount --uts` in the host's network namespace: builds the overlay
// root and replaces itself with sshd, so the spawned PID is the sshd listener.
const HOST_SCRIPT = `set -e
state="$1"; name="$2"; config="$3"; dir="$4"; address="$5"
hostname "$name"
mount -t tmpfs -o size=256m tmpfs "$state"
mkdir -p "$state/upper" "$state/work" "$state/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$state/upper,workdir=$state/work" "$state/root"
r="$state/root"
mount -t proc proc "$r/proc"
mount --rbind /sys "$r/sys"
mount --rbind /dev "$r/dev"
for d in run tmp srv dev/shm; do mkdir -p "$r/$d"; mount -t tmpfs tmpfs "$r/$d"; done
chmod 1777 "$r/tmp" "$r/dev/shm"
chmod 755 "$r/run" "$r/srv"
mkdir -p "$r/run/sshd" "$r/root"
cp /usr/share/base-files/dot.bashrc "$r/root/.bashrc"
cp "$config" "$r/etc/ssh/sous_fleet_sshd_config"
install -m 600 "$dir/host_key" "$r/etc/ssh/sous_fleet_host_key"
install -m 644 "$dir/client_key.pub" "$r/etc/ssh/sous_fleet_authorized_keys"
printf '%s\\n' "$name" > "$r/etc/hostname"
printf '127.0.0.1 localhost\\n%s %s\\n' "$address" "$name" > "$r/etc/hosts"
exec chroot "$r" /usr/sbin/sshd -D -e -f /etc/ssh/sous_fleet_sshd_config
`;

function processesIn(netns: string): number[] {
  let inode: number;
  try {
    inode = statSync(`/run/netns/${netns}`).ino;
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/net`) === `net:[${inode}]`) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/** Starts `count` SSH hosts (at most 250) and resolves once every sshd accepts connections. */
export async function startFleet(options: { count: number; readyTimeoutMs?: number }): Promise<Fleet> {
  const unavailable = fleetUnavailable();
  if (unavailable) throw new Error(unavailable);
  if (options.count < 1 || options.count > 250) throw new Error("a fleet has 1 to 250 hosts");
  const dir = mkdtempSync(join(tmpdir(), "sous-fleet-"));
  let network;
  try {
    network = createBridgeNetwork(options.count, (subnet, i) => `sous${subnet}-${i}`);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const { subnet: n, remove } = network;
  const hosts: FleetHost[] = [];
  let stopped = false;

  const stop = () => {
    if (stopped) return;
    stopped = true;
    process.removeListener("exit", stop);
    for (const host of hosts) killAll(processesIn(host.netns));
    remove();
    // The mounts lived in the hosts' private mount namespaces and went with their processes.
    rmSync(dir, { recursive: true, force: true });
  };
  // A safety net for a test process that dies before its after hook.
  process.on("exit", stop);

  try {
    const { hostKey } = makeSshKeys(dir, `sous-fleet-${n}`);

    const known: string[] = [];
    for (let i = 1; i <= options.count; i++) {
      const { address, netns } = network.hosts[i - 1]!;
      const name = `fleet-${i}`;
      const state = join(dir, `host-${i}`);
      const config = join(dir, `sshd-${i}.conf`);
      sh(`mkdir -p ${state}`);
      writeFileSync(config, SSHD_CONFIG(address));
      const log = openSync(join(dir, `host-${i}.log`), "a");
      const child = spawn("ip", ["netns", "exec", netns, "unshare", "--mount", "--uts", "--propagation", "private", "/bin/sh", "-c", HOST_SCRIPT, "fleet-host", state, name, config, dir, address], {
        stdio: ["ignore", log, log],
        detached: true,
      });
      closeSync(log);
      child.unref();
      hosts.push({ name, address, port: 22, netns, pid: child.pid!, target: `ssh://root@${address}:22` });
      known.push(`${address} ${hostKey}`);
    }
    writeFileSync(join(dir, "known_hosts"), `${known.join("\n")}\n`);

    const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
    for (const host of hosts) {
      while (!listening(host.pid, host.address)) {
        if (Date.now() > deadline) throw new Error(`fleet host ${host.name} did not start: ${readFileSync(join(dir, `host-${hosts.indexOf(host) + 1}.log`), "utf8")}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      if (!(await answers(host.address, 22, 5_000))) throw new Error(`fleet host ${host.name} listens but does not answer`);
    }
    return {
      hosts,
      keyFile: join(dir, "client_key"),
      knownHostsFile: join(dir, "known_hosts"),
      hostKey,
      dir,
      kill: (index) => killAll(processesIn(hosts[index]!.netns)),
      stop,
    };
  } catch (error) {
    stop();
    throw error;
  }
}
