// What search indexes of a node (shared/SEARCH.md rules 1-5).
import assert from "node:assert/strict";
import { test } from "node:test";
import { flattenForSearch, MAX_INDEXED_VALUE_LENGTH, nodeSearchView } from "../../src/server/search/flatten.js";

const node = {
  name: "web1",
  chef_environment: "prod",
  run_list: ["role[web]", "recipe[nginx::default]", "base"],
  default: { a: { b: 1, keep: "d" }, list: [1, 2], gone: { deep: 1 } },
  normal: { a: { b: 2 }, tags: ["x"] },
  override: { a: { c: 3 }, gone: "flat" },
  automatic: { a: { b: 4 }, platform: "debian", empty: {}, nothing: null },
};

test("a node is searched as its merged attributes plus name, environment, run list, role and recipe", () => {
  const view = nodeSearchView(node);
  assert.deepEqual(view.a, { b: 4, keep: "d", c: 3 });
  assert.equal(view.gone, "flat");
  assert.deepEqual(view.role, ["web"]);
  assert.deepEqual(view.recipe, ["nginx::default", "base"]);
  const rows = flattenForSearch(view).map(([k, v]) => `${k}=${v}`);
  for (const row of ["a_b=4", "b=4", "a=b", "a=keep", "role=web", "recipe=nginx::default", "list=1", "list=2", "nothing=", "chef_environment=prod"]) assert.ok(rows.includes(row), row);
  assert.ok(!rows.some((row) => row.startsWith("empty=") || row.startsWith("default") || row === "a_b=1"));
});

test("merging leaves the node's attribute levels as they were", () => {
  const levels = structuredClone(node);
  const view = nodeSearchView(levels);
  assert.deepEqual(levels, node, "no level was changed by the merge");
  // A hash only one level has is the same in the view; one that several levels have is a new hash.
  assert.deepEqual(view.a, { b: 4, keep: "d", c: 3 });
  assert.deepEqual([levels.default.a, levels.normal.a, levels.override.a, levels.automatic.a], [{ b: 1, keep: "d" }, { b: 2 }, { c: 3 }, { b: 4 }]);
  const deeper = nodeSearchView({ name: "n", default: { x: { y: { z: 1 } } }, automatic: { x: { y: { w: 2 } }, only: { here: true } } });
  assert.deepEqual(deeper.x, { y: { z: 1, w: 2 } });
  assert.deepEqual(deeper.only, { here: true });
});

test("long values are cut to the indexed length", () => {
  const rows = flattenForSearch({ long: "x".repeat(MAX_INDEXED_VALUE_LENGTH + 50) });
  assert.equal(rows[0]![1].length, MAX_INDEXED_VALUE_LENGTH);
});
