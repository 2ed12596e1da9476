/** `sous facts`: all facts as JSON, or the named attributes, through the real command line. */
import assert from "node:assert/strict";
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
