import { test } from "node:test";
import assert from "node:assert/strict";
import { hostname as localHostname } from "node:os";
import { readFileSync } from "node:fs";
import type { Resources } from "../../src/dsl.js";
import { hostsWithEntry, isHostname } from "../../src/resources/hostname.js";
import { convergeWith } from "../helpers.js";
import { startMachine } from "../support/machine.js";

const machine = await startMachine();
const backupDir = "/var/lib/sous/backup";
const ourHostname = localHostname();
const ourHosts = readFileSync("/etc/hosts", "utf8");

test("/etc/hosts gets one line for the address, everything else kept", () => {
  const hosts = "127.0.0.1\tlocalhost\n# keep me\n127.0.1.1\told old.example\n127.0.1.1 duplicate\n::1 localhost ip6-localhost\n";
  assert.equal(hostsWithEntry(hosts, "127.0.1.1", ["web-1.example.test", "web-1"]), "127.0.0.1\tlocalhost\n# keep me\n127.0.1.1\tweb-1.example.test web-1\n::1 localhost ip6-localhost\n");
  assert.equal(hostsWithEntry("127.0.0.1 localhost", "127.0.1.1", ["db"]), "127.0.0.1 localhost\n127.0.1.1\tdb\n");
  assert.equal(isHostname("web-1.example.test"), true);
  assert.equal(isHostname("-bad"), false);
  assert.equal(isHostname("under_score"), false);
});

test("the machine is renamed live, in /etc/hostname and /etc/hosts; again changes nothing; this machine keeps its name", async () => {
  const declare = ({ hostname }: Resources) => {
    hostname("web-1.example.test", { aliases: ["web"] });
  };
  const before = machine.digest("/etc");
  const dry = await convergeWith(declare, { host: machine.host, backupDir, dryRun: true });
  assert.deepEqual(dry.updated, ["hostname[web-1.example.test]"]);
  assert.equal(machine.digest("/etc"), before, "the dry run changed no file");
  assert.equal(machine.run(["uname", "-n"]).trim(), "sous-machine", "the dry run left the live name");

  const first = await convergeWith(declare, { host: machine.host, backupDir });
  assert.equal(first.result.status, "converged", JSON.stringify(first.events.at(-1)));
  assert.deepEqual(
    (first.events.find((e) => e.type === "resource:updated") as { changes: Array<{ property: string }> }).changes.map((c) => c.property),
    ["hostname", "/etc/hostname", "/etc/hosts"],
  );
  assert.equal(machine.run(["uname", "-n"]).trim(), "web-1.example.test");
  assert.equal(machine.run(["cat", "/etc/hostname"]), "web-1.example.test\n");
  assert.match(machine.run(["cat", "/etc/hosts"]), /^127\.0\.1\.1\tweb-1\.example\.test web-1 web$/m);
  assert.match(machine.run(["cat", "/etc/hosts"]), /^127\.0\.0\.1\tlocalhost$/m, "other lines are kept");
  assert.equal(machine.run(["hostname", "-f"]).trim(), "web-1.example.test", "the name resolves");
  assert.equal(machine.run(["hostnamectl", "--static"]).trim(), "web-1.example.test");
  assert.deepEqual((await convergeWith(declare, { host: machine.host, backupDir })).updated, []);

  assert.equal(localHostname(), ourHostname, "this machine's name is untouched");
  assert.equal(readFileSync("/etc/hosts", "utf8"), ourHosts);
});

test("only the live name differs: only it is set", async () => {
  machine.run(["hostname", "drifted"]);
  const result = await convergeWith(({ hostname }) => hostname("web-1.example.test", { aliases: ["web"] }), { host: machine.host, backupDir });
  assert.deepEqual(
    (result.events.find((e) => e.type === "resource:updated") as { changes: unknown[] }).changes,
    [{ property: "hostname", from: "drifted", to: "web-1.example.test" }],
  );
  assert.equal(machine.run(["uname", "-n"]).trim(), "web-1.example.test");
});

test("without systemd the live name is set with `hostname`", async () => {
  const box = await machine.withoutSystemd();
  const declare = ({ hostname }: Resources) => {
    hostname("plain-box", { manageHosts: false });
  };
  const first = await convergeWith(declare, { host: box.host, backupDir });
  assert.equal(first.result.status, "converged", JSON.stringify(first.events.at(-1)));
  assert.equal((await box.host.exec(["uname", "-n"])).stdout.trim(), "plain-box");
  assert.notEqual(machine.run(["uname", "-n"]).trim(), "plain-box", "the box has a hostname of its own");
  assert.deepEqual((await convergeWith(declare, { host: box.host, backupDir })).updated, []);
});

test("a bad address or alias is refused before anything runs", async () => {
  await assert.rejects(convergeWith(({ hostname }) => hostname("web-2", { ipaddress: "1.2" }), { host: machine.host, backupDir }), /ipaddress: expected an IPv4 or IPv6 address/);
  await assert.rejects(convergeWith(({ hostname }) => hostname("web-2", { aliases: ["bad alias"] }), { host: machine.host, backupDir }), /aliases: expected host names/);
});

test("temporary files killed writes of /etc/hostname and /etc/hosts left are removed by the next converge, then nothing changes", async () => {
  const declare = ({ hostname }: Resources) => void hostname("web-1.example.test", { aliases: ["web"] });
  await convergeWith(declare, { host: machine.host, backupDir });
  machine.run(["sh", "-c", "echo partial > /etc/.hostname.sous-0123456789ab; echo partial > /etc/.hosts.sous-ba9876543210"]);
  const first = await convergeWith(declare, { host: machine.host, backupDir });
  assert.deepEqual(
    (first.events.find((e) => e.type === "resource:updated") as { changes: unknown[] }).changes,
    [{ property: "leftovers", from: [".hostname.sous-0123456789ab", ".hosts.sous-ba9876543210"], to: [] }],
  );
  assert.equal(machine.run(["sh", "-c", "ls -A /etc | grep -c '\\.sous-' || true"]).trim(), "0");
  assert.deepEqual((await convergeWith(declare, { host: machine.host, backupDir })).updated, []);
});
