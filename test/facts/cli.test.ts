/** `sous facts`: all facts as JSON, or the named attributes, through the real command line. */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { release } from "node:os";
import { test } from "node:test";
import { sous } from "../helpers.js";


test("sous facts prints every fact as one JSON document", async () => {
  const { code, stdout } = await sous("facts");
  assert.equal(code, 0);
  const facts = JSON.parse(stdout) as { kernel: { release: string }; network: { interfaces: Record<string, unknown> }; filesystem: { by_mountpoint: Record<string, unknown> } };
  assert.equal(facts.kernel.release, release());
  assert.ok(facts.network.interfaces.lo);
  assert.ok(facts.filesystem.by_mountpoint["/"]);
});

test("sous facts ATTRIBUTE... prints those values, ohai's slash paths or dots; a missing one exits 1", async () => {
  const found = await sous("facts", "kernel/release", "cpu.total");
  assert.equal(found.code, 0);
  const [kernel, ...rest] = found.stdout.trim().split("\n");
  assert.equal(JSON.parse(kernel!), release());
  assert.equal(rest.length, 1);
  const missing = await sous("facts", "platform", "no/such/fact");
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no attribute no\/such\/fact/);
  assert.match(missing.stdout, /^"\w+"\n$/);
});

test("sous facts --json is the same document; domain and shells are there as ohai has them", async () => {
  const plain = await sous("facts");
  const json = await sous("facts", "--json");
  assert.equal(json.code, 0, json.stderr);
  const facts = JSON.parse(json.stdout) as { fqdn?: string; domain?: string | null; shells?: string[]; uptime_seconds?: number };
  const again = JSON.parse(plain.stdout) as typeof facts;
  assert.deepEqual(Object.keys(facts).sort(), Object.keys(again).sort());
  if (facts.fqdn !== undefined) assert.equal(facts.domain, facts.fqdn.includes(".") ? facts.fqdn.slice(facts.fqdn.indexOf(".") + 1) : null);
  const shellsFile = existsSync("/etc/shells") ? readFileSync("/etc/shells", "utf8").split("\n").map((line) => line.trim()).filter((line) => line.startsWith("/")) : undefined;
  assert.deepEqual(facts.shells, shellsFile);
  if (Object.hasOwn(facts, "domain")) {
    const one = await sous("facts", "domain", "--json");
    assert.equal(one.code, 0, one.stderr);
    assert.deepEqual(JSON.parse(one.stdout), facts.domain);
  }
});

test("sous facts KEY.PATH walks dotted paths, \\. is a dot inside a key", async () => {
  const all = JSON.parse((await sous("facts")).stdout) as { network: { interfaces: Record<string, { addresses: Record<string, { family: string }> }> } };
  const [name, iface] = Object.entries(all.network.interfaces).find(([, i]) => Object.keys(i.addresses ?? {}).some((a) => a.includes(".")))!;
  const address = Object.keys(iface.addresses).find((a) => a.includes("."))!;
  const result = await sous("facts", `network.interfaces.${name}.addresses.${address.replace(/\./g, "\\.")}.family`);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(JSON.parse(result.stdout), iface.addresses[address]!.family);
});
