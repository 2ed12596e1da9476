import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { Resources } from "../../src/dsl.js";
import { normalizeValue, procPath } from "../../src/resources/sysctl.js";
import { convergeWith } from "../helpers.js";
import { startMachine } from "../support/machine.js";

const machine = await startMachine();
const backupDir = "/var/lib/sous/backup";
const converge = (declare: (resources: Resources) => void, dryRun = false) => convergeWith(declare, { host: machine.host, backupDir, dryRun });
// This test process reads /proc/sys in this machine's network namespace, never the test machine's.
const ours = (key: string) => readFileSync(procPath(key), "utf8");
const theirs = (key: string) => normalizeValue(machine.run(["cat", procPath(key)]));

test("keys map to /proc/sys paths; values compare as the kernel prints them", () => {
  assert.equal(procPath("net.ipv4.ip_forward"), "/proc/sys/net/ipv4/ip_forward");
  assert.equal(procPath("net/ipv4/conf/eth0.1/forwarding"), "/proc/sys/net/ipv4/conf/eth0.1/forwarding");
  assert.equal(normalizeValue("32768\t60999\n"), "32768 60999");
});

test("a namespaced key is applied and persisted; again changes nothing; this machine's value is untouched", async () => {
  const oursBefore = ours("net.ipv4.ip_forward");
  const wanted = theirs("net.ipv4.ip_forward") === "1" ? 0 : 1;
  const declare = ({ sysctl }: Resources) => {
    sysctl("net.ipv4.ip_forward", { value: wanted });
    sysctl("net.ipv4.ip_local_port_range", { value: [20000, 40000] });
  };
  const before = machine.digest("/etc");
  const dry = await converge(declare, true);
  assert.equal(dry.updated.length, 2);
  assert.equal(machine.digest("/etc"), before, "the dry run wrote no file");
  assert.notEqual(theirs("net.ipv4.ip_forward"), String(wanted), "the dry run left the live value");

  const first = await converge(declare);
  assert.equal(first.result.status, "converged", JSON.stringify(first.events.at(-1)));
  assert.equal(first.updated.length, 2);
  assert.equal(theirs("net.ipv4.ip_forward"), String(wanted));
  assert.equal(theirs("net.ipv4.ip_local_port_range"), "20000 40000");
  assert.equal(machine.run(["cat", "/etc/sysctl.d/99-sous-net.ipv4.ip_forward.conf"]), `# Managed by Sous: sysctl[net.ipv4.ip_forward]\nnet.ipv4.ip_forward = ${wanted}\n`);
  assert.deepEqual((await converge(declare)).updated, []);
  assert.equal(ours("net.ipv4.ip_forward"), oursBefore, "this machine's value is untouched");

  // What was persisted is what the machine's own sysctl loads at boot.
  machine.run(["sh", "-c", `echo ${1 - wanted} > /proc/sys/net/ipv4/ip_forward`]);
  machine.run(["sysctl", "-p", "/etc/sysctl.d/99-sous-net.ipv4.ip_forward.conf"]);
  assert.equal(theirs("net.ipv4.ip_forward"), String(wanted));
});

test("remove deletes the persisted file only; unknown and read-only keys fail with the reason", async () => {
  await converge(({ sysctl }) => sysctl("net.core.somaxconn", { value: 1000 }));
  const remove = ({ sysctl }: Resources) => {
    sysctl("net.core.somaxconn", { action: "remove" });
  };
  assert.equal((await converge(remove)).updated.length, 1);
  assert.equal(machine.try(["test", "-e", "/etc/sysctl.d/99-sous-net.core.somaxconn.conf"]).status, 1);
  assert.equal(theirs("net.core.somaxconn"), "1000");
  assert.deepEqual((await converge(remove)).updated, []);

  const unknown = await converge(({ sysctl }) => sysctl("net.ipv4.no_such_key", { value: 1 }));
  assert.equal(unknown.result.status, "failed");
  assert.match(JSON.stringify(unknown.events.find((e) => e.type === "resource:failed")), /no such kernel parameter/);
  // A read-only key (for root too, everywhere): the failure says why.
  const readOnly = await converge(({ sysctl }) => sysctl("kernel.osrelease", { value: "sous", persist: false }));
  assert.equal(readOnly.result.status, "failed");
  assert.match(JSON.stringify(readOnly.events.find((e) => e.type === "resource:failed")), /Read-only file system|Permission denied/);
});

test("temporary files a killed write of the persisted file left are removed by the next converge, then nothing changes; remove takes them too", async () => {
  const declare = ({ sysctl }: Resources) => void sysctl("net.core.somaxconn", { value: 1001 });
  await converge(declare);
  // What a converge killed inside writeFileAtomic leaves, and a name that only looks alike.
  const leftover = "/etc/sysctl.d/.99-sous-net.core.somaxconn.conf.sous-0123456789ab";
  machine.run(["sh", "-c", `echo partial > ${leftover}; echo keep > /etc/sysctl.d/.99-sous-net.core.somaxconn.conf.sous-notours`]);
  const first = await converge(declare);
  assert.deepEqual((first.events.find((e) => e.type === "resource:updated") as { changes: Array<{ property: string }> }).changes.map((c) => c.property), ["leftovers"]);
  assert.equal(machine.try(["test", "-e", leftover]).status, 1);
  assert.deepEqual((await converge(declare)).updated, []);
  machine.run(["sh", "-c", `echo partial > ${leftover}`]);
  assert.equal((await converge(({ sysctl }) => sysctl("net.core.somaxconn", { action: "remove" }))).updated.length, 1);
  assert.equal(machine.run(["ls", "-A", "/etc/sysctl.d"]).split("\n").filter((entry) => entry.includes("somaxconn")).join(","), ".99-sous-net.core.somaxconn.conf.sous-notours");
});
