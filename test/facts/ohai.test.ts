/**
 * Sous's facts against Chef's own ohai (Debian package `ohai`) on this machine: every key both
 * report has the same value, or a difference explained by a known ohai defect.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { test } from "node:test";
import { gatherFacts } from "../../src/facts/gather.js";
import { compareWithOhai, type FactComparison, formatComparison } from "../../src/facts/ohai.js";
import { LocalHost } from "../../src/host/local.js";

const ohaiInstalled = spawnSync("sh", ["-c", "command -v ohai"]).status === 0;

function canRead(path: string): boolean {
  try {
    readFileSync(path);
    return true;
  } catch {
    return false;
  }
}

test("the keys Sous and ohai both report have the same values", { skip: ohaiInstalled ? false : "ohai is not installed (apt-get install ohai)" }, async (t) => {
  const host = new LocalHost();
  const compareOnce = async () => {
    const started = Date.now();
    const before = await gatherFacts(host);
    const ohai = spawnSync("ohai", [], { cwd: tmpdir(), encoding: "utf8", maxBuffer: 256 * 1024 * 1024, timeout: 120_000 });
    assert.equal(ohai.status, 0, ohai.stderr);
    const after = await gatherFacts(host);
    return compareWithOhai(before, JSON.parse(ohai.stdout) as Record<string, unknown>, {
      elapsedSeconds: (Date.now() - started) / 1000,
      sousAfter: after,
      pid1EnvironReadable: canRead("/proc/1/environ"),
    });
  };
  const unequal = (rows: FactComparison[]) => rows.filter((row) => row.status === "different" || row.status === "only-ohai");
  let rows = await compareOnce();
  // Other tests on this machine create interfaces; one caught half-made while ohai ran is churn, not a difference.
  if (unequal(rows).length > 0 && unequal(rows).every((row) => row.key.startsWith("network.interfaces."))) rows = await compareOnce();
  t.diagnostic(`\n${formatComparison(rows)}`);
  const bad = unequal(rows);
  assert.deepEqual(bad, [], formatComparison(bad));
  // The comparison covers what the issue names, not a handful of easy keys.
  const same = new Set(rows.filter((row) => row.status === "same").map((row) => row.key));
  for (const key of ["platform", "platform_version", "platform_family", "kernel.release", "kernel.machine", "hostname", "domain", "ipaddress", "macaddress", "cpu.total", "memory.total", "filesystem.by_mountpoint./.kb_size", "init_package", "shells"]) {
    assert.ok(same.has(key), `${key} compared and equal`);
  }
});

const insideDockerWithHiddenPid1 = existsSync("/.dockerenv") && !canRead("/proc/1/environ");

test(
  "in a Docker container whose PID 1 environment is unreadable, Sous says docker/guest where ohai says the host's kvm",
  { skip: !ohaiInstalled ? "ohai is not installed (apt-get install ohai)" : insideDockerWithHiddenPid1 ? false : "needs a Docker container (/.dockerenv) whose /proc/1/environ is unreadable, as on the machine this was found on" },
  async () => {
    const facts = await gatherFacts(new LocalHost());
    const ohai = spawnSync("ohai", ["virtualization"], { cwd: tmpdir(), encoding: "utf8", timeout: 60_000 });
    assert.equal(ohai.status, 0, ohai.stderr);
    const theirs = JSON.parse(ohai.stdout) as { system?: string; systems?: Record<string, string> };
    // Docker writes /.dockerenv into every container it starts: this process runs in one.
    assert.equal(facts.virtualization.system, "docker");
    assert.equal(facts.virtualization.role, "guest");
    assert.equal(facts.virtualization.systems.docker, "guest");
    // ohai's plugin reads /proc/1/environ without a guard; denied, it stops before its
    // /.dockerenv check and reports what it found first: the VM, and a Docker *host* because the
    // docker command exists. Both are wrong about where this process runs.
    assert.notEqual(theirs.system, "docker", "ohai fixed: then the comparison's explanation should go");
    assert.notEqual(theirs.systems?.docker, "guest");
    // What both see alike: the hypervisor underneath.
    if (theirs.systems?.kvm) assert.equal(facts.virtualization.systems.kvm, theirs.systems.kvm);
  },
);
