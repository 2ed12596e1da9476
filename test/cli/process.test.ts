// The real `sous` process (bin/sous.js over dist/, built by `npm test` first): exit codes,
// repository discovery from the working directory, and recipe lines through source maps
// without any test-time loader.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot, scratch, sousProcess } from "../helpers.js";

test("dist/ is built (npm test builds it before the tests)", () => {
  assert.ok(existsSync(join(projectRoot, "dist", "cli", "main.js")), "run `npm run build` first");
});

test("sous init, then sous converge inside the repository: exit 0 twice, the second run updating nothing", async () => {
  const root = join(scratch("sous-process-"), "infra");
  const out = scratch("sous-out-");
  const init = await sousProcess(projectRoot, "init", root);
  assert.equal(init.code, 0, init.stderr);
  writeFileSync(join(root, "node.json"), JSON.stringify({ hello: { root: join(out, "hello") } }));
  mkdirSync(join(root, "cookbooks", "hello", "nested"), { recursive: true });
  // From a sub-folder: the repository is the nearest folder with sous.config.ts.
  const cwd = join(root, "cookbooks", "hello", "nested");
  const first = await sousProcess(cwd, "converge", "-j", "../../../node.json");
  assert.equal(first.code, 0, first.stderr + first.stdout);
  assert.match(first.stdout, /Converged: 3 resources, 3 updated/);
  const second = await sousProcess(cwd, "converge", "-j", "../../../node.json", "--json");
  assert.equal(second.code, 0);
  const last = JSON.parse(second.stdout.trimEnd().split("\n").at(-1)!) as { type: string; counts: { updated: number } };
  assert.equal(last.type, "run:finish");
  assert.equal(last.counts.updated, 0);
  const report = JSON.parse(readFileSync(join(root, ".sous", "runs", "last-run.json"), "utf8")) as { status: string };
  assert.equal(report.status, "converged");
});

test("exit codes of the real process: 2 for an unknown flag or no repository, 1 for a broken recipe named at its .ts line", async () => {
  const empty = scratch("sous-empty-");
  assert.equal((await sousProcess(empty, "converge", "--bogus")).code, 2);
  const noRepo = await sousProcess(empty, "converge", "-r", "recipe[x]");
  assert.equal(noRepo.code, 2);
  assert.match(noRepo.stderr, /no repository here/);

  const root = scratch("sous-broken-");
  writeFileSync(join(root, "sous.config.ts"), `import { config } from "sous";\nexport default config({ runList: ["recipe[broken]"] });\n`);
  mkdirSync(join(root, "cookbooks", "broken", "recipes"), { recursive: true });
  writeFileSync(join(root, "cookbooks", "broken", "package.json"), JSON.stringify({ name: "broken", version: "0.1.0" }));
  const recipeLines = [
    `import { recipe } from "sous";`,
    ``,
    `/** Types vanish from the bundle, so only a source map gets lines right below them. */`,
    `interface Settings {`,
    `  path: string;`,
    `  mode: string;`,
    `}`,
    ``,
    `export default recipe(({ resources: { file } }) => {`,
    `  const settings: Settings = { path: "/nonexistent/sous", mode: "0644" };`,
    `  file(settings.path, { content: "x", mode: settings.mode, action: "nothing" });`,
    `  throw new Error("broken on purpose");`,
    `});`,
  ];
  writeFileSync(join(root, "cookbooks", "broken", "recipes", "default.ts"), recipeLines.join("\n"));
  const broken = await sousProcess(root, "converge");
  assert.equal(broken.code, 1);
  assert.match(broken.stderr, new RegExp(`${join(root, "cookbooks/broken/recipes/default.ts")}:12 broken::default: recipe threw: broken on purpose`));
  // The run report exists although nothing ran.
  const report = JSON.parse(readFileSync(join(root, ".sous", "runs", "last-run.json"), "utf8")) as { status: string };
  assert.equal(report.status, "failed");
});
