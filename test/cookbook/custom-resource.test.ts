// Custom resources as a Chef user writes them: a cookbook's resources/webapp_site.ts made of
// a directory, a template and a reload command, used twice by a recipe, converged for real
// in a scratch folder (twice), with its inner resources nested in the report, notifications
// to and from it, a dry run through it, every problem at once, and the type checker's view.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cookbook, sous, writeRepo } from "./repo.js";
import { scratch, treeDigest } from "../helpers.js";

const SITE = `import { defineResource, prop } from "sous";

export default defineResource("webapp_site", {
  description: "A site: its folder, its configuration, a reload when the configuration changes",
  properties: {
    root: prop.absolutePath({ required: true }),
    port: prop.integer({ min: 1, max: 65535, default: 80 }),
    secret: prop.string({ sensitive: true }),
  },
  actions: {
    create: ({ name, properties, resources: { directory, template, execute } }) => {
      directory(\`\${properties.root}/\${name}\`, { mode: "0755", recursive: true });
      template(\`\${properties.root}/\${name}/site.conf\`, {
        source: "site.conf.ejs",
        mode: "0640",
        variables: { name, port: properties.port, secret: properties.secret ?? "none" },
        notifies: { run: "execute[reload]" },
      });
      execute("reload", { command: ["sh", "-c", \`echo \${name} >> \${properties.root}/reloads.log\`], action: "nothing" });
    },
    delete: ({ name, properties, resources: { directory } }) => {
      directory(\`\${properties.root}/\${name}\`, { action: "delete", recursive: true });
    },
  },
});
`;

const RECIPE = `import { recipe } from "sous";

export default recipe(({ node, resources: { webappSite, file } }) => {
  const root = node.attributes.root as string;
  const shop = webappSite("shop", { root, port: 8080, secret: "hunter2-secret" });
  webappSite("blog", { root });
  webappSite("old", { root, action: "nothing" });
  // Notifications from a custom resource, and to one (its delete action runs at the end).
  file(\`\${root}/shop-changed\`, { content: "yes\\n", action: "nothing", subscribes: { create: shop } });
  file(\`\${root}/retire\`, { content: "old\\n", notifies: { delete: "webapp_site[old]" } });
});
`;

function setup(recipe = RECIPE) {
  const out = scratch("sous-custom-out-");
  const root = writeRepo({
    ...cookbook("webapp", {
      recipes: { default: recipe },
      files: { "resources/webapp_site.ts": SITE, "templates/site.conf.ejs": "server <%= name %>\nlisten <%= port %>\nsecret <%= secret %>\n" },
    }),
    "node.json": JSON.stringify({ root: out }),
  });
  const converge = (...extra: string[]) => sous("converge", "--repo", root, "-r", "recipe[webapp]", "-j", join(root, "node.json"), "--backup-dir", join(root, ".sous", "backup"), ...extra);
  return { root, out, converge };
}

const marked = (stdout: string, mark: string) =>
  stdout
    .split("\n")
    .filter((line) => line.trimStart().startsWith(`${mark} `))
    .map((line) => line.trim().slice(2));

test("a custom resource used twice converges its inner resources, nested in the report, and counts as updated; the second run changes nothing", async () => {
  const { out, converge } = setup();
  // The old site exists already, so that its delete (by notification) has something to do.
  mkdirSync(join(out, "old"));
  const first = await converge();
  assert.equal(first.code, 0, first.stderr + first.stdout);
  const shopConf = join(out, "shop", "site.conf");
  assert.deepEqual(marked(first.stdout, "↻"), [
    `webapp_site[shop] > directory[${join(out, "shop")}] created`,
    `webapp_site[shop] > template[${shopConf}] created`,
    `webapp_site[shop] > execute[reload] ran (notified by webapp_site[shop] > template[${shopConf}])`,
    "webapp_site[shop] updated 3 inner resources",
    `webapp_site[blog] > directory[${join(out, "blog")}] created`,
    `webapp_site[blog] > template[${join(out, "blog", "site.conf")}] created`,
    `webapp_site[blog] > execute[reload] ran (notified by webapp_site[blog] > template[${join(out, "blog", "site.conf")}])`,
    "webapp_site[blog] updated 3 inner resources",
    `file[${join(out, "retire")}] created`,
    `file[${join(out, "shop-changed")}] created (notified by webapp_site[shop])`,
    `webapp_site[old] > directory[${join(out, "old")}] deleted`,
    `webapp_site[old] updated 1 inner resource (notified by file[${join(out, "retire")}])`,
  ]);
  assert.equal(readFileSync(shopConf, "utf8"), "server shop\nlisten 8080\nsecret hunter2-secret\n");
  assert.equal(readFileSync(join(out, "blog", "site.conf"), "utf8"), "server blog\nlisten 80\nsecret none\n");
  // Each site's reload ran once, at the end of its own create action.
  assert.equal(readFileSync(join(out, "reloads.log"), "utf8"), "shop\nblog\n");
  assert.equal(existsSync(join(out, "old")), false);
  // A sensitive property of the custom resource is hidden where it reaches an inner resource.
  assert.doesNotMatch(first.stdout, /hunter2-secret/);
  assert.match(first.stdout, /\+secret \*\*\*/);

  const before = treeDigest(out);
  const second = await converge();
  assert.equal(second.code, 0, second.stderr + second.stdout);
  assert.deepEqual(marked(second.stdout, "↻"), []);
  assert.match(second.stdout, /✓ webapp_site\[shop\] > template\[.*\] up to date/);
  assert.match(second.stdout, /✓ webapp_site\[shop\] up to date/);
  assert.match(second.stdout, /0 updated/);
  assert.equal(treeDigest(out), before);
});

test("a dry run and --why see through a custom resource: inner changes with diffs, nothing written", async () => {
  const { out, converge } = setup();
  const dry = await converge("--dry-run", "--why");
  assert.equal(dry.code, 0, dry.stderr + dry.stdout);
  assert.match(dry.stdout, new RegExp(`~ webapp_site\\[shop\\] > template\\[${join(out, "shop", "site.conf").replace(/[/.]/g, "\\$&")}\\] would create`));
  assert.match(dry.stdout, /\+listen 8080/);
  assert.match(dry.stdout, /~ webapp_site\[shop\] would update 3 inner resources/);
  assert.match(dry.stdout, /→ at the end: run webapp_site\[shop\] > execute\[reload\]/);
  assert.equal(existsSync(join(out, "shop")), false);
});

test("every problem at once: the custom resource's properties at the recipe's line, its inner resources' at the resource file's, by path", async () => {
  const recipe = `import { recipe } from "sous";

export default recipe(({ resources: { webappSite } }) => {
  // @ts-expect-error: a string port, on purpose
  webappSite("shop", { root: "/tmp/x", port: "8080" });
  // @ts-expect-error: no root, an unknown property
  webappSite("blog", { colour: "red" });
  webappSite("bad", { root: "/tmp/x", port: 99999 });
  webappSite("good", { root: "/tmp/x" });
});
`;
  const site = SITE.replace('mode: "0640"', 'mode: "rw-r-----"');
  const { root, converge } = setup(recipe);
  writeFileSync(join(root, "cookbooks/webapp/resources/webapp_site.ts"), site);
  const result = await converge();
  assert.equal(result.code, 1);
  const recipeFile = join(root, "cookbooks/webapp/recipes/default.ts");
  const siteFile = join(root, "cookbooks/webapp/resources/webapp_site.ts");
  const lines = result.stderr.trim().split("\n");
  assert.match(lines[0]!, /the run has 5 problems; nothing was changed/);
  const problems = lines.slice(1).map((l) => l.trim());
  assert.ok(problems.includes(`${recipeFile}:5 webapp_site[shop].port: expected an integer from 1 to 65535, got "8080"`), problems.join("\n"));
  assert.ok(problems.includes(`${recipeFile}:7 webapp_site[blog].colour: unknown property of webapp_site; known properties: root, port, secret`), problems.join("\n"));
  assert.ok(problems.includes(`${recipeFile}:7 webapp_site[blog].root: is required (an absolute path)`), problems.join("\n"));
  assert.ok(problems.includes(`${recipeFile}:8 webapp_site[bad].port: expected an integer from 1 to 65535, got number 99999`), problems.join("\n"));
  // Only the well-declared site expands; its inner problem names where in the resource file.
  const inner = problems.find((p) => p.includes("> template["));
  assert.ok(inner?.startsWith(`${siteFile}:13 webapp_site[good] > template[/tmp/x/good/site.conf].mode:`), inner);
  assert.match(inner!, /\.mode: expected a file mode/);
});

test("sous cookbook check types a custom resource's function in every recipe: a wrong property type is an error at its line", async () => {
  const { root } = setup();
  const clean = await sous("cookbook", "check", "--repo", root);
  assert.equal(clean.code, 0, clean.stdout + clean.stderr);
  const listed = await sous("resources", "--repo", root);
  assert.match(listed.stdout, /^webapp_site \(custom resource of webapp@1\.0\.0\): A site: its folder, its configuration, a reload when the configuration changes\n {2}actions: create, delete, nothing \(default create\)\n {2}root \(state, required\): an absolute path\n/m);
  assert.match(listed.stdout, /^ {2}secret \(state, sensitive\): a string$/m);
  const declarations = readFileSync(join(root, ".sous/resource-types.d.ts"), "utf8");
  assert.match(declarations, /"webapp_site": typeof import\("\.\.\/cookbooks\/webapp\/resources\/webapp_site\.js"\)\.default;/);
  const recipeFile = join(root, "cookbooks/webapp/recipes/default.ts");
  writeFileSync(recipeFile, readFileSync(recipeFile, "utf8").replace("port: 8080", 'port: "8080"').replace('webappSite("blog", { root })', 'webappSite("blog", { root, action: "publish" })'));
  const broken = await sous("cookbook", "check", "--repo", root);
  assert.equal(broken.code, 1);
  const output = broken.stdout + broken.stderr;
  assert.match(output, /cookbooks\/webapp\/recipes\/default\.ts:5:\d+ Type 'string' is not assignable to type 'number'/);
  assert.match(output, /cookbooks\/webapp\/recipes\/default\.ts:6:\d+ Type '"publish"' is not assignable/);
});

test("a cookbook installed in node_modules brings its custom resources to the repository's recipes", async () => {
  const out = scratch("sous-custom-out-");
  const root = writeRepo({
    ...cookbook("sites", { at: "node_modules/sites", recipes: { default: `import { recipe } from "sous";\nexport default recipe(() => {});\n` }, files: { "resources/webapp_site.ts": SITE, "templates/site.conf.ejs": "port <%= port %>\n" } }),
    ...cookbook("app", {
      dependencies: { sites: "^1.0.0" },
      recipes: { default: `import { recipe } from "sous";\nexport default recipe(({ resources: { webappSite } }) => {\n  webappSite("shop", { root: ${JSON.stringify(out)}, port: 81 });\n});\n` },
    }),
  });
  const run = await sous("converge", "--repo", root, "-r", "recipe[app]", "--backup-dir", join(root, ".sous", "backup"));
  assert.equal(run.code, 0, run.stderr + run.stdout);
  // The template comes from the cookbook defining the resource, not from the recipe's.
  assert.equal(readFileSync(join(out, "shop", "site.conf"), "utf8"), "port 81\n");
  assert.match(readFileSync(join(root, ".sous/resource-types.d.ts"), "utf8"), /"\.\.\/node_modules\/sites\/resources\/webapp_site\.js"/);
  const check = await sous("cookbook", "check", "--repo", root);
  assert.equal(check.code, 0, check.stdout + check.stderr);
});

test("inner resources notify a resource of the recipe around them: the restart runs once, at the end of the run, after both sites", async () => {
  const site = `import { defineResource, prop } from "sous";
export default defineResource("webapp_site", {
  properties: { root: prop.absolutePath({ required: true }) },
  actions: {
    create: ({ name, properties, resources: { template } }) => {
      template(\`\${properties.root}/\${name}.conf\`, { inline: "site <%= name %>\\n", variables: { name }, notifies: { run: "execute[restart web]" } });
    },
  },
});
`;
  const out = scratch("sous-custom-out-");
  const recipe = `import { recipe } from "sous";
export default recipe(({ resources: { webappSite, execute } }) => {
  webappSite("shop", { root: ${JSON.stringify(out)} });
  webappSite("blog", { root: ${JSON.stringify(out)} });
  execute("restart web", { command: ["sh", "-c", "echo restarted >> ${out}/restarts.log"], action: "nothing" });
});
`;
  const root = writeRepo(cookbook("webapp", { recipes: { default: recipe }, files: { "resources/webapp_site.ts": site } }));
  const converge = () => sous("converge", "--repo", root, "-r", "recipe[webapp]", "--backup-dir", join(root, ".sous", "backup"));
  const first = await converge();
  assert.equal(first.code, 0, first.stderr + first.stdout);
  const lines = marked(first.stdout, "↻");
  assert.equal(lines.at(-1), `execute[restart web] ran (notified by webapp_site[shop] > template[${join(out, "shop.conf")}], webapp_site[blog] > template[${join(out, "blog.conf")}])`);
  assert.equal(readFileSync(join(out, "restarts.log"), "utf8"), "restarted\n");
  const second = await converge();
  assert.deepEqual(marked(second.stdout, "↻"), []);
  assert.equal(readFileSync(join(out, "restarts.log"), "utf8"), "restarted\n");
});

test("a custom resource declared sensitive makes its inner resources sensitive: no values or diffs of them are printed", async () => {
  const recipe = `import { recipe } from "sous";
export default recipe(({ node, resources: { webappSite } }) => {
  webappSite("vault", { root: node.attributes.root as string, port: 8200, sensitive: true });
});
`;
  const { out, converge } = setup(recipe);
  const result = await converge();
  assert.equal(result.code, 0, result.stderr + result.stdout);
  assert.match(result.stdout, /↻ webapp_site\[vault\] > template\[.*\/vault\/site\.conf\] created/);
  assert.doesNotMatch(result.stdout, /listen 8200/);
  assert.equal(readFileSync(join(out, "vault", "site.conf"), "utf8"), "server vault\nlisten 8200\nsecret none\n");
});
