// The real `sous` process run from several working directories, with the repository given as a
// relative --repo: every file:line it prints is the absolute path of the user's file, and an
// edited helper outside cookbooks/ is what runs (the compile cache never serves stale code).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { scratch, sousProcess } from "../helpers.js";
import { cookbook, writeRepo } from "../cookbook/repo.js";

/** A repository `infra` in a new folder, and working directories around it: the folder itself, one three levels below it, and `/`. */
function layout(files: Record<string, string>): { base: string; root: string; places: { cwd: string; repo: string[] }[] } {
  const base = scratch("sous-where-");
  const root = writeRepo(files, join(base, "infra"));
  const deep = join(base, "a", "b", "c");
  mkdirSync(deep, { recursive: true });
  return {
    base,
    root,
    places: [
      { cwd: root, repo: [] },
      { cwd: base, repo: ["--repo", "infra"] },
      { cwd: deep, repo: ["--repo", relative(deep, root)] },
      { cwd: "/", repo: ["--repo", relative("/", root)] },
    ],
  };
}

test("a helper outside cookbooks/ edited between runs is what converges, from the repository, its parent and a folder elsewhere (relative --repo)", async () => {
  const out = scratch("sous-where-out-");
  const { root, places } = layout({
    "lib/helper.ts": `export const version: string = "v0";\n`,
    ...cookbook("app", {
      recipes: {
        default: `import { recipe } from "sous";\nimport { version } from "../../../lib/helper.js";\nexport default recipe(({ resources: { file } }) => {\n  file(${JSON.stringify(join(out, "version"))}, { content: version });\n});\n`,
      },
    }),
  });
  let n = 0;
  for (const { cwd, repo } of places.slice(0, 3)) {
    n += 1;
    // The same size as before: only the content (and the modification time) tells them apart.
    writeFileSync(join(root, "lib/helper.ts"), `export const version: string = "v${n}";\n`);
    const run = await sousProcess(cwd, "converge", ...repo, "-r", "recipe[app]", "--backup-dir", join(out, "backup"));
    assert.equal(run.code, 0, `from ${cwd}: ${run.stdout}${run.stderr}`);
    assert.equal(readFileSync(join(out, "version"), "utf8"), `v${n}`, `from ${cwd}, the edited helper is converged`);
    assert.match(run.stdout, /1 updated/, `from ${cwd}: ${run.stdout}`);
    const again = await sousProcess(cwd, "converge", ...repo, "-r", "recipe[app]", "--backup-dir", join(out, "backup"));
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /0 updated/, `from ${cwd}, unchanged: ${again.stdout}`);
  }
});

test("a TypeScript syntax error names the recipe's absolute file:line from every working directory", async () => {
  const { root, places } = layout(
    cookbook("site", { recipes: { default: `import { recipe } from "sous";\n\nexport default recipe(({ resources: { file } }) => {\n  file("/tmp/never", { content: "x" ;\n});\n` } }),
  );
  const recipeFile = join(root, "cookbooks/site/recipes/default.ts");
  for (const { cwd, repo } of places) {
    const run = await sousProcess(cwd, "converge", "--dry-run", ...repo, "-r", "recipe[site]");
    assert.equal(run.code, 1, `from ${cwd}: ${run.stdout}${run.stderr}`);
    const output = run.stdout + run.stderr;
    assert.ok(output.includes(`${recipeFile}:4`), `from ${cwd}, names ${recipeFile}:4:\n${output}`);
    assert.doesNotMatch(output, /\.\.\//, `from ${cwd}, no path relative to somewhere else:\n${output}`);
  }
});

test("validation errors, duplicate declarations, cycles, template lines and failures name absolute file:line from every working directory", async () => {
  const out = "/nonexistent-sous-test-dir";
  const recipes = {
    // A decimal mode (line 3), a file declared twice (lines 4 and 5), a cycle (lines 6 and 7):
    // validation reports them together.
    invalid: `import { recipe } from "sous";\nexport default recipe(({ resources: { file, execute } }) => {\n  file("${out}/a", { content: "x", mode: 640 as never });\n  file("${out}/b", { content: "x" });\n  file("${out}/b", { content: "y" });\n  execute("one", { command: ["true"], requires: ["execute[two]"] });\n  execute("two", { command: ["true"], requires: ["execute[one]"] });\n});\n`,
    // A template variable not given (template line 2).
    template: `import { recipe } from "sous";\nexport default recipe(({ resources: { template } }) => {\n  template("${out}/c", { source: "c.ejs", variables: {} });\n});\n`,
    // A command that fails (line 3).
    failure: `import { recipe } from "sous";\nexport default recipe(({ resources: { execute } }) => {\n  execute("fails", { command: ["false"] });\n});\n`,
  };
  const { root, places } = layout(cookbook("site", { recipes, files: { "templates/c.ejs": "ok\nport <%= port %>\n" } }));
  const at = (recipe: string, line: number) => `${join(root, "cookbooks/site/recipes", `${recipe}.ts`)}:${line}`;
  const expected: Record<keyof typeof recipes, string[]> = {
    invalid: [at("invalid", 3), at("invalid", 4), at("invalid", 5), at("invalid", 6), at("invalid", 7)],
    template: [`${join(root, "cookbooks/site/templates/c.ejs")}:2`, at("template", 3)],
    failure: [at("failure", 3)],
  };
  for (const { cwd, repo } of places) {
    for (const [recipe, locations] of Object.entries(expected)) {
      const dry = recipe === "failure" ? [] : ["--dry-run"];
      const run = await sousProcess(cwd, "converge", ...dry, ...repo, "-r", `recipe[site::${recipe}]`, "--backup-dir", join(root, ".backup"));
      assert.equal(run.code, 1, `${recipe} from ${cwd}: ${run.stdout}${run.stderr}`);
      const output = run.stdout + run.stderr;
      for (const location of locations) assert.ok(output.includes(location), `${recipe} from ${cwd} names ${location}:\n${output}`);
      assert.doesNotMatch(output, /\.\.\//, `${recipe} from ${cwd}, no path relative to somewhere else:\n${output}`);
    }
  }
});
