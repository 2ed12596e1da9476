import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { SousError, ValidationError } from "../../src/core/errors.js";
import { loadRun } from "../../src/cookbook/load.js";
import { scratch } from "../helpers.js";
import { cookbook, sous, testFacts, writeRepo } from "./repo.js";

/** A recipe that declares one marker resource named after itself, then runs `extra`. */
const marker = (name: string, extra = "") => `import { recipe } from "sous";
export default recipe(({ includeRecipe, resources: { execute } }) => {
  ${extra}
  execute("ran ${name}", { command: ["true"], action: "nothing" });
});
`;

/** The order recipes declared their markers in. */
const ran = (loaded: Awaited<ReturnType<typeof loadRun>>) => loaded.collection.resources.map((r) => r.name.replace(/^ran /, ""));

const repo = () =>
  writeRepo({
    ...cookbook("base", { recipes: { default: marker("base::default"), users: marker("base::users") } }),
    ...cookbook("web", { dependencies: { base: "^1.0.0" }, recipes: { default: marker("web::default", 'includeRecipe("base::users"); includeRecipe("base::users");'), site: marker("web::site", 'includeRecipe("web");') } }),
    ...cookbook("db", { recipes: { default: marker("db::default", 'includeRecipe("web::site");') } }),
    ...cookbook("monitoring", { recipes: { default: marker("monitoring::default") } }),
    "roles/base.ts": `import { role } from "sous";\nexport default role({ runList: ["recipe[base]", "recipe[base::users]"] });\n`,
    "roles/web.ts": `import { role } from "sous";\nexport default role({ runList: ["role[base]", "recipe[web::site]"], envRunLists: { production: ["role[base]", "recipe[web]", "recipe[monitoring]"] } });\n`,
    "roles/loop-a.ts": `import { role } from "sous";\nexport default role({ runList: ["recipe[base]", "role[loop-b]"] });\n`,
    "roles/loop-b.ts": `import { role } from "sous";\nexport default role({ runList: ["role[loop-c]"] });\n`,
    "roles/loop-c.ts": `import { role } from "sous";\nexport default role({ runList: ["role[loop-a]"] });\n`,
    "environments/production.ts": `import { environment } from "sous";\nexport default environment({});\n`,
  });

test("run list items: recipe[x], recipe[x::y] and bare x::y, in order", async () => {
  const root = repo();
  const loaded = await loadRun({ root, runList: "recipe[monitoring], recipe[base::users],base::default", facts: testFacts });
  assert.deepEqual(loaded.node.recipes, ["monitoring::default", "base::users", "base::default"]);
  assert.deepEqual(ran(loaded), ["monitoring::default", "base::users", "base::default"]);
});

test("nested roles expand in place; duplicates are removed keeping the first occurrence", async () => {
  const root = repo();
  const loaded = await loadRun({ root, runList: ["recipe[base::users]", "role[web]", "recipe[base]", "role[base]"], facts: testFacts });
  assert.deepEqual(loaded.node.recipes, ["base::users", "base::default", "web::site"]);
  assert.deepEqual(loaded.node.roles, ["web", "base"]);
  // web::site includes web::default, which includes base::users (already run): each recipe once.
  assert.deepEqual(ran(loaded), ["base::users", "base::default", "web::default", "web::site"]);
});

test("a role's env_run_lists replaces its run list in that environment", async () => {
  const root = repo();
  const loaded = await loadRun({ root, runList: "role[web]", environment: "production", facts: testFacts });
  assert.deepEqual(loaded.node.recipes, ["base::default", "base::users", "web::default", "monitoring::default"]);
});

test("a role cycle is an error naming every role in it", async () => {
  const root = repo();
  await assert.rejects(loadRun({ root, runList: "role[loop-a]", facts: testFacts }), (error: SousError) => {
    assert.equal(error.code, "role-cycle");
    assert.match(error.message, /role\[loop-a\] → role\[loop-b\] → role\[loop-c\] → role\[loop-a\]/);
    return true;
  });
});

test("includeRecipe of a cookbook that is not a dependency is an error naming the recipe line and the fix", async () => {
  const root = writeRepo({
    ...cookbook("web", { recipes: { default: marker("web::default", "\n\n  includeRecipe(\"monitoring\");") } }),
    ...cookbook("monitoring"),
  });
  await assert.rejects(loadRun({ root, runList: "recipe[web]", facts: testFacts }), (error: ValidationError) => {
    assert.ok(error instanceof ValidationError);
    assert.equal(error.problems.length, 1);
    const problem = error.problems[0]!;
    assert.match(problem.message, /cookbook monitoring is not a dependency.*"dependencies".*package\.json/);
    assert.equal(problem.location?.file, `${root}/cookbooks/web/recipes/default.ts`);
    assert.equal(problem.location?.line, 5);
    return true;
  });
});

test("includeRecipe of a recipe the cookbook does not have names the recipes it has", async () => {
  const root = writeRepo({ ...cookbook("web", { recipes: { default: marker("web::default", 'includeRecipe("web::nope");'), other: marker("web::other") } }) });
  await assert.rejects(loadRun({ root, runList: "recipe[web]", facts: testFacts }), /web::default wants web::nope, but cookbook web@1\.0\.0 has no recipes\/nope\.ts \(it has: default, other\)/);
});

test("on the command line: an unknown role or environment, or a malformed item, is a usage error (exit 2)", async () => {
  const root = repo();
  const unknownRole = await sous("converge", "--repo", root, "-r", "role[nope]");
  assert.equal(unknownRole.code, 2);
  assert.match(unknownRole.stderr, /role\[nope\] is not defined.*known roles: base, loop-a, loop-b, loop-c, web/);
  const unknownEnvironment = await sous("converge", "--repo", root, "-r", "recipe[base]", "-E", "staging");
  assert.equal(unknownEnvironment.code, 2);
  assert.match(unknownEnvironment.stderr, /environment staging is not defined.*known: production/);
  const malformed = await sous("converge", "--repo", root, "-r", "recipe[base");
  assert.equal(malformed.code, 2);
  assert.match(malformed.stderr, /run list item "recipe\[base" is not/);
  const noRunList = await sous("converge", "--repo", root);
  assert.equal(noRunList.code, 2);
  assert.match(noRunList.stderr, /no run list/);
});

test("an async recipe is refused before anything applies, naming the recipe, instead of crashing the run", async () => {
  const out = scratch("sous-out-");
  const root = writeRepo({
    ...cookbook("web", {
      recipes: {
        default: `import { recipe } from "sous";
export default recipe(async ({ resources: { file } }) => {
  file(${JSON.stringify(join(out, "a"))}, { content: "a" });
  await new Promise((resolve) => setTimeout(resolve, 20));
  file(${JSON.stringify(join(out, "b"))}, { content: "b" });
});
`,
      },
    }),
  });
  const result = await sous("converge", "--repo", root, "-r", "recipe[web]", "--backup-dir", join(root, "backup"));
  assert.equal(result.code, 1);
  assert.match(result.stderr, /recipes\/default\.ts:1 web::default: the recipe is async/);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(readdirSync(out), [], "nothing was applied");
});

test("a malformed role or environment file is a configuration error naming the file and the field (exit 2)", async () => {
  const cases: Array<[string, string, RegExp]> = [
    ["roles/j.json", JSON.stringify([1, 2]), /roles\/j\.json: the file must be a JSON object/],
    ["roles/j.json", JSON.stringify({ run_list: [1] }), /roles\/j\.json: runList must be a list of run list items.*got \[1\]/],
    ["roles/j.json", JSON.stringify({ run_list: [], default_attributes: [1] }), /roles\/j\.json: defaultAttributes must be an object of attributes, got \[1\]/],
    ["roles/j.json", JSON.stringify({ env_run_lists: { production: "recipe[web]" } }), /envRunLists must be an object of environment name → run list/],
    ["environments/e.json", JSON.stringify({ cookbook_versions: { web: 5 } }), /environments\/e\.json: cookbookVersions must be an object/],
  ];
  for (const [path, content, message] of cases) {
    const root = writeRepo({ ...cookbook("web"), [path]: content });
    const result = await sous("converge", "--repo", root, "-r", path.startsWith("roles") ? "role[j]" : "recipe[web]", "-E", path.startsWith("roles") ? "_default" : "e");
    assert.equal(result.code, 2, `${content}: ${result.stderr}`);
    assert.match(result.stderr, message);
  }
});

test("a broken role or environment the run does not use does not stop it", async () => {
  const root = writeRepo({
    ...cookbook("web", { recipes: { default: marker("web::default") } }),
    "roles/web.json": JSON.stringify({ run_list: ["recipe[web]"] }),
    "roles/broken.json": JSON.stringify({ run_list: "not a list" }),
    "environments/broken.json": JSON.stringify([]),
  });
  assert.deepEqual(ran(await loadRun({ root, runList: "role[web]", facts: testFacts })), ["web::default"]);
  await assert.rejects(loadRun({ root, runList: "role[web],role[broken]", facts: testFacts }), /roles\/broken\.json: runList must be/);
});
