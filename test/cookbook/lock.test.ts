// sous.lock.json as a user meets it: lock a repository whose environments pin different
// versions, converge exactly what was locked (a newer version appearing later is not used),
// change a cookbook file and see converge and upload refuse it by name, nothing written,
// then `sous lock --update NAME` moves only that cookbook.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cookbook, fileRecipe, sous, writeRepo } from "./repo.js";
import { scratch } from "../helpers.js";
import { startServer } from "../../src/server/server.js";

function setup() {
  const out = scratch("sous-lock-out-");
  const root = writeRepo({
    ...cookbook("base", { version: "1.0.0", recipes: { default: fileRecipe(JSON.stringify(join(out, "base")), '"base 1.0.0\\n"') } }),
    ...cookbook("web", { at: "cookbooks/web-1.0", version: "1.0.0", dependencies: { base: "^1.0.0" }, recipes: { default: fileRecipe(JSON.stringify(join(out, "web")), '"web 1.0.0\\n"', 'includeRecipe("base");') } }),
    ...cookbook("web", { at: "cookbooks/web-1.1", version: "1.1.0", dependencies: { base: "^1.0.0" }, recipes: { default: fileRecipe(JSON.stringify(join(out, "web")), '"web 1.1.0\\n"', 'includeRecipe("base");') } }),
    "roles/web.ts": `import { role } from "sous";\nexport default role({ runList: ["recipe[web]"] });\n`,
    "environments/production.ts": `import { environment } from "sous";\nexport default environment({ cookbookVersions: { web: "= 1.0.0" } });\n`,
  });
  const converge = (...extra: string[]) => sous("converge", "--repo", root, "-r", "role[web]", "--backup-dir", join(root, ".sous", "backup"), ...extra);
  return { root, out, converge };
}

test("sous lock pins each environment's run lists to exact versions and digests; converge uses them and refuses changed content, naming the file", async () => {
  const { root, out, converge } = setup();
  const locked = await sous("lock", "--repo", root);
  assert.equal(locked.code, 0, locked.stderr);
  assert.match(locked.stdout, /Locked 3 cookbooks for 1 run list in 2 environments/);
  const lock = JSON.parse(readFileSync(join(root, "sous.lock.json"), "utf8"));
  assert.deepEqual(lock.environments, { _default: { "role[web]": { base: "1.0.0", web: "1.1.0" } }, production: { "role[web]": { base: "1.0.0", web: "1.0.0" } } });
  assert.equal(lock.cookbooks["web@1.0.0"].source, "cookbooks/web-1.0");
  assert.match(lock.cookbooks["web@1.1.0"].digest, /^sha256:[0-9a-f]{64}$/);
  assert.deepEqual(Object.keys(lock.cookbooks["base@1.0.0"].files), ["package.json", "recipes/default.ts"]);

  assert.equal((await converge("-E", "production")).code, 0);
  assert.equal(readFileSync(join(out, "web"), "utf8"), "web 1.0.0\n");
  // A newer version appearing after the lock is not picked up.
  writeRepo(cookbook("web", { at: "cookbooks/web-1.2", version: "1.2.0", dependencies: { base: "^1.0.0" }, recipes: { default: fileRecipe(JSON.stringify(join(out, "web")), '"web 1.2.0\\n"') } }), root);
  const plain = await converge();
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(readFileSync(join(out, "web"), "utf8"), "web 1.1.0\n");

  // Tests are not locked: a changed test changes nothing that converges.
  writeFileSync(join(root, "cookbooks/web-1.1/test-note.md"), "");
  writeRepo({ "cookbooks/base/test/default.test.ts": "// a test\n" }, root);
  const added = await converge();
  assert.equal(added.code, 1);
  assert.match(added.stderr, /1 cookbook does not match sous\.lock\.json; nothing was changed/);
  assert.match(added.stderr, /web@1\.1\.0: no longer matches sous\.lock\.json: test-note\.md was added since it was locked; run sous lock --update web/);
  rmSync(join(root, "cookbooks/web-1.1/test-note.md"));

  const recipe = join(root, "cookbooks/base/recipes/default.ts");
  writeFileSync(recipe, readFileSync(recipe, "utf8").replace("base 1.0.0", "base changed"));
  rmSync(join(out, "base"));
  const refused = await converge();
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, new RegExp(`${recipe.replace(/[/.]/g, "\\$&")}:1 base@1\\.0\\.0: no longer matches sous\\.lock\\.json: recipes/default\\.ts changed since it was locked`));
  assert.equal(existsSync(join(out, "base")), false, "nothing was converged");
  const report = JSON.parse(readFileSync(join(root, ".sous", "runs", "last-run.json"), "utf8"));
  assert.equal(report.status, "failed");
  assert.equal(report.problems[0].path, "base@1.0.0");

  // --update moves only the named cookbook: web stays at 1.1.0 although 1.2.0 exists.
  const updated = await sous("lock", "--repo", root, "--update", "base");
  assert.equal(updated.code, 0, updated.stderr);
  const after = JSON.parse(readFileSync(join(root, "sous.lock.json"), "utf8"));
  assert.equal(after.environments._default["role[web]"].web, "1.1.0");
  assert.notEqual(after.cookbooks["base@1.0.0"].digest, lock.cookbooks["base@1.0.0"].digest);
  assert.deepEqual(after.cookbooks["web@1.1.0"], lock.cookbooks["web@1.1.0"]);
  assert.equal((await converge()).code, 0);
  assert.equal(readFileSync(join(out, "base"), "utf8"), "base changed\n");
  await sous("lock", "--repo", root, "--update", "web");
  assert.equal(JSON.parse(readFileSync(join(root, "sous.lock.json"), "utf8")).environments._default["role[web]"].web, "1.2.0");
});

test("sous lock names every run list that does not resolve and writes nothing", async () => {
  const { root } = setup();
  writeRepo({ "roles/db.ts": `import { role } from "sous";\nexport default role({ runList: ["recipe[postgres]"] });\n` }, root);
  const result = await sous("lock", "--repo", root);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /sous\.lock\.json was not written: 2 run lists did not resolve/);
  assert.match(result.stderr, /role\[db\] in environment _default: cookbook postgres is needed by the run list but was not found/);
  assert.match(result.stderr, /role\[db\] in environment production:/);
  assert.equal(existsSync(join(root, "sous.lock.json")), false);
});

test("sous cookbook upload refuses a cookbook whose content no longer matches the lock, naming the file", async () => {
  const home = mkdtempSync(join(tmpdir(), "sous-lock-home-"));
  const saved = process.env.SOUS_HOME;
  process.env.SOUS_HOME = home;
  const server = await startServer({ dataDir: join(home, "server"), port: 0 });
  try {
    const { root } = setup();
    assert.equal((await sous("org", "create", "acme", "--server-url", server.url)).code, 0);
    assert.equal((await sous("lock", "--repo", root)).code, 0);
    const ok = await sous("cookbook", "upload", join(root, "cookbooks/base"));
    assert.equal(ok.code, 0, ok.stderr);
    writeFileSync(join(root, "cookbooks/base/recipes/extra.ts"), "export {};\n");
    const refused = await sous("cookbook", "upload", join(root, "cookbooks/base"), join(root, "cookbooks/web-1.1"));
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /nothing was uploaded: 1 cookbook does not match sous\.lock\.json/);
    assert.match(refused.stderr, /base@1\.0\.0: no longer matches sous\.lock\.json: recipes\/extra\.ts was added/);
    const listed = await sous("cookbook", "show", "web", "--format", "json");
    assert.notEqual(listed.code, 0, "web was not uploaded either");
  } finally {
    await server.close();
    if (saved === undefined) delete process.env.SOUS_HOME;
    else process.env.SOUS_HOME = saved;
    rmSync(home, { recursive: true, force: true });
  }
});
