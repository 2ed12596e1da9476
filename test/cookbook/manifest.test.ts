/**
 * One reader of a cookbook's package.json: `sous cookbook upload` sends the cookbook
 * dependencies the loader sees, so a cookbook that also depends on an npm library uploads
 * and resolves on the server as it resolves on the workstation.
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { SousClient } from "../../src/client/api.js";
import { openRepository } from "../../src/cookbook/repository.js";
import type { RunningServer } from "../../src/server/server.js";
import { scratch, sous } from "../helpers.js";

const home = scratch("sous-manifest-home-");
const saved = process.env.SOUS_HOME;
let server: RunningServer;

before(async () => {
  process.env.SOUS_HOME = home;
  for (const name of ["SOUS_SERVER_URL", "SOUS_ORG", "SOUS_CLIENT", "SOUS_KEY"]) delete process.env[name];
  const { startServer } = await import("../../src/server/server.js");
  server = await startServer({ dataDir: join(home, "server"), port: 0 });
  const created = await sous("org", "create", "acme", "--server-url", server.url);
  assert.equal(created.code, 0, created.stderr);
});
after(async () => {
  await server?.close();
  if (saved === undefined) delete process.env.SOUS_HOME;
  else process.env.SOUS_HOME = saved;
});

/** A repository: cookbooks base and web; web's package.json also names sous and an npm library installed in node_modules. */
function repository(): string {
  const repo = scratch("sous-manifest-repo-");
  const write = (path: string, text: string) => {
    mkdirSync(join(repo, path, ".."), { recursive: true });
    writeFileSync(join(repo, path), text);
  };
  write("sous.config.ts", `import { config } from "sous";\nexport default config({ runList: ["recipe[web]"] });\n`);
  write("cookbooks/base/package.json", JSON.stringify({ name: "base", version: "1.2.0" }));
  write("cookbooks/base/recipes/default.ts", `import { recipe } from "sous";\nexport default recipe(() => {});\n`);
  write("cookbooks/web/package.json", JSON.stringify({ name: "web", version: "0.3.0", dependencies: { base: "~> 1.0", sous: "*", "ini-writer": "^2.1.0" } }));
  write("cookbooks/web/recipes/default.ts", `import { recipe } from "sous";\nexport default recipe(() => {});\n`);
  // An npm library the recipes import: a package without recipes/.
  write("node_modules/ini-writer/package.json", JSON.stringify({ name: "ini-writer", version: "2.1.4", main: "index.js" }));
  write("node_modules/ini-writer/index.js", "module.exports = {};\n");
  return repo;
}

test("upload sends the cookbook dependencies the loader sees (no npm library, no sous), and the server resolves them", async () => {
  const repo = repository();
  const loaded = openRepository(repo).cookbooks.find((c) => c.name === "web")!;
  assert.deepEqual(loaded.dependencies, { base: "~> 1.0" });

  const upload = await sous("cookbook", "upload", join(repo, "cookbooks"));
  assert.equal(upload.code, 0, upload.stderr);
  assert.match(upload.stdout, /Uploaded base@1\.2\.0 .*\nUploaded web@0\.3\.0/);
  const shown = await sous("cookbook", "show", "web", "0.3.0", "--format", "json");
  assert.equal(shown.code, 0, shown.stderr);
  assert.deepEqual((JSON.parse(shown.stdout) as { dependencies: Record<string, string> }).dependencies, loaded.dependencies);

  const config = JSON.parse(readFileSync(join(home, "config.json"), "utf8")) as { client: string; key: string };
  const client = new SousClient({ serverUrl: server.url, org: "acme", client: config.client, privateKeyFile: config.key });
  const { body } = await client.request<{ cookbooks: Record<string, { version: string }> }>("POST", client.orgPath("environments", "_default", "cookbook_versions"), { body: { run_list: ["recipe[web]"] } });
  assert.deepEqual(Object.fromEntries(Object.entries(body.cookbooks).map(([name, manifest]) => [name, manifest.version])), { web: "0.3.0", base: "1.2.0" });
});

test("a package.json the loader refuses is refused by upload too, naming the file and the field", async () => {
  const repo = repository();
  writeFileSync(join(repo, "cookbooks", "base", "package.json"), JSON.stringify({ version: "1.2.0" }));
  const upload = await sous("cookbook", "upload", join(repo, "cookbooks", "base"));
  assert.equal(upload.code, 1);
  assert.match(upload.stderr, /cookbooks\/base\/package\.json\.name: expected a cookbook name/);
  assert.throws(() => openRepository(repo), /package\.json\.name: expected a cookbook name|1 problem/);
});
