// The knife-like CLI as a new user runs it: start a server, create an organization, load roles
// and nodes from files, search, edit, encrypt a data bag item, upload and download a cookbook.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Command } from "commander";
import { sous } from "../helpers.js";
import { SousApiError, SousClient } from "../../src/client/api.js";
import { registerCookbookServerCommands } from "../../src/cli/cookbook-commands.js";
import { startServer } from "../../src/server/server.js";
import type { RunningServer } from "../../src/server/server.js";

const home = mkdtempSync(join(tmpdir(), "sous-cli-home-"));
process.env.SOUS_HOME = home;
for (const name of ["SOUS_SERVER_URL", "SOUS_ORG", "SOUS_CLIENT", "SOUS_KEY"]) delete process.env[name];


/** The cookbook subcommands through a `cookbook` command like the one main.ts creates. */
async function cookbook(...argv: string[]): Promise<{ stdout: string; error?: Error }> {
  let stdout = "";
  const program = new Command("sous").exitOverride().configureOutput({ writeOut: (t) => void (stdout += t), writeErr: () => undefined });
  registerCookbookServerCommands(program.command("cookbook"));
  try {
    await program.parseAsync(["cookbook", ...argv], { from: "user" });
    return { stdout };
  } catch (error) {
    return { stdout, error: error as Error };
  }
}

describe("sous CLI against a server", () => {
  let server: RunningServer;
  const work = mkdtempSync(join(tmpdir(), "sous-cli-work-"));
  before(async () => {
    server = await startServer({ dataDir: join(home, "server"), port: 0 });
  });
  after(async () => {
    await server?.close();
    rmSync(home, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  test("org create writes the keys and the configuration", async () => {
    const result = await sous("org", "create", "acme", "--server-url", server.url);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Created organization acme/);
    assert.ok(existsSync(join(home, "acme", "admin.pem")));
    assert.ok(existsSync(join(home, "acme", "acme-validator.pem")));
    const config = JSON.parse(readFileSync(join(home, "config.json"), "utf8")) as Record<string, string>;
    assert.equal(config.org, "acme");
    assert.equal(config.server_url, server.url);
  });

  test("roles and nodes from files, run lists, search with attributes", async () => {
    mkdirSync(join(work, "roles"), { recursive: true });
    writeFileSync(join(work, "roles", "web.ts"), 'import { role } from "sous";\nexport default role({ description: "web", runList: ["recipe[nginx]"], defaultAttributes: { nginx: { port: 8080 } } });\n');
    writeFileSync(join(work, "db.json"), JSON.stringify({ name: "db1", run_list: ["role[db]"], automatic: { platform: "debian", ipaddress: "10.0.0.9" } }));
    assert.equal((await sous("role", "from-file", join(work, "roles", "web.ts"))).code, 0);
    const role = JSON.parse((await sous("role", "show", "web", "--format", "json")).stdout) as Record<string, unknown>;
    assert.deepEqual(role.run_list, ["recipe[nginx]"]);
    assert.deepEqual(role.default_attributes, { nginx: { port: 8080 } });
    assert.equal((await sous("node", "from-file", join(work, "db.json"))).code, 0);
    assert.equal((await sous("node", "create", "web1", "--run-list", "role[web]")).code, 0);
    const added = await sous("node", "run-list", "add", "web1", "recipe[base]");
    assert.match(added.stdout, /web1: role\[web\], recipe\[base\]/);
    const search = await sous("search", "node", "role:web OR platform:debian", "-a", "ipaddress", "--format", "json");
    const body = JSON.parse(search.stdout) as { total: number; rows: Array<{ name: string; data: Record<string, unknown> }> };
    assert.equal(body.total, 2);
    assert.deepEqual(body.rows.map((r) => [r.name, r.data.ipaddress]), [["db1", "10.0.0.9"], ["web1", null]]);
    const text = await sous("search", "node", "recipe:base", "-i");
    assert.equal(text.stdout, "1 result\nweb1\n");
  });

  test("edit opens $EDITOR and saves the change", async () => {
    process.env.EDITOR = `sed -i 's/"normal": {}/"normal": {"tier": "gold"}/'`;
    const result = await sous("node", "edit", "web1");
    assert.equal(result.code, 0, result.stderr);
    const shown = await sous("node", "show", "web1", "-a", "tier", "--format", "json");
    assert.deepEqual(JSON.parse(shown.stdout), { tier: "gold" });
  });

  test("an encrypted data bag item is unreadable without the secret and readable with it", async () => {
    const secret = join(work, "secret");
    writeFileSync(secret, "correct horse battery staple 1234567890\n");
    assert.equal((await sous("data-bag", "create", "secrets")).code, 0);
    const created = await sous("data-bag", "create", "secrets", "db", "--json", '{"password": "hunter2"}', "--secret-file", secret);
    assert.equal(created.code, 0, created.stderr);
    const sealed = await sous("data-bag", "show", "secrets", "db", "--format", "json");
    assert.doesNotMatch(sealed.stdout, /hunter2/);
    assert.match(sealed.stderr, /encrypted; pass --secret-file/);
    const found = await sous("search", "secrets", "password:*", "--format", "json", "-i");
    assert.deepEqual(JSON.parse(found.stdout), ["db"]);
    assert.equal(JSON.parse((await sous("search", "secrets", "encrypted_data:*", "--format", "json", "-i")).stdout).length, 0);
    const opened = await sous("data-bag", "show", "secrets", "db", "--secret-file", secret, "--format", "json");
    assert.deepEqual(JSON.parse(opened.stdout), { id: "db", password: "hunter2" });
    writeFileSync(join(work, "wrong"), "a different secret of enough length\n");
    const wrong = await sous("data-bag", "show", "secrets", "db", "--secret-file", join(work, "wrong"));
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /cannot decrypt field 'password'/);
  });

  test("a secret item comes from a file instead of the command line, and a failed edit of it leaves no decrypted text behind", async () => {
    const secret = join(work, "secret");
    writeFileSync(join(work, "db2.json"), '{"password": "s3cret-in-a-file"}\n');
    const created = await sous("data-bag", "create", "secrets", "db2", "--json", `@${join(work, "db2.json")}`, "--secret-file", secret);
    assert.equal(created.code, 0, created.stderr);
    const opened = await sous("data-bag", "show", "secrets", "db2", "--secret-file", secret, "--format", "json");
    assert.deepEqual(JSON.parse(opened.stdout), { id: "db2", password: "s3cret-in-a-file" });
    const editsBefore = new Set(readdirSync(tmpdir()).filter((entry) => entry.startsWith("sous-edit-")));
    process.env.EDITOR = `sed -i 's/}/,,/'`;
    const failed = await sous("data-bag", "edit", "secrets", "db2", "--secret-file", secret);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /nothing was saved \(your text was deleted: it held decrypted values\)/);
    assert.deepEqual(readdirSync(tmpdir()).filter((entry) => entry.startsWith("sous-edit-") && !editsBefore.has(entry)), []);
  });

  test("cookbook upload sends only new files, checks dependencies, refuses links; download restores", async () => {
    const books = join(work, "cookbooks");
    mkdirSync(join(books, "base", "recipes"), { recursive: true });
    mkdirSync(join(books, "web", "templates"), { recursive: true });
    writeFileSync(join(books, "base", "package.json"), JSON.stringify({ name: "base", version: "1.0.0" }));
    writeFileSync(join(books, "base", "recipes", "default.ts"), "export default 1;\n");
    writeFileSync(join(books, "web", "package.json"), JSON.stringify({ name: "web", version: "0.1.0", dependencies: { base: "^1.0.0" } }));
    writeFileSync(join(books, "web", "templates", "site.conf.eta"), "listen <%= it.port %>\n");
    const first = await cookbook("upload", books);
    assert.equal(first.error, undefined, first.error?.message);
    assert.match(first.stdout, /Uploaded base@1\.0\.0 \(2 files, 2 sent\)\nUploaded web@0\.1\.0 \(2 files, 2 sent\)/);
    const again = await cookbook("upload", join(books, "web"));
    assert.match(again.stdout, /Uploaded web@0\.1\.0 \(2 files, 0 sent\)/);
    writeFileSync(join(books, "web", "package.json"), JSON.stringify({ name: "web", version: "0.2.0", dependencies: { missing: "^1.0.0" } }));
    const missing = await cookbook("upload", join(books, "web"));
    assert.match(missing.error?.message ?? "", /depends on missing/);
    symlinkSync("/etc/passwd", join(books, "base", "passwd"));
    const link = await cookbook("upload", join(books, "base"));
    assert.match(link.error?.message ?? "", /symbolic link/);
    const target = join(work, "download");
    const download = await cookbook("download", "web", "0.1.0", "--dir", target);
    assert.equal(download.error, undefined, download.error?.message);
    assert.equal(readFileSync(join(target, "templates", "site.conf.eta"), "utf8"), "listen <%= it.port %>\n");
    const list = await cookbook("list");
    assert.match(list.stdout, /base {2}1\.0\.0\nweb {2}0\.1\.0/);
    // A folder with no cookbook in it is an error that says what a cookbook is, not a silent no-op.
    const chef = join(work, "chef-repo", "cookbooks");
    mkdirSync(join(chef, "nginx", "recipes"), { recursive: true });
    writeFileSync(join(chef, "nginx", "metadata.rb"), "name 'nginx'\n");
    const none = await cookbook("upload", chef);
    assert.match(none.error?.message ?? "", /holds no cookbook: a cookbook is a folder with a package\.json .*none of nginx has one \(nginx has Chef's metadata instead/);
  });

  test("sous cookbook list works through the main command line too", async () => {
    const result = await sous("cookbook", "list", "--format", "json");
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(Object.keys(JSON.parse(result.stdout) as object).sort(), ["base", "web"]);
  });

  test("clear errors when the server is unreachable or the key is wrong", async () => {
    const down = await sous("node", "list", "--server-url", "http://127.0.0.1:9");
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach the Sous server at http:\/\/127\.0\.0\.1:9 .*\(the URL comes from --server-url\)/);
    const wrongKey = join(work, "wrong.pem");
    writeFileSync(wrongKey, (await import("../../src/protocol/signing.js")).generateKeyPair().privateKey);
    const denied = await sous("node", "list", "--key", wrongKey);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, new RegExp(`signature does not verify.*signed as client 'admin' from ${join(home, "config.json")} with the key ${wrongKey} from --key; check them`));
    const notFound = await sous("node", "show", "ghost");
    assert.match(notFound.stderr, /node 'ghost' does not exist/);
  });

  test("clients: create, bootstrap token registration, delete", async () => {
    const created = await sous("client", "create", "ci", "--key-out", join(work, "ci.pem"));
    assert.equal(created.code, 0, created.stderr);
    const token = (await sous("client", "bootstrap-token", "--format", "json")).stdout;
    const registered = await sous("client", "register", "web9", "--token", JSON.parse(token).token, "--key-out", join(work, "web9.pem"));
    assert.equal(registered.code, 0, registered.stderr);
    const asNode = await sous("node", "create", "web9", "--client", "web9", "--key", join(work, "web9.pem"));
    assert.equal(asNode.code, 0, asNode.stderr);
    const notMine = await sous("node", "create", "web10", "--client", "web9", "--key", join(work, "web9.pem"));
    assert.match(notMine.stderr, /may write only its own node/);
    assert.deepEqual(JSON.parse((await sous("client", "list", "--format", "json")).stdout), ["acme-validator", "admin", "ci", "web9"]);
  });

  test("org edit changes the full name in $EDITOR; a rename and a stale ETag are refused", async () => {
    process.env.EDITOR = `sed -i 's/"full_name": "acme"/"full_name": "Acme Corp"/'`;
    const edited = await sous("org", "edit", "acme", "--format", "json");
    assert.equal(edited.code, 0, edited.stderr);
    assert.equal((JSON.parse(edited.stdout) as { full_name: string }).full_name, "Acme Corp");
    assert.match((await sous("org", "show", "acme")).stdout, /Full name: {4}Acme Corp/);
    process.env.EDITOR = `sed -i 's/"name": "acme"/"name": "acme2"/'`;
    const renamed = await sous("org", "edit", "acme");
    assert.equal(renamed.code, 1);
    assert.match(renamed.stderr, /organization acme: an organization cannot be renamed; nothing was saved/);
    process.env.EDITOR = `sed -i 's/"full_name": "Acme Corp"/"full_name": "Acme Corp",,/'`;
    const broken = await sous("org", "edit", "acme");
    assert.match(broken.stderr, /object\.json:3:\d+: not valid JSON: .*nothing was saved \(your text stays in (\S+)\)/);
    rmSync(dirname(/your text stays in (\S+)\)/.exec(broken.stderr)![1]!), { recursive: true, force: true });
    // Someone changes the organization while the editor is open: that change is not overwritten.
    const gate = mkdtempSync(join(tmpdir(), "sous-edit-gate-"));
    try {
      const editor = join(gate, "editor.sh");
      // The editor says it is open, then waits (30 s at most) until the test has made its change.
      writeFileSync(editor, `#!/bin/sh\ntouch ${gate}/opened\nn=0\nwhile [ ! -e ${gate}/go ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done\nsed -i 's/"full_name": "[^"]*"/"full_name": "Acme Lost"/' "$1"\n`, { mode: 0o755 });
      process.env.EDITOR = editor;
      const editing = sous("org", "edit", "acme");
      for (let tries = 0; !existsSync(join(gate, "opened")) && tries < 600; tries++) await new Promise((wake) => setTimeout(wake, 50));
      const admin = new SousClient({ serverUrl: server.url, client: server.adminClient, privateKeyFile: server.adminKeyFile! });
      const read = await admin.request<Record<string, unknown>>("GET", "/api/v1/orgs/acme");
      await admin.request("PUT", "/api/v1/orgs/acme", { body: { ...read.body, full_name: "Acme Meanwhile" } });
      writeFileSync(join(gate, "go"), "");
      const lost = await editing;
      assert.equal(lost.code, 1);
      assert.match(lost.stderr, /organization 'acme' changed since you read it/);
      assert.match((await sous("org", "show", "acme")).stdout, /Full name: {4}Acme Meanwhile/);
    } finally {
      writeFileSync(join(gate, "go"), "");
      rmSync(gate, { recursive: true, force: true });
    }
  });

  test("org from-file creates organizations and updates full names; a broken file is refused with its line", async () => {
    mkdirSync(join(work, "orgs"), { recursive: true });
    writeFileSync(join(work, "orgs", "beta.json"), JSON.stringify({ full_name: "Beta Inc" }));
    writeFileSync(join(work, "orgs", "acme.ts"), 'export default { name: "acme", fullName: "ACME from a file" };\n');
    const result = await sous("org", "from-file", join(work, "orgs", "beta.json"), join(work, "orgs", "acme.ts"));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `Created organization beta; admin admin's key in ${join(home, "beta", "admin.pem")}\nSaved organization acme\n`);
    assert.ok(existsSync(join(home, "beta", "beta-validator.pem")));
    assert.match((await sous("org", "show", "beta", "--client", "admin", "--key", join(home, "beta", "admin.pem"))).stdout, /Full name: {4}Beta Inc/);
    assert.match((await sous("org", "show")).stdout, /Full name: {4}ACME from a file/);
    // Creating beta from a file did not switch the CLI's default organization.
    assert.equal((JSON.parse(readFileSync(join(home, "config.json"), "utf8")) as { org: string }).org, "acme");
    const again = await sous("org", "from-file", join(work, "orgs", "beta.json"), "--format", "json");
    assert.deepEqual(JSON.parse(again.stdout), [{ name: "beta", full_name: "Beta Inc", created: false }]);
    writeFileSync(join(work, "orgs", "broken.json"), '{\n  "full_name": "x"\n  "oops": 1\n}\n');
    const broken = await sous("org", "from-file", join(work, "orgs", "broken.json"));
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /broken\.json:3:3: not valid JSON: Expected ',' or '}' after property value/);
    writeFileSync(join(work, "orgs", "typo.ts"), 'export default { fullName: "Typo" ;\n');
    assert.match((await sous("org", "from-file", join(work, "orgs", "typo.ts"))).stderr, /typo\.ts:1:\d+: Expected "}" but found ";"/);
    writeFileSync(join(work, "orgs", "extra.json"), JSON.stringify({ full_name: "X", owner: "bob" }));
    assert.match((await sous("org", "from-file", join(work, "orgs", "extra.json"))).stderr, /extra\.json: unknown field owner/);
    assert.deepEqual(JSON.parse((await sous("org", "list", "--format", "json")).stdout), ["acme", "beta"]);
  });

  test("client edit changes the admin flag; a changed public key or name is refused", async () => {
    const before = JSON.parse((await sous("client", "show", "ci", "--format", "json")).stdout) as Record<string, unknown>;
    assert.equal(before.admin, false);
    process.env.EDITOR = `sed -i 's/"admin": false/"admin": true/'`;
    const edited = await sous("client", "edit", "ci");
    assert.equal(edited.code, 0, edited.stderr);
    assert.equal(edited.stdout, "Saved client ci\n");
    assert.match((await sous("client", "show", "ci")).stdout, /Admin: {5}true/);
    process.env.EDITOR = `sed -i 's/"validator": false/"validator": true/'`;
    const json = JSON.parse((await sous("client", "edit", "ci", "--format", "json")).stdout) as Record<string, unknown>;
    assert.deepEqual([json.name, json.admin, json.validator], ["ci", true, true]);
    // ci is an administrator now: it may create a role.
    assert.equal((await sous("role", "create", "by-ci", "--client", "ci", "--key", join(work, "ci.pem"))).code, 0);
    process.env.EDITOR = `sed -i 's/"public_key": "[^"]*"/"public_key": "-----BEGIN PUBLIC KEY-----\\\\nswapped\\\\n-----END PUBLIC KEY-----\\\\n"/'`;
    const swapped = await sous("client", "edit", "ci");
    assert.equal(swapped.code, 1);
    assert.match(swapped.stderr, /client ci: the public key changes only with `sous client rotate-key ci`.*nothing was saved/);
    process.env.EDITOR = `sed -i 's/"name": "ci"/"name": "cd"/'`;
    assert.match((await sous("client", "edit", "ci")).stderr, /client ci: a client cannot be renamed/);
    process.env.EDITOR = `sed -i 's/"admin": true/"admin": false/'`;
    const demoted = await sous("client", "edit", "admin");
    assert.equal(demoted.code, 1);
    assert.match(demoted.stderr, /client 'admin' cannot take away its own admin flag; another administrator of 'acme' can/);
    const after = JSON.parse((await sous("client", "show", "ci", "--format", "json")).stdout) as Record<string, unknown>;
    assert.equal(after.public_key, before.public_key);
    assert.equal(after.name, "ci");
    // The server refuses a key change through this route too, whatever sends it.
    const admin = new SousClient({ serverUrl: server.url, org: "acme", client: "admin", privateKeyFile: join(home, "acme", "admin.pem") });
    const refused = await admin.request("PUT", admin.orgPath("clients", "ci"), { body: { ...after, public_key: "x" } }).catch((error: SousApiError) => error);
    assert.equal((refused as SousApiError).code, "public_key_immutable");
  });

  test("client from-file creates clients (with a key pair made here) and updates flags", async () => {
    mkdirSync(join(work, "clients"), { recursive: true });
    writeFileSync(join(work, "clients", "deploy.json"), JSON.stringify({ admin: true }));
    writeFileSync(join(work, "clients", "ci.ts"), "export default { name: 'ci', admin: false, validator: true };\n");
    const result = await sous("client", "from-file", join(work, "clients", "deploy.json"), join(work, "clients", "ci.ts"));
    assert.equal(result.code, 0, result.stderr);
    const deployKey = join(home, "acme", "deploy.pem");
    assert.equal(result.stdout, `Created client deploy (admin: true, validator: false); private key in ${deployKey}\nSaved client ci (admin: false, validator: true)\n`);
    const asDeploy = await sous("role", "create", "by-deploy", "--client", "deploy", "--key", deployKey);
    assert.equal(asDeploy.code, 0, asDeploy.stderr);
    const json = JSON.parse((await sous("client", "from-file", join(work, "clients", "ci.ts"), "--format", "json")).stdout) as Array<Record<string, unknown>>;
    assert.deepEqual([json[0]!.name, json[0]!.admin, json[0]!.validator, json[0]!.created], ["ci", false, true, false]);
    writeFileSync(join(work, "clients", "deploy-rekey.json"), JSON.stringify({ name: "deploy", public_key: (await import("../../src/protocol/signing.js")).generateKeyPair().publicKey }));
    const rekey = await sous("client", "from-file", join(work, "clients", "deploy-rekey.json"));
    assert.equal(rekey.code, 1);
    assert.match(rekey.stderr, /deploy-rekey\.json: the public key changes only with `sous client rotate-key deploy`/);
    assert.equal((await sous("node", "list", "--client", "deploy", "--key", deployKey)).code, 0);
  });

  test("the server section of the repository's sous.config.ts, overridden by flags; a broken one is named", async () => {
    const repo = join(work, "repo");
    mkdirSync(join(repo, "keys"), { recursive: true });
    mkdirSync(join(repo, "cookbooks", "app", "recipes"), { recursive: true });
    writeFileSync(join(repo, "keys", "beta-admin.pem"), readFileSync(join(home, "beta", "admin.pem")));
    const configFile = join(repo, "sous.config.ts");
    writeFileSync(configFile, `import { config } from "sous";\nexport default config({ runList: ["recipe[app]"], server: { url: ${JSON.stringify(server.url)}, org: "beta", client: "admin", key: "keys/beta-admin.pem" } });\n`);
    const cwd = process.cwd();
    process.chdir(join(repo, "cookbooks", "app"));
    try {
      // ~/.sous/config.json points at acme; inside the repository the commands act in beta.
      assert.equal((await sous("node", "create", "only-in-beta")).code, 0);
      assert.deepEqual(JSON.parse((await sous("node", "list", "--format", "json")).stdout), ["only-in-beta"]);
      const flags = await sous("node", "list", "--org", "acme", "--key", join(home, "acme", "admin.pem"), "--format", "json");
      assert.deepEqual(JSON.parse(flags.stdout), ["db1", "web1", "web9"]);
      const down = await sous("node", "list", "--server-url", "http://127.0.0.1:9");
      assert.match(down.stderr, /cannot reach the Sous server at http:\/\/127\.0\.0\.1:9/);
      // Variables beat the file too.
      process.env.SOUS_ORG = "acme";
      process.env.SOUS_KEY = join(home, "acme", "admin.pem");
      try {
        assert.deepEqual(JSON.parse((await sous("node", "list", "--format", "json")).stdout), ["db1", "web1", "web9"]);
      } finally {
        delete process.env.SOUS_ORG;
        delete process.env.SOUS_KEY;
      }
      // A key the server does not know: the error says which file set it.
      writeFileSync(join(repo, "keys", "beta-admin.pem"), readFileSync(join(home, "acme", "admin.pem")));
      const denied = await sous("node", "list");
      assert.equal(denied.code, 1);
      assert.match(denied.stderr, new RegExp(`signed as client 'admin' from ${configFile} with the key ${join(repo, "keys", "beta-admin.pem")} from ${configFile}`));
      // `~/` in the key is the home directory; a key that is not there says which file named it.
      writeFileSync(configFile, `import { config } from "sous";\nexport default config({ server: { url: ${JSON.stringify(server.url)}, org: "beta", client: "admin", key: "~/.sous-test-no-such-key.pem" } });\n`);
      const missing = await sous("node", "list");
      assert.match(missing.stderr, new RegExp(`cannot read the private key ${join(homedir(), ".sous-test-no-such-key.pem")}: ENOENT \\(the key setting comes from ${configFile}\\)`));
      writeFileSync(configFile, 'import { config } from "sous";\nexport default config({ server: { url: 8787 } });\n');
      assert.match((await sous("node", "list")).stderr, new RegExp(`${configFile.replace(/[.]/g, "\\.")}: server\\.url must be a non-empty string, not 8787`));
      writeFileSync(configFile, 'import { config } from "sous";\nexport default config({ server: { url: "x" }\n');
      const broken = await sous("node", "list");
      assert.equal(broken.code, 1);
      assert.match(broken.stderr, new RegExp(`${configFile.replace(/[.]/g, "\\.")}:3:1: Expected "}" but found end of file`));
    } finally {
      process.chdir(cwd);
    }
    // Outside the repository the configuration file rules again.
    assert.deepEqual(JSON.parse((await sous("node", "list", "--format", "json")).stdout), ["db1", "web1", "web9"]);
  });
});
