/** The Sous/ohai comparison itself: it reports a real difference, and explains only known ohai defects. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { compareWithOhai } from "../../src/facts/ohai.js";
import { parseFacts } from "../../src/facts/parse.js";

const sous = parseFacts(readFileSync(new URL("./fixtures/debian-docker-on-kvm.txt", import.meta.url), "utf8"));

/** An ohai document that agrees with the fixture, as ohai 16 writes it. */
function ohaiLike(): Record<string, any> {
  return {
    ...structuredClone(sous),
    cpu: { total: 2, real: 1, cores: 2, "0": { model_name: "AMD EPYC" } },
    virtualization: { systems: { kvm: "guest", docker: "guest" }, system: "docker", role: "guest" },
    current_user: null,
  };
}

const status = (rows: ReturnType<typeof compareWithOhai>, key: string) => rows.find((row) => row.key === key)?.status;

test("agreeing documents compare the same, keys ohai lacks are Sous's own", () => {
  const rows = compareWithOhai(sous, ohaiLike(), { elapsedSeconds: 1, pid1EnvironReadable: true });
  assert.deepEqual(rows.filter((row) => row.status !== "same" && row.status !== "only-sous"), []);
  assert.equal(status(rows, "cpu.model_name"), "same", "ohai's cpu.0.model_name is compared");
  assert.equal(status(rows, "current_user"), "only-sous");
});

test("a different value, a missing value and a moved disk are told apart", () => {
  const ohai = ohaiLike();
  ohai.ipaddress = "192.0.2.99";
  ohai.memory = { ...ohai.memory, total: "24684084" };
  ohai.machine_id = "feed";
  ohai.filesystem.by_mountpoint["/"].kb_used = String(Number(sous.filesystem.by_mountpoint["/"]!.kb_used) + 5000);
  ohai.network.interfaces.eth0.state = "down";
  const rows = compareWithOhai({ ...sous, machine_id: undefined }, ohai, { elapsedSeconds: 1, pid1EnvironReadable: true });
  assert.equal(status(rows, "ipaddress"), "different");
  assert.equal(status(rows, "memory.total"), "different", "a unit lost is a difference");
  assert.equal(status(rows, "machine_id"), "only-ohai");
  assert.equal(status(rows, "filesystem.by_mountpoint./.kb_used"), "same");
  assert.equal(status(rows, "network.interfaces.eth0"), "different");
});

test("explanations apply only where their cause holds", () => {
  const ohai = ohaiLike();
  ohai.virtualization = { systems: { docker: "host", kvm: "guest" }, system: "kvm", role: "guest" };
  ohai.network.interfaces.eth0.state = "forwarding";
  assert.equal(status(compareWithOhai(sous, ohai, { elapsedSeconds: 1, pid1EnvironReadable: false }), "virtualization.system"), "explained");
  assert.equal(status(compareWithOhai(sous, ohai, { elapsedSeconds: 1, pid1EnvironReadable: true }), "virtualization.system"), "different");
  assert.equal(status(compareWithOhai(sous, ohai, { elapsedSeconds: 1, pid1EnvironReadable: true }), "network.interfaces.eth0"), "explained");
  // A value that moved between Sous's two runs is not held against either tool.
  const later = { ...sous, uptime_seconds: (sous.uptime_seconds ?? 0) + 100 };
  ohai.uptime_seconds = later.uptime_seconds;
  assert.equal(status(compareWithOhai(sous, ohai, { elapsedSeconds: 1, pid1EnvironReadable: true, sousAfter: later }), "uptime_seconds"), "same");
});
