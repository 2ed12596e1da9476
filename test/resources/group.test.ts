import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { Resources } from "../../src/dsl.js";
import { convergeWith } from "../helpers.js";
import { createDisposableRoot } from "../support/disposable-root.js";

const box = createDisposableRoot();
const host = box.host;

function groupLine(name: string): string | undefined {
  return readFileSync(box.path("/etc/group"), "utf8").split("\n").find((line) => line.startsWith(`${name}:`));
}

for (const name of ["sous-ann", "sous-ben", "sous-cid"]) box.run(["useradd", "--no-create-home", name]);

test("a group with a gid and exact members is created once; the second run changes nothing", async () => {
  const declare = ({ group }: Resources) => void group("sous-ops", { gid: 6100, members: ["sous-ann", "sous-ben"] });
  const before = box.digest();
  assert.deepEqual((await convergeWith(declare, { host, dryRun: true })).updated, ["group[sous-ops]"]);
  assert.equal(box.digest(), before, "a dry run changes nothing");
  const first = await convergeWith(declare, { host });
  assert.equal(first.result.status, "converged");
  assert.equal(groupLine("sous-ops"), "sous-ops:x:6100:sous-ann,sous-ben");
  assert.equal(readFileSync("/etc/group", "utf8").includes("\nsous-ops:"), false, "this machine has no such group");
  assert.deepEqual((await convergeWith(declare, { host })).updated, []);
});

test("exact members drop the undeclared ones; append keeps them; the gid can change", async () => {
  const exact = ({ group }: Resources) => void group("sous-ops", { members: ["sous-cid", "sous-ann"] });
  const run = await convergeWith(exact, { host });
  const event = run.events.find((e) => e.type === "resource:updated") as { changes: unknown[] };
  assert.deepEqual(event.changes, [{ property: "members", from: ["sous-ann", "sous-ben"], to: ["sous-ann", "sous-cid"] }]);
  assert.equal(groupLine("sous-ops"), "sous-ops:x:6100:sous-ann,sous-cid");
  assert.deepEqual((await convergeWith(exact, { host })).updated, [], "order does not matter");

  const append = ({ group }: Resources) => void group("sous-ops", { members: ["sous-ben"], append: true, gid: 6200 });
  assert.deepEqual((await convergeWith(append, { host })).updated, ["group[sous-ops]"]);
  assert.match(groupLine("sous-ops") ?? "", /^sous-ops:x:6200:/);
  assert.deepEqual(groupLine("sous-ops")!.split(":")[3]!.split(",").sort(), ["sous-ann", "sous-ben", "sous-cid"]);
  assert.deepEqual((await convergeWith(append, { host })).updated, []);

  const empty = ({ group }: Resources) => void group("sous-ops", { members: [] });
  assert.deepEqual((await convergeWith(empty, { host })).updated, ["group[sous-ops]"]);
  assert.equal(groupLine("sous-ops"), "sous-ops:x:6200:");
  assert.deepEqual((await convergeWith(empty, { host })).updated, []);
});

test("remove deletes the group once; an unknown member fails naming it", async () => {
  const remove = ({ group }: Resources) => void group("sous-ops", { action: "remove" });
  assert.deepEqual((await convergeWith(remove, { host })).updated, ["group[sous-ops]"]);
  assert.equal(groupLine("sous-ops"), undefined);
  assert.deepEqual((await convergeWith(remove, { host })).updated, []);

  const unknown = await convergeWith(({ group }) => void group("sous-bad", { members: ["sous-nobody-at-all"] }), { host });
  assert.equal(unknown.result.status, "failed");
  assert.match(JSON.stringify(unknown.events), /sous-nobody-at-all/);
});
