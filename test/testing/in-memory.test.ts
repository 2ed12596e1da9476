// sous test's in-memory tier as a cookbook author uses it: a new cookbook's scaffolded test
// passes; a test of a custom resource sees its inner resources, rendered templates and
// notifications; breaking the recipe makes the tests fail, saying what and where.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sous } from "../helpers.js";
import { scratch } from "../helpers.js";
import { writeRepo } from "../cookbook/repo.js";

async function newRepository(): Promise<string> {
  const root = join(scratch("sous-test-repo-"), "infra");
  assert.equal((await sous("init", root)).code, 0);
  assert.equal((await sous("cookbook", "create", "web", "--repo", root)).code, 0);
  return root;
}

const SITE = `import { defineResource, prop } from "sous";
export default defineResource("webapp_site", {
  properties: { port: prop.integer({ default: 80 }) },
  actions: {
    create: ({ name, properties, resources: { template, service } }) => {
      const config = template(\`/etc/sites/\${name}.conf\`, { inline: "listen <%= port %> <%= node.name %>\\n", mode: "0640", variables: { port: properties.port } });
      service("nginx", { action: "nothing", subscribes: { reload: config } });
    },
  },
});
`;

test("sous test runs the scaffolded tests of every cookbook in memory, in seconds, touching no machine", async () => {
  const root = await newRepository();
  const started = performance.now();
  const result = await sous("test", "--repo", root);
  const seconds = (performance.now() - started) / 1000;
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /✔ hello::default writes the motd/);
  assert.match(result.stdout, /✔ web::default writes the motd/);
  assert.match(result.stdout, /Tests passed: 2 files of 2 cookbooks/);
  assert.ok(seconds < 20, `took ${seconds} s`);
  // Nothing of what the recipes declare was written.
  assert.throws(() => readFileSync("/srv/web/motd"), /ENOENT/);
});

test("a broken recipe fails its test with the property, what was expected, what it got, and the recipe's line", async () => {
  const root = await newRepository();
  const recipe = join(root, "cookbooks/web/recipes/default.ts");
  writeFileSync(recipe, readFileSync(recipe, "utf8").replace('mode: "0644",', 'mode: "0600",').replace('notifies: { run: "execute[web-reload]" },', ""));
  const result = await sous("test", "web", "--repo", root);
  assert.equal(result.code, 1);
  assert.match(result.stdout, new RegExp(`template\\[/srv/web/motd\\] \\(${recipe.replace(/[/.]/g, "\\$&")}:10\\):\\n\\s+mode: expected "0644", got "0600"`));
  assert.match(result.stdout, /cookbooks\/web\/test\/default\.test\.ts:\d+/);
  assert.match(result.stdout, /Tests failed: 1 file of 1 cookbook/);
  // Only the named cookbook ran.
  assert.doesNotMatch(result.stdout, /hello::default/);
});

test("in-memory tests see a custom resource's inner resources, its rendered template and notifications, and a recipe's problems", async () => {
  const root = await newRepository();
  writeRepo(
    {
      "cookbooks/web/resources/webapp_site.ts": SITE,
      "cookbooks/web/recipes/sites.ts": `import { recipe } from "sous";\nexport default recipe(({ resources: { webappSite } }) => {\n  webappSite("shop", { port: 8080 });\n});\n`,
      "cookbooks/web/test/sites.test.ts": `import { test } from "node:test";
import assert from "node:assert/strict";
import { converge, expect } from "sous/testing";

test("a site has its configuration and reloads nginx", async () => {
  const run = await converge({ runList: "recipe[web::sites]", facts: { fqdn: "web1.example" } });
  expect(run).toHaveResource("webapp_site[shop]", { port: 8080 });
  expect(run).toHaveResource("webapp_site[shop] > template[/etc/sites/shop.conf]", { mode: "0640" });
  expect(run).toRender("template[/etc/sites/shop.conf]", "listen 8080 web1.example\\n");
  expect(run).toNotify("webapp_site[shop] > template[/etc/sites/shop.conf]", "reload", "service[nginx]");
  expect(run).not.toHaveResource("template[/etc/sites/blog.conf]");
  assert.deepEqual(run.resources.map((r) => r.path), ["webapp_site[shop]", "webapp_site[shop] > template[/etc/sites/shop.conf]", "webapp_site[shop] > service[nginx]"]);
});

test("a missing resource is named with the resources of its type", async () => {
  const run = await converge({ runList: "recipe[web::sites]" });
  assert.throws(() => expect(run).toHaveResource("template[/etc/sites/blog.conf]"), /the run has no template\\[\\/etc\\/sites\\/blog\\.conf\\]; its template resources: webapp_site\\[shop\\] > template\\[\\/etc\\/sites\\/shop\\.conf\\]/);
});

test("a recipe with a wrong property is refused with its file and line", async () => {
  await assert.rejects(converge({ runList: "recipe[web::broken]" }), /recipes\\/broken\\.ts:3 webapp_site\\[bad\\]\\.port: expected an integer, got "80"/);
});
`,
      "cookbooks/web/recipes/broken.ts": `import { recipe } from "sous";\nexport default recipe(({ resources: { webappSite } }) => {\n  webappSite("bad", { port: "80" as unknown as number });\n});\n`,
    },
    root,
  );
  const result = await sous("test", "web", "--repo", root);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /ℹ pass 4/);
});
