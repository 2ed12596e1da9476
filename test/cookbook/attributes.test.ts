import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadRun } from "../../src/cookbook/load.js";
import { cookbook, sous, testFacts, writeRepo } from "./repo.js";

const LEVELS = ["default", "role_default", "environment_default", "normal", "role_override", "environment_override", "automatic"];

/** A tree where the level at index i sets keys k{i}..k6 to its own name: levels 0..j all set k{j}, and level j must win it. */
function levelTree(level: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (let k = level; k < LEVELS.length; k++) out[`k${k}`] = LEVELS[level]!;
  return out;
}

const precedenceRepo = () =>
  writeRepo({
    ...cookbook("app", {
      attributes: `import { attributes } from "sous";
export default attributes({
  app: { ...${JSON.stringify(levelTree(0))}, nested: { fromDefault: 1, replaced: "default" }, list: [1, 2, 3] },
});
`,
    }),
    "roles/web.ts": `import { role } from "sous";
export default role({
  runList: ["recipe[app]"],
  defaultAttributes: { app: { ...${JSON.stringify(levelTree(1))}, nested: { replaced: "role" } } },
  overrideAttributes: { app: ${JSON.stringify(levelTree(4))} },
});
`,
    // Chef's own JSON spelling for the environment.
    "environments/production.json": JSON.stringify({
      name: "production",
      json_class: "Chef::Environment",
      chef_type: "environment",
      cookbook_versions: {},
      default_attributes: { app: levelTree(2) },
      override_attributes: { app: levelTree(5) },
    }),
  });

test("attribute precedence: default < role default < environment default < normal < role override < environment override < automatic", async () => {
  const root = precedenceRepo();
  const loaded = await loadRun({
    root,
    runList: "role[web]",
    environment: "production",
    normal: { app: { ...levelTree(3), list: [9] } },
    facts: { ...testFacts, app: levelTree(6) },
  });
  const app = loaded.node.attributes.app as Record<string, unknown>;
  for (let k = 0; k < LEVELS.length; k++) assert.equal(app[`k${k}`], LEVELS[k], `k${k} should come from ${LEVELS[k]}`);
  // Deep merge keeps keys only a lower level set; an array from a higher level replaces the lower one whole.
  assert.deepEqual(app.nested, { fromDefault: 1, replaced: "role" });
  assert.deepEqual(app.list, [9]);
});

test("-j FILE gives normal attributes (and a run_list) on the command line; recipes see the merged values", async () => {
  const root = writeRepo({
    ...cookbook("app", {
      attributes: `import { attributes } from "sous";\nexport default attributes({ app: { out: "/nonexistent", greeting: "default" } });\n`,
      recipes: {
        default: `import { recipe } from "sous";
export default recipe(({ node, resources: { file } }) => {
  const app = node.attributes.app as { out: string; greeting: string; level: string };
  file(app.out, { content: app.greeting + " " + app.level });
});
`,
      },
    }),
    "roles/web.json": JSON.stringify({ name: "web", json_class: "Chef::Role", chef_type: "role", run_list: ["recipe[app]"], default_attributes: { app: { greeting: "role", level: "role" } }, override_attributes: {} }),
  });
  const out = join(root, "out.txt");
  const nodeJson = join(root, "node.json");
  writeFileSync(nodeJson, JSON.stringify({ run_list: ["role[web]"], app: { out, greeting: "normal" } }));
  const result = await sous("converge", "--repo", root, "-j", nodeJson, "--backup-dir", join(root, "backup"));
  assert.equal(result.code, 0, result.stderr + result.stdout);
  assert.match(result.stdout, new RegExp(`file\\[${out}\\] (updated|created)`));
  const { readFileSync } = await import("node:fs");
  assert.equal(readFileSync(out, "utf8"), "normal role");
});

test("a dependency's default attributes load first, so the cookbook that depends on it overrides them (Chef's order)", async () => {
  const root = writeRepo({
    ...cookbook("base", { attributes: `import { attributes } from "sous";\nexport default attributes({ motd: { text: "from base", baseOnly: true } });\n` }),
    ...cookbook("web", { dependencies: { base: "*" }, attributes: `import { attributes } from "sous";\nexport default attributes({ motd: { text: "from web" } });\n` }),
  });
  const loaded = await loadRun({ root, runList: "recipe[web]", facts: testFacts });
  assert.deepEqual(loaded.node.attributes.motd, { text: "from web", baseOnly: true });
});

test("nested roles: an including role's attributes win over the roles it includes; later roles win over earlier ones", async () => {
  const root = writeRepo({
    ...cookbook("app"),
    "roles/inner.ts": `import { role } from "sous";\nexport default role({ runList: ["recipe[app]"], defaultAttributes: { who: { a: "inner", b: "inner", c: "inner" } } });\n`,
    "roles/outer.ts": `import { role } from "sous";\nexport default role({ runList: ["role[inner]"], defaultAttributes: { who: { a: "outer", b: "outer" } } });\n`,
    "roles/last.ts": `import { role } from "sous";\nexport default role({ runList: [], defaultAttributes: { who: { a: "last" } } });\n`,
  });
  const loaded = await loadRun({ root, runList: "role[outer],role[last]", facts: testFacts });
  assert.deepEqual(loaded.node.attributes.who, { a: "last", b: "outer", c: "inner" });
  assert.deepEqual(loaded.node.roles, ["outer", "inner", "last"]);
});

test("attributes are frozen: a recipe cannot change them behind the engine's back", async () => {
  const root = writeRepo({
    ...cookbook("app", {
      attributes: `import { attributes } from "sous";\nexport default attributes({ app: { port: 80 } });\n`,
      recipes: { default: `import { recipe } from "sous";\nexport default recipe(({ node }) => { (node.attributes.app as { port: number }).port = 81; });\n` },
    }),
  });
  await assert.rejects(loadRun({ root, runList: "recipe[app]", facts: testFacts }), (error: Error) => {
    assert.match(error.message, /recipes\/default\.ts:2 app::default: recipe threw: .*read.only/i);
    return true;
  });
});

test("sous.config.ts attributes are normal attributes: over role defaults, under -j and role overrides", async () => {
  const root = writeRepo({
    ...cookbook("app", { attributes: `import { attributes } from "sous";\nexport default attributes({ app: { a: "default", b: "default", c: "default" } });\n` }),
    "sous.config.ts": `import { config } from "sous";\nexport default config({ runList: ["role[web]"], attributes: { app: { a: "config", b: "config", c: "config" } } });\n`,
    "roles/web.ts": `import { role } from "sous";\nexport default role({ runList: ["recipe[app]"], defaultAttributes: { app: { a: "role default" } }, overrideAttributes: { app: { c: "role override" } } });\n`,
  });
  const loaded = await loadRun({ root, normal: { app: { b: "-j" } }, facts: testFacts });
  assert.deepEqual(loaded.node.runList, ["role[web]"]);
  assert.deepEqual(loaded.node.attributes.app, { a: "config", b: "-j", c: "role override" });
});
