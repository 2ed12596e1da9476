// A resource type is one definition: its specs give validation, the provider's property
// types and the recipe function (named from the type, no DSL code to write), and the generic
// state differ plans a provider whose state is a set of properties. The new type here keeps
// keys of a JSON file, converged twice for real in a scratch folder.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ResourceCollection } from "../../src/core/collection.js";
import { converge } from "../../src/core/engine.js";
import type { RunEvent } from "../../src/core/events.js";
import { prop } from "../../src/core/properties.js";
import { defineType } from "../../src/core/resource.js";
import { diffState } from "../../src/core/state.js";
import { type NodeView, resourceFunctions } from "../../src/dsl.js";
import { LocalHost } from "../../src/host/local.js";
import { builtinRegistry } from "../../src/resources/registry.js";
import { scratch } from "../helpers.js";

const properties = {
  key: prop.string({ role: "identity", nonEmpty: true }),
  file: prop.absolutePath({ role: "control", required: true }),
  value: prop.string(),
  enabled: prop.boolean(),
  comment: prop.string({ role: "control" }),
};

const jsonKeyType = defineType({
  name: "json_key",
  description: "A key of a JSON file: its value and whether it is enabled.",
  actions: ["set", "nothing"],
  defaultAction: "set",
  identity: "key",
  properties,
  provider: {
    async read({ host }, desired) {
      const text = await host.tryReadFile(desired.file);
      const all = text ? (JSON.parse(text.toString("utf8")) as Record<string, { value?: string; enabled?: boolean }>) : {};
      return { all, entry: all[desired.key] };
    },
    plan(current, desired) {
      return { changes: diffState(properties, current.entry, desired) };
    },
    async apply({ host }, plan, desired, _action, current) {
      const entry = { ...current.entry };
      for (const change of plan.changes) (entry as Record<string, unknown>)[change.property] = change.to;
      await host.writeFileAtomic(desired.file, `${JSON.stringify({ ...current.all, [desired.key]: entry }, null, 2)}\n`);
    },
  },
});

const node = { name: "test", attributes: {} } as NodeView;

async function run(declare: (resources: Record<string, (...args: never[]) => unknown>) => void) {
  const registry = builtinRegistry().register(jsonKeyType);
  const collection = new ResourceCollection();
  const functions = resourceFunctions(() => ({ collection, registry, recipe: "test::default", cookbook: { name: "test", version: "1.0.0", dir: "/nonexistent" } }), node);
  declare(functions as unknown as Record<string, (...args: never[]) => unknown>);
  const events: RunEvent[] = [];
  await converge({ host: new LocalHost(), collection: collection.freeze(), events: (e) => events.push(e), backupDir: scratch() });
  return events.filter((e) => e.type === "resource:updated").map((e) => (e as Extract<RunEvent, { type: "resource:updated" }>).changes);
}

test("a type defined in one place is a recipe function named after it, converges, and the second run changes nothing", async () => {
  const file = join(scratch(), "settings.json");
  writeFileSync(file, JSON.stringify({ color: { value: "red", enabled: true } }));
  const declare = (r: Record<string, (...args: never[]) => unknown>) => {
    const jsonKey = r.jsonKey as (name: string, properties: object) => unknown;
    jsonKey("color", { file, value: "blue", comment: "not diffed: a control property" });
    jsonKey("size", { file, value: "xl", enabled: false });
  };
  const first = await run(declare);
  assert.deepEqual(first, [[{ property: "value", from: "red", to: "blue" }], [{ property: "value", from: undefined, to: "xl" }, { property: "enabled", from: undefined, to: false }]]);
  assert.deepEqual(JSON.parse(readFileSync(file, "utf8")), { color: { value: "blue", enabled: true }, size: { value: "xl", enabled: false } });
  assert.deepEqual(await run(declare), []);
});

test("its specs validate every declaration, all problems at once", () => {
  const registry = builtinRegistry().register(jsonKeyType);
  const collection = new ResourceCollection();
  const r = resourceFunctions(() => ({ collection, registry, recipe: "test::default", cookbook: { name: "t", version: "1.0.0", dir: "/x" } }), node) as unknown as Record<string, (name: string, properties: object) => unknown>;
  r.jsonKey!("a", { value: 3 });
  assert.throws(() => collection.freeze(), (error: Error) => /json_key\[a\]\.file: is required \(an absolute path\)/.test(error.message) && /json_key\[a\]\.value: expected a string, got number 3/.test(error.message));
});

test("diffState: state properties the declaration sets and the current state lacks; control and unset ones are not managed; a custom comparison", () => {
  const specs = { name: prop.string({ role: "identity" }), members: prop.stringArray(), gid: prop.integer(), force: prop.boolean({ role: "control" }) };
  assert.deepEqual(diffState(specs, undefined, { name: "g", members: ["a"], gid: undefined, force: true }), [{ property: "members", from: undefined, to: ["a"] }]);
  assert.deepEqual(diffState(specs, { members: ["b", "a"], gid: 10 }, { name: "g", members: ["a", "b"], gid: 10, force: false }), [{ property: "members", from: ["b", "a"], to: ["a", "b"] }]);
  const asSet = (have: string[] | undefined, want: string[]) => [...(have ?? [])].sort().join() === [...want].sort().join();
  assert.deepEqual(diffState(specs, { members: ["b", "a"], gid: 10 }, { name: "g", members: ["a", "b"], gid: 11 }, { equal: { members: asSet } }), [{ property: "gid", from: 10, to: 11 }]);
  assert.deepEqual(diffState(specs, { members: ["a"], gid: 10 }, { name: "g", members: ["a"], gid: 10 }), []);
});
