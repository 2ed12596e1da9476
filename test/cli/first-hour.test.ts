// What a newcomer sees in the first hour: why an execute with `creates` ran or did not, every
// notifier of a notified resource, failures on stderr too, a short answer to a mistyped flag,
// and "nothing was changed" when a template stops the run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { cookbook, sous, writeRepo } from "../cookbook/repo.js";
import { scratch } from "../helpers.js";

function repoWith(recipe: string, files: Record<string, string> = {}): string {
  return writeRepo(cookbook("app", { recipes: { default: `import { recipe } from "sous";\nexport default recipe(({ resources }) => {\n${recipe}\n});\n` }, files }));
}

const converge = (root: string, ...flags: string[]) => sous("converge", "--repo", root, "-r", "recipe[app]", "--backup-dir", join(root, ".backup"), ...flags);

test("an execute with creates: --why says the file was missing; the next run says it exists", async () => {
  const out = scratch("sous-hour-");
  const marker = join(out, "installed");
  const root = repoWith(`  resources.execute("install", { command: ["touch", ${JSON.stringify(marker)}], creates: ${JSON.stringify(marker)} });`);
  const first = await converge(root, "--why");
  assert.equal(first.code, 0, first.stderr);
  assert.ok(first.stdout.includes(`because ${marker} does not exist (creates)`), first.stdout);
  const second = await converge(root);
  assert.equal(second.code, 0);
  assert.ok(second.stdout.includes(`execute[install] up to date (${marker} exists (creates))`), second.stdout);
});

test("a resource notified by two others names both", async () => {
  const out = scratch("sous-hour-");
  const root = repoWith(`  const reload = resources.execute("reload", { command: ["true"], action: "nothing" });
  resources.file(${JSON.stringify(join(out, "a"))}, { content: "a", notifies: { run: reload } });
  resources.file(${JSON.stringify(join(out, "b"))}, { content: "b", notifies: { run: reload } });`);
  const run = await converge(root);
  assert.equal(run.code, 0, run.stderr);
  assert.ok(run.stdout.includes(`(notified by file[${join(out, "a")}], file[${join(out, "b")}])`), run.stdout);
});

test("a failure is written to stderr as well as stdout", async () => {
  const root = repoWith(`  resources.execute("fails", { command: ["false"] });`);
  const run = await converge(root);
  assert.equal(run.code, 1);
  for (const stream of [run.stdout, run.stderr]) {
    assert.match(stream, /✗ execute\[fails\] failed/);
    assert.match(stream, /Run failed/);
  }
  assert.doesNotMatch(run.stderr, /Converging/, "only the failure on stderr, not the whole log");
});

test("a mistyped flag gets the flag and the closest one, not the whole help", async () => {
  const run = await sous("converge", "--dry-rn");
  assert.equal(run.code, 2);
  assert.match(run.stderr, /unknown option '--dry-rn'/);
  assert.match(run.stderr, /Did you mean --dry-run\?/);
  assert.ok(run.stderr.trim().split("\n").length <= 4, run.stderr);
});

test("a template's missing variable stops the run, saying nothing was changed", async () => {
  const out = scratch("sous-hour-");
  const root = repoWith(
    `  resources.file(${JSON.stringify(join(out, "first"))}, { content: "x" });
  resources.template(${JSON.stringify(join(out, "conf"))}, { source: "conf.ejs", variables: {} });`,
    { "templates/conf.ejs": "port <%= port %>\n" },
  );
  const run = await converge(root);
  assert.equal(run.code, 1);
  assert.match(run.stdout, /Run failed \(nothing was changed\)/);
  assert.equal(existsSync(join(out, "first")), false);
});
