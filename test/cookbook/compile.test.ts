import { test } from "node:test";
import assert from "node:assert/strict";
import { statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadRun } from "../../src/cookbook/load.js";
import { ValidationError } from "../../src/core/errors.js";
import { cookbook, sous, testFacts, writeRepo } from "./repo.js";

const recipeWith = (marker: string) => `import { recipe } from "sous";
import { shared } from "../../../lib/shared.js";
export default recipe(({ resources: { execute } }) => {
  execute(\`${marker} \${shared}\`, { command: ["true"], action: "nothing" });
});
`;

const names = (loaded: Awaited<ReturnType<typeof loadRun>>) => loaded.collection.resources.map((r) => r.name);

/** Rewrites a file so that its size changes too: the cache is keyed by size and modification time. */
function edit(path: string, content: string): void {
  const before = statSync(path).size;
  assert.notEqual(Buffer.byteLength(content), before, "test edits change the size");
  writeFileSync(path, content);
}

test("the compile cache: a second run reuses the compiled code; edits to a recipe, a new recipe and an imported helper are picked up", async () => {
  const root = writeRepo({
    ...cookbook("app", { recipes: { default: recipeWith("first") } }),
    "lib/shared.ts": `export const shared: string = "v1";\n`,
  });
  const load = (runList = "recipe[app]") => loadRun({ root, runList, facts: testFacts });

  const first = await load();
  assert.equal(first.cached, false);
  assert.deepEqual(names(first), ["first v1"]);
  const second = await load();
  assert.equal(second.cached, true, "an unchanged repository is not compiled again");
  assert.deepEqual(names(second), ["first v1"]);

  edit(join(root, "cookbooks/app/recipes/default.ts"), recipeWith("edited"));
  const afterEdit = await load();
  assert.equal(afterEdit.cached, false);
  assert.deepEqual(names(afterEdit), ["edited v1"]);

  edit(join(root, "lib/shared.ts"), `export const shared: string = "version2";\n`);
  const afterHelper = await load();
  assert.equal(afterHelper.cached, false, "a file outside the cookbooks that a recipe imports is part of the cache key");
  assert.deepEqual(names(afterHelper), ["edited version2"]);
  assert.equal((await load()).cached, true);

  writeFileSync(join(root, "cookbooks/app/recipes/extra.ts"), recipeWith("extra"));
  assert.deepEqual(names(await load("recipe[app::extra]")), ["extra version2"]);
});

test("a helper rewritten at the same size within the clock's tick (same modification time) is compiled again, not served from the cache", async () => {
  const root = writeRepo({
    ...cookbook("app", { recipes: { default: recipeWith("same") } }),
    "lib/shared.ts": `export const shared: string = "v1";\n`,
  });
  const helper = join(root, "lib/shared.ts");
  const load = () => loadRun({ root, runList: "recipe[app]", facts: testFacts });
  // Whole seconds: a time the file system stores exactly, so both versions carry the same one.
  const tick = Math.floor(Date.now() / 1000);
  utimesSync(helper, tick, tick);
  assert.deepEqual(names(await load()), ["same v1"]);
  writeFileSync(helper, `export const shared: string = "v2";\n`);
  utimesSync(helper, tick, tick);
  const again = await load();
  assert.equal(again.cached, false);
  assert.deepEqual(names(again), ["same v2"]);
  assert.equal((await load()).cached, true);
});

test("a TypeScript syntax error names the file and line; fixing it makes the next run work", async () => {
  const root = writeRepo({
    ...cookbook("app", { recipes: { default: recipeWith("ok") } }),
    "lib/shared.ts": `export const shared: string = "v1";\n`,
  });
  const recipeFile = join(root, "cookbooks/app/recipes/default.ts");
  assert.equal((await loadRun({ root, runList: "recipe[app]", facts: testFacts })).cached, false);
  writeFileSync(recipeFile, recipeWith("ok").replace('action: "nothing" });', 'action: "nothing" ;\n'));
  await assert.rejects(loadRun({ root, runList: "recipe[app]", facts: testFacts }), (error: ValidationError) => {
    assert.ok(error instanceof ValidationError);
    assert.match(error.message, /do not compile/);
    assert.equal(error.problems[0]?.location?.file, recipeFile);
    assert.equal(error.problems[0]?.location?.line, 4);
    return true;
  });
  writeFileSync(recipeFile, recipeWith("fixed"));
  assert.deepEqual(names(await loadRun({ root, runList: "recipe[app]", facts: testFacts })), ["fixed v1"]);
});

test("code that throws while loading (an attribute file's top level) is a problem naming its file:line, not an internal error", async () => {
  const root = writeRepo({
    ...cookbook("app", {
      attributes: `import { attributes } from "sous";\n\ntype Port = number;\nconst port: Port = Number("not a number");\nif (Number.isNaN(port)) throw new Error("APP_PORT must be a number");\nexport default attributes({ app: { port } });\n`,
    }),
  });
  const result = await sous("converge", "--repo", root, "-r", "recipe[app]", "--backup-dir", join(root, "backup"));
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, new RegExp(`${join(root, "cookbooks/app/attributes.ts")}:5 cookbooks/app/attributes\\.ts: threw while loading: APP_PORT must be a number`));
});

test("only the cookbooks a run uses are compiled: a broken cookbook elsewhere does not stop it, and is named when it is used", async () => {
  const root = writeRepo({
    ...cookbook("app", { recipes: { default: recipeWith("app") } }),
    ...cookbook("wip", { recipes: { default: `import { recipe } from "sous";\nexport default recipe(() => {\n  const half = ;\n});\n` } }),
    "lib/shared.ts": `export const shared: string = "v1";\n`,
  });
  assert.deepEqual(names(await loadRun({ root, runList: "recipe[app]", facts: testFacts })), ["app v1"]);
  const second = await loadRun({ root, runList: "recipe[app]", facts: testFacts });
  assert.equal(second.cached, true);
  await assert.rejects(loadRun({ root, runList: "recipe[app],recipe[wip]", facts: testFacts }), (error: ValidationError) => {
    assert.equal(error.problems[0]?.location?.file, join(root, "cookbooks/wip/recipes/default.ts"));
    assert.equal(error.problems[0]?.location?.line, 3);
    return true;
  });
});
