/**
 * A private network of hosts on this machine: one network namespace per host, each with its own
 * 127.0.N.x address on a veth pair to a bridge in the root namespace. Addresses stay in the
 * loopback range, so nothing in it can reach the real network, and no forwarding is enabled:
 * the hosts reach each other and this machine, nothing else. Used by the SSH fleet (one sshd
 * per namespace) and by disposable machines (a booted systemd per namespace).
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { SousError } from "../core/errors.js";

/** One host's place on the network. */
export interface NetworkHost {
  /** Its network namespace, under /run/netns. */
  netns: string;
  /** Its address, 127.0.N.i. */
  address: string;
}

/** A bridge with its hosts' namespaces; `remove()` deletes them (after their processes are gone). */
export interface BridgeNetwork {
  /** N of 127.0.N.0/24. */
  subnet: number;
  bridge: string;
  /** This machine's address on the bridge. */
  gateway: string;
  hosts: NetworkHost[];
  remove(): void;
}

function sh(script: string): void {
  const result = spawnSync("/bin/bash", ["-c", script], { encoding: "utf8" });
  if (result.status !== 0) throw new SousError("network", `network setup failed: ${result.stderr || result.stdout}`);
}

// A /24 under 127.0.0.0/8 that no interface or route uses; the bridge name doubles as a lock,
// since creating it fails when a parallel run took the same number first.
// A subnet whose host links (s<N>h<i>) still exist is skipped too: a deleted namespace is torn
// down by the kernel later, and its veth pairs linger in this namespace until then.
function claimSubnet(): number {
  const used = spawnSync("/bin/sh", ["-c", "ip -o addr; ip route show table all; ip -o link"], { encoding: "utf8" }).stdout;
  for (let attempt = 0; attempt < 50; attempt++) {
    const n = 2 + Math.floor(Math.random() * 250);
    if (used.includes(`127.0.${n}.`) || new RegExp(`^\\d+: s${n}h\\d+[@:]`, "m").test(used)) continue;
    if (spawnSync("ip", ["link", "add", `sousbr${n}`, "type", "bridge"]).status === 0) return n;
  }
  throw new SousError("network", "network setup failed: no free 127.0.N.0/24 subnet found");
}

/** Removes a bridge and namespaces made by `createBridgeNetwork`; safe on what is already gone. */
export function removeBridgeNetwork(bridge: string, namespaces: readonly string[]): void {
  for (const netns of namespaces) spawnSync("ip", ["netns", "del", netns]);
  spawnSync("ip", ["link", "del", bridge]);
}

/**
 * Creates `count` (1 to 250) namespaces on a new bridge; `nameOf(subnet, i)` names the i-th
 * namespace (1-based). Needs root and iproute2. On failure, whatever was made is removed.
 */
export function createBridgeNetwork(count: number, nameOf: (subnet: number, index: number) => string): BridgeNetwork {
  if (count < 1 || count > 250) throw new SousError("network", "a network has 1 to 250 hosts");
  const n = claimSubnet();
  const bridge = `sousbr${n}`;
  const hosts: NetworkHost[] = [];
  for (let i = 1; i <= count; i++) hosts.push({ netns: nameOf(n, i), address: `127.0.${n}.${i}` });
  const remove = () => removeBridgeNetwork(bridge, hosts.map((h) => h.netns));
  // A 127.x address on a veth needs route_localnet on the receiving interfaces and a route in the
  // `local` table more specific than 127.0.0.0/8, on both sides.
  const lines = [
    `set -e`,
    `ip link set ${bridge} up`,
    `sysctl -qw net.ipv4.conf.${bridge}.route_localnet=1`,
    `ip addr add 127.0.${n}.254/32 dev ${bridge}`,
    `ip route add 127.0.${n}.0/24 dev ${bridge} src 127.0.${n}.254 table local`,
  ];
  hosts.forEach(({ netns, address }, index) => {
    const veth = `s${n}h${index + 1}`;
    lines.push(
      `ip netns add ${netns}`,
      `ip link add ${veth} type veth peer name eth0 netns ${netns}`,
      `ip link set ${veth} master ${bridge} up`,
      `ip -n ${netns} link set lo up`,
      `ip -n ${netns} link set eth0 up`,
      `ip -n ${netns} addr add ${address}/24 dev eth0`,
      `ip netns exec ${netns} sysctl -qw net.ipv4.conf.eth0.route_localnet=1`,
      `ip -n ${netns} route add 127.0.${n}.0/24 dev eth0 table local`,
    );
  });
  try {
    sh(lines.join("\n"));
  } catch (error) {
    remove();
    throw error;
  }
  return { subnet: n, bridge, gateway: `127.0.${n}.254`, hosts, remove };
}

/** Whether TCP `address`:`port` is listened on (on that address or all) in the network namespace of process `pid`. */
export function listening(pid: number, address: string, port = 22): boolean {
  const hex = address
    .split(".")
    .map((part) => Number(part).toString(16).padStart(2, "0").toUpperCase())
    .reverse()
    .join("");
  const portHex = port.toString(16).padStart(4, "0").toUpperCase();
  try {
    const table = readFileSync(`/proc/${pid}/net/tcp`, "utf8");
    return [hex, "00000000"].some((local) => table.includes(`${local}:${portHex} 00000000:0000 0A`));
  } catch {
    return false;
  }
}

/** One bounded TCP connect that waits for the server's first bytes (an SSH banner): true when they came. */
export function answers(address: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port, timeout: timeoutMs });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once("data", () => done(true));
    socket.once("timeout", () => done(false));
    socket.once("error", () => done(false));
  });
}
