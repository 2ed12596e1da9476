/** A repository given by a relative path loads like one given by an absolute path. */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { test } from "node:test";
import { loadRun } from "../../src/cookbook/load.js";
import { scratch } from "../helpers.js";

test("loadRun accepts a repository path relative to the working directory", async () => {
  const root = scratch("sous-relative-repo-");
  mkdirSync(join(root, "cookbooks", "app", "recipes"), { recursive: true });
  writeFileSync(join(root, "cookbooks", "app", "package.json"), JSON.stringify({ name: "app", version: "1.0.0" }));
  writeFileSync(join(root, "cookbooks", "app", "recipes", "default.ts"), `import { recipe } from "sous";\nexport default recipe(({ resources: { file } }) => { file("${root}/out", { content: "x" }); });\n`);
  // "repo", not "./repo": a bare relative path is what esbuild would take for a package name.
  const before = process.cwd();
  process.chdir(dirname(root));
  try {
    const loaded = await loadRun({ root: basename(root), runList: "recipe[app]", facts: {} });
    assert.deepEqual(loaded.collection.resources.map((r) => r.id), [`file[${root}/out]`]);
  } finally {
    process.chdir(before);
  }
});
