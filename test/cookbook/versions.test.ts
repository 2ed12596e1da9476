import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadRun } from "../../src/cookbook/load.js";
import { SousError } from "../../src/core/errors.js";
import { cookbook, sous, testFacts, writeRepo } from "./repo.js";

/** A recipe declaring one marker named after its cookbook and version, so the chosen copy shows. */
const versionMarker = (id: string, include = "") => `import { recipe } from "sous";
export default recipe(({ includeRecipe, resources: { execute } }) => {
  ${include}
  execute("ran ${id}", { command: ["true"], action: "nothing" });
});
`;

const versioned = (name: string, version: string, at: "cookbooks" | "node_modules", dependencies: Record<string, string> = {}) =>
  cookbook(name, {
    version,
    dependencies,
    at: `${at}/${at === "cookbooks" ? `${name}-${version}` : name}`,
    recipes: { default: versionMarker(`${name}@${version}`, Object.keys(dependencies).map((d) => `includeRecipe(${JSON.stringify(d)});`).join(" ")) },
    attributes: `import { attributes } from "sous";\nexport default attributes({ versions: { ${name}: ${JSON.stringify(version)} } });\n`,
  });

const repo = () =>
  writeRepo({
    ...versioned("web", "2.0.0", "cookbooks", { base: "^2.0.0" }),
    ...versioned("web", "1.4.0", "node_modules", { base: "^1.0.0" }),
    ...versioned("base", "2.1.0", "cookbooks"),
    ...versioned("base", "1.2.0", "node_modules"),
    ...versioned("legacy", "1.0.0", "cookbooks", { base: "~1.1.0" }),
    ...versioned("orphan", "1.0.0", "cookbooks", { ghost: ">= 3.0.0" }),
    "environments/production.ts": `import { environment } from "sous";\nexport default environment({ cookbookVersions: { web: "< 2.0.0" } });\n`,
    "environments/strict.json": JSON.stringify({ name: "strict", cookbook_versions: { base: "= 2.1.0" } }),
    // An npm package without recipes/ is not a cookbook and is ignored.
    "node_modules/left-pad/package.json": JSON.stringify({ name: "left-pad", version: "1.3.0" }),
  });

const ran = (loaded: Awaited<ReturnType<typeof loadRun>>) => loaded.collection.resources.map((r) => r.name.replace(/^ran /, ""));

test("the newest version wins across cookbooks/ and node_modules/, and its semver dependencies follow", async () => {
  const loaded = await loadRun({ root: repo(), runList: "recipe[web]", facts: testFacts });
  assert.deepEqual(ran(loaded), ["base@2.1.0", "web@2.0.0"]);
  assert.equal(loaded.cookbooks.get("web")?.origin, "repository");
  assert.deepEqual(loaded.node.attributes.versions, { web: "2.0.0", base: "2.1.0" });
});

test("an environment pin chooses the older version (from node_modules/), and the dependencies it wants", async () => {
  const loaded = await loadRun({ root: repo(), runList: "recipe[web]", environment: "production", facts: testFacts });
  assert.deepEqual(ran(loaded), ["base@1.2.0", "web@1.4.0"]);
  assert.equal(loaded.cookbooks.get("web")?.origin, "node_modules");
  assert.deepEqual(loaded.node.attributes.versions, { web: "1.4.0", base: "1.2.0" }, "only the chosen versions' attributes load");
});

test("a missing cookbook is an error naming who asked for it and with which range", async () => {
  await assert.rejects(loadRun({ root: repo(), runList: "recipe[orphan]", facts: testFacts }), (error: SousError) => {
    assert.equal(error.code, "missing-cookbook");
    assert.match(error.message, /cookbook ghost is needed by orphan@1\.0\.0 \(>= 3\.0\.0\) but was not found in cookbooks\/ or node_modules\//);
    return true;
  });
});

test("a conflicting constraint is an error naming each range and who set it; on the command line it exits 2", async () => {
  const root = repo();
  await assert.rejects(loadRun({ root, runList: "recipe[legacy]", environment: "strict", facts: testFacts }), (error: SousError) => {
    assert.equal(error.code, "version-conflict");
    assert.match(error.message, /no version of cookbook base satisfies ~1\.1\.0 \(from legacy@1\.0\.0\) and = 2\.1\.0 \(from environment strict\); found versions: 2\.1\.0, 1\.2\.0/);
    return true;
  });
  const cli = await sous("converge", "--repo", root, "-r", "recipe[legacy]", "-E", "strict", "--backup-dir", join(root, "backup"));
  assert.equal(cli.code, 2);
  assert.match(cli.stderr, /no version of cookbook base satisfies/);
});

test("two copies of the same cookbook version are refused, naming both places", async () => {
  const root = writeRepo({ ...versioned("web", "1.0.0", "cookbooks"), ...versioned("web", "1.0.0", "node_modules") });
  await assert.rejects(loadRun({ root, runList: "recipe[web]", facts: testFacts }), /cookbook web@1\.0\.0 is also at .*cookbooks\/web-1\.0\.0.*keep one copy/);
});

test("a run list item may name its cookbook's version, as in Chef: recipe[web@1.4.0]", async () => {
  const root = repo();
  const loaded = await loadRun({ root, runList: "recipe[web@1.4.0]", facts: testFacts });
  assert.deepEqual(ran(loaded), ["base@1.2.0", "web@1.4.0"]);
  assert.deepEqual(loaded.node.runList, ["recipe[web::default@1.4.0]"]);
  await assert.rejects(loadRun({ root, runList: "recipe[web@3.0.0]", facts: testFacts }), /no version of cookbook web satisfies = 3\.0\.0 \(from the run list \(recipe\[web::default@3\.0\.0\]\)\); found versions: 2\.0\.0, 1\.4\.0/);
  await assert.rejects(loadRun({ root, runList: "recipe[web@1.4.0],recipe[web@2.0.0]", facts: testFacts }), /two versions of cookbook web: recipe\[web::default@1\.4\.0\] and recipe\[web::default@2\.0\.0\]/);
  await assert.rejects(loadRun({ root, runList: "recipe[web@latest]", facts: testFacts }), /run list item "recipe\[web@latest\]" is not/);
});

test("npm libraries in a cookbook's dependencies (installed, without recipes/) are not cookbooks; recipes can import them", async () => {
  const root = writeRepo({
    ...cookbook("web", {
      dependencies: { "tiny-lib": "^1.0.0", "@acme/helpers": "^2.0.0", base: "^1.0.0" },
      recipes: { default: versionMarker("web", 'includeRecipe("base");').replace('import { recipe } from "sous";', 'import { recipe } from "sous";\nimport { shout } from "tiny-lib";\nvoid shout;') },
    }),
    ...cookbook("base"),
    "node_modules/tiny-lib/package.json": JSON.stringify({ name: "tiny-lib", version: "1.0.0", type: "module", main: "index.js" }),
    "node_modules/tiny-lib/index.js": "export const shout = (s) => s.toUpperCase();\n",
    "node_modules/@acme/helpers/package.json": JSON.stringify({ name: "@acme/helpers", version: "2.0.0" }),
  });
  const loaded = await loadRun({ root, runList: "recipe[web]", facts: testFacts });
  assert.deepEqual([...loaded.cookbooks.keys()].sort(), ["base", "web"]);
  // A dependency that is neither installed nor a cookbook is still reported.
  const missing = writeRepo({ ...cookbook("web", { dependencies: { "not-installed": "^1.0.0" } }) });
  await assert.rejects(loadRun({ root: missing, runList: "recipe[web]", facts: testFacts }), /cookbook not-installed is needed by web@1\.0\.0/);
});
