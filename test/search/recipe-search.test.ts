// search() and dataBagItem() in recipes, through `sous converge`: answered by a folder of JSON
// (no server) and by a real server on 127.0.0.1 port 0 over SQLite and PostgreSQL. A load
// balancer recipe lists the app servers it finds; a new app node shows up at the next run.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { encryptItem, keyFromSecret } from "../../src/client/encrypted-data-bag.js";
import { generateKeyPair } from "../../src/protocol/signing.js";
import type { SousClient } from "../../src/client/api.js";
import { DirectorySearchBackend } from "../../src/search/directory.js";
import { ServerSearchBackend } from "../../src/search/server.js";
import { cookbook, sous, writeRepo } from "../cookbook/repo.js";
import { scratch } from "../helpers.js";
import { backends, createOrg, startServerProcess } from "../server/helpers.js";

// No ~/.sous/config.json of this machine may answer for a test.
process.env.SOUS_HOME = scratch("sous-home-");

const SECRET = "correct horse battery staple, twice over";

const LB_RECIPE = `import { recipe } from "sous";
export default recipe(({ node, search, dataBagItem, resources: { file } }) => {
  const out = (node.attributes.app as { out: string }).out;
  const apps = search<{ ip: string; name: string }>("node", "role:app AND chef_environment:production", { keys: { ip: ["ipaddress"], name: ["name"] } });
  file(\`\${out}/upstreams.conf\`, { content: apps.map((app) => \`server \${app.name} \${app.ip}:8080;\\n\`).join("") });
  const users = search("users", "*:*");
  file(\`\${out}/users.txt\`, { content: users.map((user) => \`\${String(user.id)} \${String(user.shell)}\\n\`).join("") });
  const db = dataBagItem<{ password: string }>("secrets", "db", { secret: ${JSON.stringify(SECRET)} });
  file(\`\${out}/db.conf\`, { content: \`password=\${db.password}\\n\`, sensitive: true });
});
`;

const BAD_QUERY_RECIPE = `import { recipe } from "sous";
export default recipe(({ search, resources: { file } }) => {
  file("/nonexistent/never", { content: "x" });
  search("node", "role:app AND (chef_environment:production");
});
`;

const SECRET_RECIPES = {
  nosecret: `import { recipe } from "sous";
export default recipe(({ dataBagItem }) => {
  dataBagItem("secrets", "db");
});
`,
  wrongsecret: `import { recipe } from "sous";
export default recipe(({ dataBagItem }) => {
  dataBagItem("secrets", "db", { secret: "not the secret, but long enough" });
});
`,
  missing: `import { recipe } from "sous";
export default recipe(({ dataBagItem }) => {
  dataBagItem("secrets", "nope");
});
`,
};

const NO_SOURCE_RECIPE = `import { recipe } from "sous";
export default recipe(({ dataBagItem }) => {
  dataBagItem("secrets", "db");
});
`;

/** Node objects as the server keeps them. */
function nodeObject(name: string, role: string, environment: string, ip: string): Record<string, unknown> {
  return { name, chef_environment: environment, run_list: [`role[${role}]`], automatic: { ipaddress: ip, platform: "debian" } };
}

const NODES = [nodeObject("app2", "app", "production", "10.0.0.12"), nodeObject("app1", "app", "production", "10.0.0.11"), nodeObject("app9", "app", "staging", "10.0.0.19"), nodeObject("db1", "db", "production", "10.0.0.21")];
const USERS = [{ id: "ada", shell: "/bin/zsh" }, { id: "bob", shell: "/bin/bash" }];
const DB_ITEM = encryptItem({ id: "db", password: "s3cret-pw" }, keyFromSecret(SECRET));

function repository(extra: Record<string, string> = {}): { root: string; out: string } {
  const out = scratch("sous-lb-out-");
  const root = writeRepo({
    ...cookbook("lb", { recipes: { default: LB_RECIPE, bad: BAD_QUERY_RECIPE, nosource: NO_SOURCE_RECIPE, ...SECRET_RECIPES } }),
    "node.json": JSON.stringify({ app: { out } }),
    ...extra,
  });
  return { root, out };
}

function writeFolder(dir: string, nodes: Array<Record<string, unknown>>): void {
  mkdirSync(join(dir, "nodes"), { recursive: true });
  for (const node of nodes) writeFileSync(join(dir, "nodes", `${String(node.name)}.json`), JSON.stringify(node));
  mkdirSync(join(dir, "data_bags", "users"), { recursive: true });
  for (const user of USERS) writeFileSync(join(dir, "data_bags", "users", `${user.id}.json`), JSON.stringify(user));
  mkdirSync(join(dir, "data_bags", "secrets"), { recursive: true });
  writeFileSync(join(dir, "data_bags", "secrets", "db.json"), JSON.stringify(DB_ITEM));
}

const converge = (root: string, recipe = "recipe[lb]", ...args: string[]) => sous("converge", "--repo", root, "-r", recipe, "-j", join(root, "node.json"), "--backup-dir", join(root, ".sous", "backup"), ...args);

test("a folder of JSON answers search and data bags without a server; a new node appears at the next run", async () => {
  const { root, out } = repository();
  writeFolder(root, NODES);
  const first = await converge(root);
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.equal(readFileSync(join(out, "upstreams.conf"), "utf8"), "server app1 10.0.0.11:8080;\nserver app2 10.0.0.12:8080;\n");
  assert.equal(readFileSync(join(out, "users.txt"), "utf8"), "ada /bin/zsh\nbob /bin/bash\n");
  assert.equal(readFileSync(join(out, "db.conf"), "utf8"), "password=s3cret-pw\n");
  assert.doesNotMatch(first.stdout, /s3cret-pw/);
  const second = await converge(root);
  assert.equal(second.code, 0);
  assert.match(second.stdout, /0 updated/);
  writeFileSync(join(root, "nodes", "app3.json"), JSON.stringify(nodeObject("app3", "app", "production", "10.0.0.13")));
  const third = await converge(root);
  assert.equal(third.code, 0);
  assert.match(readFileSync(join(out, "upstreams.conf"), "utf8"), /server app3 10\.0\.0\.13:8080;\n$/);
  // --search-dir points elsewhere: there app1 alone is an app server.
  const elsewhere = scratch("sous-search-dir-");
  writeFolder(elsewhere, [NODES[1]!]);
  assert.equal((await converge(root, "recipe[lb]", "--search-dir", elsewhere)).code, 0);
  assert.equal(readFileSync(join(out, "upstreams.conf"), "utf8"), "server app1 10.0.0.11:8080;\n");
  assert.equal((await converge(root, "recipe[lb]", "--search-dir", join(elsewhere, "missing"))).code, 2);
  // The typed rows type-check as a recipe author writes them.
  const checked = await sous("cookbook", "check", "--repo", root);
  assert.equal(checked.code, 0, checked.stdout + checked.stderr);
});

test("a bad query fails the run naming the recipe's file:line and the query position; nothing is applied", async () => {
  const { root } = repository();
  writeFolder(root, NODES);
  const failed = await converge(root, "recipe[lb::bad]");
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /recipes\/bad\.ts:4 .*search\("node", "role:app AND \(chef_environment:production"\): .*position 42/);
  assert.doesNotMatch(failed.stdout, /nonexistent/);
});

test("an encrypted item needs its secret; a wrong secret or a missing item stops the run at the recipe's line", async () => {
  const { root } = repository();
  writeFolder(root, NODES);
  const expected: Record<string, RegExp> = {
    nosecret: /recipes\/nosecret\.ts:3 .*dataBagItem\("secrets", "db"\): the item is encrypted: pass \{ secret \} or \{ secretFile \}/,
    wrongsecret: /recipes\/wrongsecret\.ts:3 .*cannot decrypt the item: cannot decrypt field 'password': wrong secret/,
    missing: /recipes\/missing\.ts:3 .*data bag item 'secrets\/nope' does not exist in the folder/,
  };
  for (const [recipe, message] of Object.entries(expected)) {
    const failed = await converge(root, `recipe[lb::${recipe}]`);
    assert.equal(failed.code, 1, recipe);
    assert.match(failed.stderr, message);
  }
});

test("a server that cannot be reached fails the run at the recipe's line, naming the server", async () => {
  const keyFile = join(scratch("sous-key-"), "alice.pem");
  writeFileSync(keyFile, generateKeyPair().privateKey, { mode: 0o600 });
  const { root } = repository({ "sous.config.ts": `import { config } from "sous";\nexport default config({ server: { url: "http://127.0.0.1:1", org: "acme", client: "alice", key: ${JSON.stringify(keyFile)} } });\n` });
  const failed = await converge(root);
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /recipes\/default\.ts:4 .*search\("node", .*\): cannot reach the Sous server at http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\)/);
});

test("without a folder or a server, a recipe that reads a data bag says where search could come from", async () => {
  const { root } = repository();
  const failed = await converge(root, "recipe[lb::nosource]");
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /recipes\/nosource\.ts:3 .*dataBagItem\("secrets", "db"\): this run has nowhere to search: .*--search-dir/);
});

for (const backend of backends) {
  describe(`search in recipes against a server on ${backend.name}`, { skip: backend.skip ?? false }, () => {
    // In a child process: a recipe's search waits synchronously, which would block a server in this thread.
    let ctx: Awaited<ReturnType<typeof startServerProcess>>;
    let admin: SousClient;
    let keyFile: string;
    const keys = mkdtempSync(join(tmpdir(), "sous-keys-"));
    before(async () => {
      ctx = await startServerProcess(backend);
      let adminKeys;
      ({ admin, adminKeys } = await createOrg(ctx.url, ctx.serverAdmin, "acme"));
      keyFile = join(keys, "alice.pem");
      writeFileSync(keyFile, adminKeys.privateKey, { mode: 0o600 });
      await admin.request("POST", admin.orgPath("roles"), { body: { name: "app", run_list: [] } });
      for (const node of NODES) await admin.saveNode(node as { name: string });
      await admin.request("POST", admin.orgPath("data"), { body: { name: "users" } });
      for (const user of USERS) await admin.request("POST", admin.orgPath("data", "users"), { body: user });
      await admin.request("POST", admin.orgPath("data"), { body: { name: "secrets" } });
      await admin.request("POST", admin.orgPath("data", "secrets"), { body: DB_ITEM });
    });
    after(async () => {
      await ctx?.cleanup();
      rmSync(keys, { recursive: true, force: true });
    });

    const serverConfig = () => ({
      "sous.config.ts": `import { config } from "sous";\nexport default config({ server: { url: ${JSON.stringify(ctx.url)}, org: "acme", client: "alice", key: ${JSON.stringify(keyFile)} } });\n`,
    });

    test("the configured server answers; a node saved just before the run is in its answer", async () => {
      const { root, out } = repository(serverConfig());
      const first = await converge(root);
      assert.equal(first.code, 0, first.stdout + first.stderr);
      assert.equal(readFileSync(join(out, "upstreams.conf"), "utf8"), "server app1 10.0.0.11:8080;\nserver app2 10.0.0.12:8080;\n");
      assert.equal(readFileSync(join(out, "users.txt"), "utf8"), "ada /bin/zsh\nbob /bin/bash\n");
      assert.equal(readFileSync(join(out, "db.conf"), "utf8"), "password=s3cret-pw\n");
      assert.match((await converge(root)).stdout, /0 updated/);
      // Acknowledged, then searched at once: no index lag.
      await admin.saveNode(nodeObject("app3", "app", "production", "10.0.0.13") as { name: string });
      assert.equal((await converge(root)).code, 0);
      assert.match(readFileSync(join(out, "upstreams.conf"), "utf8"), /server app3 10\.0\.0\.13:8080;\n$/);
      await admin.request("DELETE", admin.orgPath("nodes", "app3"));
      assert.equal((await converge(root)).code, 0);
      assert.doesNotMatch(readFileSync(join(out, "upstreams.conf"), "utf8"), /app3/);
    });

    test("a bad query is named with its position by the server, at the recipe's line", async () => {
      const { root } = repository(serverConfig());
      const failed = await converge(root, "recipe[lb::bad]");
      assert.equal(failed.code, 1);
      assert.match(failed.stderr, /recipes\/bad\.ts:4 .*position 42.*asked the Sous server at http:\/\/127\.0\.0\.1:\d+ \(organization acme\)/);
    });

    test("the folder and the server give the same hits for the same objects", () => {
      const dir = scratch("sous-same-");
      writeFolder(dir, NODES);
      const folder = new DirectorySearchBackend(dir);
      const server = new ServerSearchBackend(admin);
      try {
        const queries = ["*:*", "role:app", "chef_environment:production AND NOT role:db", "ipaddress:10.0.0.1*", "ipaddress:[10.0.0.12 TO 10.0.0.19]", "name:app?", "role:db OR chef_environment:staging", "platform:debian AND -role:app", 'run_list:"role[app]"', "recipe:*", "*:10.0.0.21"];
        for (const query of queries) {
          const keys = { name: ["name"] };
          assert.deepEqual(folder.search("node", query, keys), server.search("node", query, keys).filter((row) => row.name !== "app3"), query);
        }
        assert.deepEqual(folder.search("users", "shell:\\/bin\\/zsh"), [USERS[0]]);
        assert.deepEqual(server.search("users", "shell:\\/bin\\/zsh"), [USERS[0]]);
        assert.deepEqual(server.dataBagItem("users", "bob"), USERS[1]);
        assert.equal(server.dataBagItem("users", "nobody"), undefined);
        assert.equal(folder.dataBagItem("users", "nobody"), undefined);
      } finally {
        server.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
