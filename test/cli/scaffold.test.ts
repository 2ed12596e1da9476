import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, sep } from "node:path";
import { sous } from "../cookbook/repo.js";
import { projectRoot, scratch } from "../helpers.js";

/** `sous init` in a scratch folder; the scaffold writes under ~/sous-<cookbook>, so tests point it into scratch with -j. */
async function initRepo() {
  const root = join(scratch("sous-init-"), "infra");
  const out = scratch("sous-out-");
  const init = await sous("init", root);
  assert.equal(init.code, 0, init.stderr);
  const nodeJson = join(root, "node.json");
  writeFileSync(nodeJson, JSON.stringify({ hello: { root: join(out, "hello") }, web: { root: join(out, "web") } }));
  return { root, out, nodeJson };
}

test("sous init makes a repository that converges out of the box: first run updates, second run changes nothing", async () => {
  const { root, out, nodeJson } = await initRepo();
  for (const file of ["sous.config.ts", "roles/base.ts", "environments/development.ts", "cookbooks/hello/package.json", "cookbooks/hello/recipes/default.ts", "cookbooks/hello/attributes.ts", "tsconfig.json"]) {
    assert.ok(existsSync(join(root, file)), `${file} should exist`);
  }
  // No run list on the command line: sous.config.ts's runList (role[base]) and environment apply.
  const first = await sous("converge", "--repo", root, "-j", nodeJson);
  assert.equal(first.code, 0, first.stderr + first.stdout);
  // The count matters here, not the wording of each line: "3 updated" may carry a note such as "(1 by notification)".
  assert.match(first.stdout, /Converged: 3 resources, 3 updated\b[^,]*, 0 skipped, 0 failed/);
  assert.match(readFileSync(join(out, "hello", "motd"), "utf8"), /^Hello from hello, .+!\nThis file is managed by Sous/);
  assert.ok(existsSync(join(out, "hello", "reloaded-at")), "the notified execute ran");
  const second = await sous("converge", "--repo", root, "-j", nodeJson);
  assert.equal(second.code, 0);
  assert.match(second.stdout, /Converged: 3 resources, 0 updated, 0 skipped, 0 failed/);
  // A second init changes nothing that exists.
  const again = await sous("init", root);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /Nothing to create/);
});

test("sous cookbook create NAME adds a cookbook that converges with -r 'recipe[NAME]', twice", async () => {
  const { root, out, nodeJson } = await initRepo();
  const created = await sous("cookbook", "create", "web", "--repo", root);
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /cookbooks\/web\/recipes\/default\.ts/);
  const first = await sous("converge", "--repo", root, "-r", "recipe[web]", "-j", nodeJson);
  assert.equal(first.code, 0, first.stderr + first.stdout);
  assert.match(first.stdout, new RegExp(`template\\[${join(out, "web", "motd")}\\] (updated|created)`));
  const second = await sous("converge", "--repo", root, "-r", "recipe[web]", "-j", nodeJson);
  assert.match(second.stdout, /3 resources, 0 updated/);
  const duplicate = await sous("cookbook", "create", "web", "--repo", root);
  assert.equal(duplicate.code, 2);
  assert.match(duplicate.stderr, /already exists/);
  const badName = await sous("cookbook", "create", "no/slashes", "--repo", root);
  assert.equal(badName.code, 2);
});

test("sous cookbook check passes on the scaffold and names file:line:column of a wrong property type and a misspelled attribute", async () => {
  const { root } = await initRepo();
  assert.equal((await sous("cookbook", "create", "web", "--repo", root)).code, 0);
  const clean = await sous("cookbook", "check", "--repo", root);
  assert.equal(clean.code, 0, clean.stderr);
  assert.match(clean.stdout, /\d+ files type-check/);

  const recipeFile = join(root, "cookbooks/web/recipes/default.ts");
  const lines = readFileSync(recipeFile, "utf8").split("\n");
  const modeLine = lines.findIndex((l) => l.includes("directory(")) + 1;
  const greetingLine = lines.findIndex((l) => l.includes("settings.greeting")) + 1;
  writeFileSync(recipeFile, lines.join("\n").replace('mode: "0755"', "mode: true").replace("settings.greeting", "settings.greting"));
  const broken = await sous("cookbook", "check", "--repo", root);
  assert.equal(broken.code, 1);
  // The absolute path, as every location Sous prints.
  assert.ok(broken.stderr.includes(`${recipeFile}:${modeLine}:`), broken.stderr);
  assert.match(broken.stderr, new RegExp(`cookbooks/web/recipes/default\\.ts:${modeLine}:\\d+ Type 'true' is not assignable`));
  assert.match(broken.stderr, new RegExp(`cookbooks/web/recipes/default\\.ts:${greetingLine}:\\d+ Property 'greting' does not exist.*Did you mean 'greeting'`));
  assert.match(broken.stdout, /2 type errors/);
});

test("sous cookbook check accepts recipes that use Node's own APIs (process, node:os), and skips files/ and templates/", async () => {
  const { root } = await initRepo();
  // Content a recipe installs, not code of the repository.
  writeFileSync(join(root, "cookbooks/hello/files/deno-job.ts"), `import { serve } from "https://deno.land/std/http/server.ts";\nserve(() => new Response("hi"));\n`);
  writeFileSync(
    join(root, "cookbooks/hello/recipes/node-apis.ts"),
    `import { recipe } from "sous";\nimport { hostname } from "node:os";\nexport default recipe(({ resources: { file } }) => {\n  file(\`/tmp/\${hostname()}\`, { content: process.env.HOME ?? "", action: "nothing" });\n});\n`,
  );
  const result = await sous("cookbook", "check", "--repo", root);
  assert.equal(result.code, 0, result.stderr);
});

test("cookbook create and check refuse a repository that does not exist (exit 2), creating nothing", async () => {
  const missing = join(scratch("sous-none-"), "no-such-repo");
  const create = await sous("cookbook", "create", "web", "--repo", missing);
  assert.equal(create.code, 2);
  assert.match(create.stderr, /does not exist/);
  assert.ok(!existsSync(missing));
  const check = await sous("cookbook", "check", "--repo", missing);
  assert.equal(check.code, 2);
});

test("cookbook names that are not identifiers (my-app.v2, 2fa) still scaffold recipes that compile, converge and type-check", async () => {
  const { root, out } = await initRepo();
  const nodeJson = join(root, "names.json");
  writeFileSync(nodeJson, JSON.stringify({ my_app_v2: { root: join(out, "my-app") }, _2fa: { root: join(out, "2fa") } }));
  for (const name of ["my-app.v2", "2fa"]) {
    assert.equal((await sous("cookbook", "create", name, "--repo", root)).code, 0);
    const result = await sous("converge", "--repo", root, "-r", `recipe[${name}]`, "-j", nodeJson);
    assert.equal(result.code, 0, result.stderr + result.stdout);
    assert.match(result.stdout, /3 updated/);
  }
  const check = await sous("cookbook", "check", "--repo", root);
  assert.equal(check.code, 0, check.stderr);
});

test("sous cookbook check rejects an async recipe body, saying why", async () => {
  const { root } = await initRepo();
  const file = join(root, "cookbooks/hello/recipes/later.ts");
  writeFileSync(file, `import { recipe } from "sous";\n\nexport default recipe(async ({ resources: { file } }) => {\n  await Promise.resolve();\n  file("/tmp/later", { content: "x" });\n});\n`);
  const result = await sous("cookbook", "check", "--repo", root);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /cookbooks\/hello\/recipes\/later\.ts:3:\d+ .*declares its resources synchronously/s);
});

test("a repository made by sous init holds no machine path: a clone elsewhere type-checks with tsc once sous has written its .sous/tsconfig.json", async () => {
  const { root } = await initRepo();
  const committed = ["tsconfig.json", "sous.config.ts", "roles/base.ts", "environments/development.ts", "cookbooks/hello/attributes.ts", "cookbooks/hello/recipes/default.ts"];
  for (const file of committed) {
    const text = readFileSync(join(root, file), "utf8");
    assert.ok(!text.includes(projectRoot) && !text.includes("node_modules") && !text.includes("/tmp/"), `${file} names no path of this machine:\n${text}`);
  }
  assert.ok(readFileSync(join(root, ".sous/tsconfig.json"), "utf8").includes(projectRoot), "the machine's paths are in .sous/tsconfig.json");
  assert.match(readFileSync(join(root, ".gitignore"), "utf8"), /^\.sous\/$/m);

  // What a teammate's clone has: the committed files, not .sous/.
  const clone = join(scratch("sous-clone-"), "elsewhere", "infra");
  cpSync(root, clone, { recursive: true, filter: (path) => !path.includes(`${sep}.sous`) && !path.endsWith("node.json") });
  const tsc = (dir: string) => spawnSync(process.execPath, [join(projectRoot, "node_modules/typescript/bin/tsc"), "-p", dir], { encoding: "utf8" });
  const before = tsc(clone);
  assert.notEqual(before.status, 0);
  assert.match(before.stdout, /\.sous\/tsconfig\.json/, "the missing file is named");
  const check = await sous("cookbook", "check", "--repo", clone);
  assert.equal(check.code, 0, check.stderr);
  const after = tsc(clone);
  assert.equal(after.status, 0, after.stdout + after.stderr);
});
