/**
 * The facts script on this machine: what it reports agrees with what Node and the kernel say,
 * and its fallbacks (iproute2 without JSON, no iproute2 at all) report the same network.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, statfsSync, symlinkSync, writeFileSync, existsSync } from "node:fs";
import { cpus, hostname, release, machine, totalmem } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { test } from "node:test";
import { gatherFacts } from "../../src/facts/gather.js";
import { parseFacts } from "../../src/facts/parse.js";
import { FACTS_SCRIPT } from "../../src/facts/script.js";
import type { Facts } from "../../src/facts/types.js";
import { LocalHost } from "../../src/host/local.js";
import { scratch } from "../helpers.js";

const host = new LocalHost();

function runScript(env: Record<string, string> = {}, shell = "/bin/sh"): { facts: Facts; stderr: string } {
  const result = spawnSync(shell, ["-c", FACTS_SCRIPT], { encoding: "utf8", env: { ...process.env, ...env } });
  assert.equal(result.status, 0, result.stderr);
  return { facts: parseFacts(result.stdout), stderr: result.stderr };
}

/**
 * Runs the script with `first`, then `second`, then `first` again, until the two `first` runs
 * report the same network: other tests on this machine create and remove interfaces, and a
 * comparison is only fair while nothing changes.
 */
function twoStableRuns(first: Record<string, string>, second: Record<string, string>): [Facts, Facts] {
  let runs: [Facts, Facts] = [runScript(first).facts, runScript(second).facts];
  for (let attempt = 0; attempt < 5; attempt++) {
    if (isDeepStrictEqual(networkSummary(runScript(first).facts), networkSummary(runs[0]))) break;
    runs = [runScript(first).facts, runScript(second).facts];
  }
  return runs;
}

/** The network facts that must not depend on how they were read. */
function networkSummary(facts: Facts): unknown {
  const interfaces = Object.fromEntries(
    Object.entries(facts.network.interfaces).map(([name, iface]) => [
      name,
      {
        mtu: iface.mtu,
        state: iface.state,
        addresses: Object.fromEntries(Object.entries(iface.addresses).map(([address, a]) => [address, { family: a.family, prefixlen: a.prefixlen, scope: a.scope }])),
      },
    ]),
  );
  const { default_interface, default_gateway, default_inet6_interface, default_inet6_gateway } = facts.network;
  return { interfaces, default_interface, default_gateway, default_inet6_interface, default_inet6_gateway, ipaddress: facts.ipaddress, ip6address: facts.ip6address, macaddress: facts.macaddress };
}

test("the facts of this machine agree with what Node and the kernel report", async () => {
  const facts = await gatherFacts(host);
  const osRelease = readFileSync("/etc/os-release", "utf8");
  const id = /^ID="?([^"\n]+)"?$/m.exec(osRelease)?.[1];
  if (id === "debian" || id === "ubuntu") assert.equal(facts.platform, id);
  assert.equal(facts.os, "linux");
  assert.equal(facts.kernel.release, release());
  assert.equal(facts.kernel.machine, machine());
  assert.equal(facts.hostname, hostname().split(".")[0]);
  assert.equal(facts.cpu.total, cpus().length);
  assert.equal(facts.memory.total, `${Math.floor(totalmem() / 1024)}kB`);
  const root = statfsSync("/");
  assert.equal(facts.filesystem.by_mountpoint["/"]?.kb_size, String((root.blocks * root.bsize) / 1024));
  assert.match(facts.filesystem.by_mountpoint["/"]?.percent_used ?? "", /^\d+%$/);
  assert.equal(facts.init_package, readFileSync("/proc/1/comm", "utf8").trim());
  assert.equal(facts.current_user, process.env.USER ?? facts.current_user);
  assert.ok((facts.uptime_seconds ?? 0) > 0);
  assert.ok(Object.keys(facts.network.interfaces).includes("lo"), "loopback listed");
});

test("the script runs in the system shell without printing errors", () => {
  const { stderr } = runScript();
  assert.equal(stderr, "");
});

test("without `ip -j`, the text output of ip gives the same network facts", () => {
  if (!existsSync("/usr/sbin/ip") && !existsSync("/sbin/ip")) return;
  const bin = join(scratch("sous-facts-"), "bin");
  mkdirSync(bin);
  // An ip that rejects -j as iproute2 before 4.15 and busybox do.
  writeFileSync(join(bin, "ip"), `#!/bin/sh\nfor a in "$@"; do [ "$a" = -j ] && { echo 'Option "-j" is unknown' >&2; exit 255; }; done\nexec ${existsSync("/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip"} "$@"\n`, { mode: 0o755 });
  const [withJson, withText] = twoStableRuns({}, { PATH: `${bin}:${process.env.PATH}` });
  assert.deepEqual(networkSummary(withText), networkSummary(withJson));
});

test("without ip at all, /sys and /proc give the same interfaces, default route and addresses", () => {
  const bin = join(scratch("sous-facts-"), "bin");
  mkdirSync(bin);
  // Every command of this machine but ip, as in a slim container image.
  for (const dir of ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"]) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      if (name !== "ip" && !existsSync(join(bin, name))) symlinkSync(join(dir, name), join(bin, name));
    }
  }
  const runs = twoStableRuns({}, { PATH: bin });
  const withIp = networkSummary(runs[0]) as { interfaces: Record<string, { addresses: Record<string, unknown> }> };
  const withoutIp = networkSummary(runs[1]) as typeof withIp;
  assert.ok(Object.keys(withoutIp.interfaces.lo?.addresses ?? {}).includes("127.0.0.1"), "IPv4 addresses read from /proc/net/fib_trie");
  // /proc lists IPv4 addresses only through main-table routes; compare the addresses it can know.
  for (const [name, iface] of Object.entries(withoutIp.interfaces)) {
    const expected = withIp.interfaces[name];
    assert.ok(expected, `interface ${name} also listed by ip`);
    for (const [address, value] of Object.entries(iface.addresses)) assert.deepEqual(value, expected.addresses[address], `${name} ${address}`);
  }
  assert.deepEqual(Object.keys(withoutIp.interfaces).sort(), Object.keys(withIp.interfaces).sort());
  const pick = ({ default_interface, default_gateway, ipaddress, ip6address, macaddress }: Record<string, unknown>) => ({ default_interface, default_gateway, ipaddress, ip6address, macaddress });
  assert.deepEqual(pick(withoutIp as Record<string, unknown>), pick(withIp as Record<string, unknown>));
});

const busybox = ["/usr/bin/busybox", "/bin/busybox"].find((path) => existsSync(path));

test("under busybox alone (Alpine's shell and tools), the script reports what it reports with dash and GNU tools", { skip: busybox ? false : "busybox is not installed (Debian package busybox-static)" }, () => {
  const bin = join(scratch("sous-facts-"), "bin");
  mkdirSync(bin);
  const applets = spawnSync(busybox!, ["--list"], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
  for (const applet of applets) symlinkSync(busybox!, join(bin, applet));
  const summary = (facts: Facts) => ({
    platform: [facts.platform, facts.platform_family, facts.platform_version],
    kernel: facts.kernel,
    names: [facts.hostname, facts.machinename, facts.fqdn],
    addresses: [facts.ipaddress, facts.ip6address, facts.macaddress, facts.network.default_interface, facts.network.default_gateway, facts.network.default_inet6_gateway],
    cpu: [facts.cpu.total, facts.cpu.real, facts.cpu.cores, facts.cpu.model_name],
    memory: facts.memory.total,
    root: [facts.filesystem.by_mountpoint["/"]?.kb_size, facts.filesystem.by_mountpoint["/"]?.fs_type],
    other: [facts.virtualization, facts.init_package, facts.current_user, facts.root_group],
  });
  let withBusybox = runScript({ PATH: bin }, join(bin, "sh"));
  let withDash = runScript();
  // Only a changing network (other tests) can make them differ; try again once.
  if (!isDeepStrictEqual(summary(withBusybox.facts), summary(withDash.facts))) [withBusybox, withDash] = [runScript({ PATH: bin }, join(bin, "sh")), runScript()];
  assert.deepEqual(summary(withBusybox.facts), summary(withDash.facts));
  assert.equal(withBusybox.stderr, "");
  // busybox's ip has no JSON: the text parser read its output.
  assert.ok(Object.keys(withBusybox.facts.network.interfaces).includes("lo"));
});
