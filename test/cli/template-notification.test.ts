// The scenario a Chef user tries first: a cookbook with a template that notifies an
// execute (action nothing); converge, edit the template, dry run with a diff, converge
// again (one update plus the notified command), then nothing; then break the recipe.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cookbook, sous, writeRepo } from "../cookbook/repo.js";
import { scratch, treeDigest } from "../helpers.js";

const RECIPE = `import { recipe } from "sous";

/** What this cookbook reads from the node. */
interface SiteSettings {
  root: string;
  port: number;
}

export default recipe(({ node, resources: { directory, template, execute } }) => {
  const site = node.attributes.site as SiteSettings;
  directory(site.root, { mode: "0755" });
  template(\`\${site.root}/app.conf\`, {
    source: "app.conf.ejs",
    mode: "0644",
    variables: { port: site.port },
    notifies: { run: "execute[reload app]" },
  });
  execute("reload app", {
    command: ["sh", "-c", \`echo reloaded >> \${site.root}/../reloads.log\`],
    action: "nothing",
  });
});
`;

function setup() {
  const out = scratch("sous-out-");
  const root = writeRepo({
    ...cookbook("site", {
      recipes: { default: RECIPE },
      files: { "templates/app.conf.ejs": "# managed by Sous\nlisten <%= port %>\nworkers 2\n" },
    }),
    "node.json": JSON.stringify({ site: { root: join(out, "app"), port: 8080 } }),
  });
  const converge = (...extra: string[]) =>
    sous("converge", "--repo", root, "-r", "recipe[site]", "-j", join(root, "node.json"), "--backup-dir", join(root, ".sous", "backup"), ...extra);
  return { root, out, converge, recipeFile: join(root, "cookbooks/site/recipes/default.ts") };
}

const updated = (stdout: string) => stdout.split("\n").filter((line) => /^\s+↻ /.test(line)).map((line) => line.trim().replace(/^↻ /, ""));

test("converge, change the template, dry run shows the diff and changes nothing, converge: one update plus the notified execute, then nothing", async () => {
  const { root, out, converge } = setup();
  const first = await converge();
  assert.equal(first.code, 0, first.stderr + first.stdout);
  const conf = join(out, "app", "app.conf");
  assert.deepEqual(updated(first.stdout), [`directory[${join(out, "app")}] created`, `template[${conf}] created`, `execute[reload app] ran (notified by template[${conf}])`]);
  assert.equal(readFileSync(conf, "utf8"), "# managed by Sous\nlisten 8080\nworkers 2\n");
  assert.equal(readFileSync(join(out, "reloads.log"), "utf8"), "reloaded\n");

  writeFileSync(join(root, "cookbooks/site/templates/app.conf.ejs"), "# managed by Sous\nlisten <%= port %>\nworkers 4\n");
  const before = treeDigest(out);
  const dry = await converge("--dry-run");
  assert.equal(dry.code, 0, dry.stderr + dry.stdout);
  assert.equal(treeDigest(out), before, "a dry run must not change anything");
  assert.match(dry.stdout, new RegExp(`~ template\\[${conf}\\] would update`));
  assert.match(dry.stdout, new RegExp(`--- ${conf}\\n\\s+\\+\\+\\+ ${conf}\\n\\s+@@ -1,3 \\+1,3 @@\\n\\s+ # managed by Sous\\n\\s+ listen 8080\\n\\s+-workers 2\\n\\s+\\+workers 4\\n`));
  assert.match(dry.stdout, /~ execute\[reload app\] would run \(notified by template/);
  assert.match(dry.stdout, /Dry run done: 3 resources, 2 would change/);

  const second = await converge();
  assert.equal(second.code, 0, second.stderr + second.stdout);
  assert.deepEqual(updated(second.stdout), [`template[${conf}] updated content`, `execute[reload app] ran (notified by template[${conf}])`]);
  assert.equal(readFileSync(conf, "utf8"), "# managed by Sous\nlisten 8080\nworkers 4\n");
  assert.equal(readFileSync(join(out, "reloads.log"), "utf8"), "reloaded\nreloaded\n");

  const third = await converge();
  assert.equal(third.code, 0);
  assert.deepEqual(updated(third.stdout), []);
  assert.match(third.stdout, /Converged: 3 resources, 0 updated/);
  assert.equal(readFileSync(join(out, "reloads.log"), "utf8"), "reloaded\nreloaded\n", "the notified command runs only when the template changed");
});

/** Replaces the line holding `anchor` in the recipe with `replacement`; returns the 1-based line number it sits on. */
function breakRecipe(recipeFile: string, anchor: string, replacement: string): number {
  const lines = RECIPE.split("\n");
  const index = lines.findIndex((line) => line.includes(anchor));
  assert.ok(index >= 0, anchor);
  lines.splice(index, 1, replacement);
  writeFileSync(recipeFile, lines.join("\n"));
  return index + 1;
}

const TEMPLATE_LINE = RECIPE.split("\n").findIndex((line) => line.includes("template(")) + 1;

// A statement that fails names its own line; a bad property names the line of its resource's declaration.
for (const [what, anchor, replacement, message, reportedLine] of [
  ["a throw", "directory(site.root", '  if (site.port > 0) throw new Error("broken on purpose");', /recipe threw: broken on purpose/, undefined],
  ["a call to an undefined function", "directory(site.root", "  // @ts-expect-error: no such function\n  restartEverything(site.root);", /restartEverything is not defined/, undefined],
  ["a bad property type", 'mode: "0644"', "    mode: true as never,", /template\[.*app\.conf\]\.mode: expected a file mode/, TEMPLATE_LINE],
  ["an unknown property", 'mode: "0644"', '    mood: "0644",', /template\[.*app\.conf\]\.mood: unknown property/, TEMPLATE_LINE],
] as const) {
  test(`a recipe broken by ${what} fails with exit 1, naming the recipe file and the line in the .ts source; nothing changes`, async () => {
    const { out, converge, recipeFile } = setup();
    let line = breakRecipe(recipeFile, anchor, replacement);
    if (replacement.includes("\n")) line += 1;
    line = reportedLine ?? line;
    assert.ok(line > 10, "the line sits below the interface, which the bundle strips: only a source map finds it");
    const before = treeDigest(out);
    const result = await converge();
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stderr, new RegExp(`${recipeFile}:${line} `));
    assert.match(result.stderr, message);
    assert.equal(treeDigest(out), before);
  });
}

test("a TypeScript syntax error is reported with the recipe's file:line (exit 1)", async () => {
  const { converge, recipeFile } = setup();
  const line = breakRecipe(recipeFile, "directory(site.root", "  directory(site.root, { mode: ;");
  const result = await converge();
  assert.equal(result.code, 1);
  assert.match(result.stderr, /do not compile/);
  assert.match(result.stderr, new RegExp(`${recipeFile}:${line} `));
});
