// The knife-like CLI as a new user runs it: start a server, create an organization, load roles
// and nodes from files, search, edit, encrypt a data bag item, upload and download a cookbook.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Command } from "commander";
import { main } from "../../src/cli/main.js";
import { registerCookbookServerCommands } from "../../src/cli/server-commands.js";
import { startServer } from "../../src/server/server.js";
import type { RunningServer } from "../../src/server/server.js";

const home = mkdtempSync(join(tmpdir(), "sous-cli-home-"));
process.env.SOUS_HOME = home;
for (const name of ["SOUS_SERVER_URL", "SOUS_ORG", "SOUS_CLIENT", "SOUS_KEY"]) delete process.env[name];

async function sous(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await main(argv, { stdout: (t: string) => void (stdout += t), stderr: (t: string) => void (stderr += t), color: false } as Parameters<typeof main>[1]);
  return { code, stdout, stderr };
}

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
  });

  test("sous cookbook list works through the main command line too", async () => {
    const result = await sous("cookbook", "list", "--format", "json");
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(Object.keys(JSON.parse(result.stdout) as object).sort(), ["base", "web"]);
  });

  test("clear errors when the server is unreachable or the key is wrong", async () => {
    const down = await sous("node", "list", "--server-url", "http://127.0.0.1:9");
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach the Sous server at http:\/\/127\.0\.0\.1:9/);
    const wrongKey = join(work, "wrong.pem");
    writeFileSync(wrongKey, (await import("../../src/client/signing.js")).generateKeyPair().privateKey);
    const denied = await sous("node", "list", "--key", wrongKey);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /signature does not verify.*check --client and --key/);
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
});
