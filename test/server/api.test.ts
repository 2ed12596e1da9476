// The HTTP API as a client sees it, on a real server on 127.0.0.1 port 0, over SQLite and PostgreSQL.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { SousClient } from "../../src/client/api.js";
import { generateKeyPair, signRequest } from "../../src/protocol/signing.js";
import { backends, createOrg, rejectsWith, startTestServer } from "./helpers.js";


const sha = (text: string): string => createHash("sha256").update(text).digest("hex");

for (const backend of backends) {
  describe(`HTTP API on ${backend.name}`, { skip: backend.skip ?? false }, () => {
    let ctx: Awaited<ReturnType<typeof startTestServer>>;
    let admin: SousClient;
    let validator: SousClient;
    let url: string;
    before(async () => {
      ctx = await startTestServer(backend, { maxFileSize: 1024 });
      url = ctx.server.url;
      ({ admin, validator } = await createOrg(url, ctx.serverAdmin, "acme"));
    });
    after(async () => ctx?.cleanup());

    test("health needs no signature and names the store", async () => {
      const response = await fetch(`${url}/api/v1/health`);
      assert.deepEqual(await response.json(), { status: "ok", store: backend.name });
    });

    test("a new organization has its admin, its validator and the _default environment", async () => {
      assert.deepEqual((await admin.get<{ names: string[] }>(admin.orgPath("clients"))).names, ["acme-validator", "alice"]);
      assert.deepEqual((await admin.get<{ names: string[] }>(admin.orgPath("environments"))).names, ["_default"]);
      await rejectsWith(ctx.serverAdmin.request("POST", "/api/v1/orgs", { body: { name: "acme", admin: { name: "bob", public_key: generateKeyPair().publicKey } } }), 409, "already_exists");
      await rejectsWith(admin.request("POST", "/api/v1/orgs", { body: { name: "x" } }), 401);
    });

    test("listings are paged by start and rows, and refuse a page out of range", async () => {
      await admin.request("POST", admin.orgPath("data"), { body: { name: "pages" } });
      for (const id of ["c", "a", "b"]) await admin.request("POST", admin.orgPath("data", "pages"), { body: { id } });
      assert.deepEqual(await admin.get(`${admin.orgPath("data", "pages")}?start=1&rows=1`), { total: 3, start: 1, names: ["b"] });
      assert.deepEqual(await admin.get(`${admin.orgPath("clients")}?rows=1`), { total: 2, start: 0, names: ["acme-validator"] });
      await rejectsWith(admin.get(`${admin.orgPath("environments")}?rows=10001`), 400, "invalid_parameter");
      await rejectsWith(admin.get(`${admin.orgPath("data")}?start=-1`), 400, "invalid_parameter");
    });

    test("roles, nodes and search from a client's point of view", async () => {
      await admin.request("POST", admin.orgPath("roles"), { body: { name: "web", run_list: ["recipe[nginx]"], default_attributes: { nginx: { port: 80 } } } });
      const created = await admin.request("PUT", admin.orgPath("nodes", "web1"), {
        body: { name: "web1", chef_environment: "_default", run_list: ["role[web]"], automatic: { platform: "debian", ipaddress: "10.0.0.1", kernel: { release: "6.1.0" } } },
      });
      assert.equal(created.status, 201);
      const found = await admin.get<{ total: number; rows: Array<{ name: string }> }>(`${admin.orgPath("search", "node")}?q=${encodeURIComponent("role:web AND platform:debian")}`);
      assert.equal(found.total, 1);
      assert.equal(found.rows[0]!.name, "web1");
      const partial = await admin.request<{ rows: Array<{ name: string; data: Record<string, unknown> }> }>("POST", `${admin.orgPath("search", "node")}?q=name:web1`, {
        body: { ip: ["ipaddress"], release: ["kernel", "release"], missing: ["no", "such"], dotted: "kernel.release" },
      });
      assert.deepEqual(partial.body.rows[0]!.data, { ip: "10.0.0.1", release: "6.1.0", missing: null, dotted: "6.1.0" });
      // Partial results follow attribute precedence (override over normal over role defaults) and see run-list roles.
      await admin.request("PUT", admin.orgPath("nodes", "web1"), {
        body: { name: "web1", run_list: ["role[web]"], normal: { tier: "n", app: { port: 1 } }, override: { tier: "o" }, automatic: { platform: "debian", ipaddress: "10.0.0.1", kernel: { release: "6.1.0" } } },
      });
      const merged = await admin.request<{ rows: Array<{ data: Record<string, unknown> }> }>("POST", `${admin.orgPath("search", "node")}?q=name:web1`, {
        body: { tier: ["tier"], app: ["app"], roles: ["role"], everything: [] },
      });
      const data = merged.body.rows[0]!.data;
      assert.deepEqual([data.tier, data.app, data.roles], ["o", { port: 1 }, ["web"]]);
      assert.equal((data.everything as Record<string, unknown>).platform, "debian");
      // A client's key is never shown by search, whole or partial.
      const clients = await admin.get<{ rows: Array<Record<string, unknown>> }>(`${admin.orgPath("search", "client")}?q=*:*`);
      assert.ok(clients.rows.length > 0 && clients.rows.every((row) => row.public_key === undefined && typeof row.name === "string"));
      const clientPartial = await admin.request<{ rows: Array<{ data: Record<string, unknown> }> }>("POST", `${admin.orgPath("search", "client")}?q=*:*`, { body: { key: ["public_key"], name: ["name"] } });
      assert.ok(clientPartial.body.rows.every((row) => row.data.key === null && typeof row.data.name === "string"));
      const roles = await admin.get<{ rows: Array<{ name: string }> }>(`${admin.orgPath("search", "role")}?q=${encodeURIComponent("default_attributes_nginx_port:80 AND run_list:recipe\\[nginx\\]")}`);
      assert.deepEqual(roles.rows.map((r) => r.name), ["web"]);
    });

    test("partial search paths give the same values however the answer is put together", async () => {
      await admin.saveNode({
        name: "odd1",
        automatic: { cpu: { "0": { mhz: "2499.998" }, total: 8 }, odd: { "a.b": 1, 'q"uote': 2, "sp ace": [3] }, list: [{ x: 1 }], nums: { f: 0.30000000000000004, big: 1e21, small: -1.5e-7 }, nul: null },
      });
      const spec = { total: "cpu.total", dot: ["odd", "a.b"], space: ["odd", "sp ace"], through_array: ["list", "x"], f: ["nums", "f"], big: ["nums", "big"], small: ["nums", "small"], nul: ["nul"], below_null: ["nul", "x"], missing: ["nope"], whole: ["odd"] };
      const expected = { total: 8, dot: 1, space: [3], through_array: null, f: 0.30000000000000004, big: 1e21, small: -1.5e-7, nul: null, below_null: null, missing: null, whole: { "a.b": 1, 'q"uote': 2, "sp ace": [3] } };
      const search = async (body: Record<string, unknown>) => (await admin.request<{ rows: Array<{ name: string; url: string; data: Record<string, unknown> }> }>("POST", `${admin.orgPath("search", "node")}?q=name:odd1`, { body })).body.rows;
      const [row] = await search(spec);
      assert.deepEqual(row, { name: "odd1", url: "/api/v1/orgs/acme/nodes/odd1", data: expected });
      // A key with a quote in its path is answered another way on SQLite: the same values come back.
      const [quoted] = await search({ ...spec, quote: ["odd", 'q"uote'] });
      assert.deepEqual(quoted, { name: "odd1", url: "/api/v1/orgs/acme/nodes/odd1", data: { ...expected, quote: 2 } });
      // A whole number indexes an array and is a key on a hash (answered outside SQLite's JSON paths).
      const [indexed] = await search({ ...spec, mhz: ["cpu", "0", "mhz"], first_x: ["list", 0, "x"] });
      assert.deepEqual(indexed, { name: "odd1", url: "/api/v1/orgs/acme/nodes/odd1", data: { ...expected, mhz: "2499.998", first_x: 1 } });
      const [empty] = await search({});
      assert.deepEqual(empty, { name: "odd1", url: "/api/v1/orgs/acme/nodes/odd1", data: {} });
      await admin.request("DELETE", admin.orgPath("nodes", "odd1"));
    });

    test("the client's search helpers page through every hit", async () => {
      await admin.saveNode({ name: "page1", automatic: { group: "paged" } });
      await admin.saveNode({ name: "page2", automatic: { group: "paged" } });
      const all = await admin.searchAll<{ name: string; data: { group: string } }>("node", "group:paged", { partial: { group: ["group"] }, pageSize: 1 });
      assert.deepEqual(all.map((row) => [row.name, row.data.group]), [["page1", "paged"], ["page2", "paged"]]);
      const sorted = await admin.search<{ name: string }>("node", "group:paged", { sort: "name desc", rows: 1 });
      assert.equal(sorted.total, 2);
      assert.deepEqual(sorted.rows.map((row) => row.name), ["page2"]);
    });

    test("If-Match protects a concurrent edit", async () => {
      const read = await admin.request<Record<string, unknown>>("GET", admin.orgPath("nodes", "web1"));
      assert.ok(read.etag);
      await admin.request("PUT", admin.orgPath("nodes", "web1"), { body: { ...read.body, normal: { edited: 1 } }, ifMatch: read.etag! });
      const error = await rejectsWith(admin.request("PUT", admin.orgPath("nodes", "web1"), { body: { ...read.body, normal: { edited: 2 } }, ifMatch: read.etag! }), 412, "precondition_failed");
      assert.match(error.message, /changed since you read it/);
      assert.deepEqual((await admin.get<{ normal: unknown }>(admin.orgPath("nodes", "web1"))).normal, { edited: 1 });
    });

    test("malformed JSON and invalid objects get a 400 with a clear message", async () => {
      const headers = { "content-type": "application/json", ...signRequest({ method: "POST", path: admin.orgPath("roles"), body: "{nope", client: "alice", privateKey: (admin as unknown as { key: import("node:crypto").KeyObject }).key }) };
      const response = await fetch(`${url}${admin.orgPath("roles")}`, { method: "POST", headers, body: "{nope" });
      assert.equal(response.status, 400);
      const body = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, "bad_json");
      await rejectsWith(admin.request("POST", admin.orgPath("nodes"), { body: { name: "bad name!" } }), 400, "invalid_name");
      await rejectsWith(admin.request("POST", admin.orgPath("nodes"), { body: { name: "n", run_list: ["rm -rf"] } }), 400, "invalid_run_list");
      await rejectsWith(admin.request("PUT", admin.orgPath("nodes", "a"), { body: { name: "b" } }), 400, "name_mismatch");
      await rejectsWith(admin.request("GET", admin.orgPath("nodes", "ghost")), 404, "not_found");
    });

    test("a bad query is a 400 naming the position", async () => {
      const error = await rejectsWith(admin.get(`${admin.orgPath("search", "node")}?q=${encodeURIComponent("role:web AND (platform:debian")}`), 400, "bad_query");
      assert.match(error.message, /position 30/);
      const slash = await rejectsWith(admin.get(`${admin.orgPath("search", "node")}?q=${encodeURIComponent("path:/var/www")}`), 400, "bad_query");
      assert.match(slash.message, /position/);
      await rejectsWith(admin.get(`${admin.orgPath("search", "nosuchbag")}?q=*:*`), 404);
    });

    test("data bags and items, searchable by the bag's name", async () => {
      await admin.request("POST", admin.orgPath("data"), { body: { name: "users" } });
      await admin.request("POST", admin.orgPath("data", "users"), { body: { id: "ada", shell: "/bin/zsh", groups: ["sysadmin"] } });
      await admin.request("PUT", admin.orgPath("data", "users", "bob"), { body: { id: "bob", shell: "/bin/bash" } });
      const found = await admin.get<{ rows: Array<{ id: string }> }>(`${admin.orgPath("search", "users")}?q=${encodeURIComponent("shell:\\/bin\\/zsh")}`);
      assert.deepEqual(found.rows.map((r) => r.id), ["ada"]);
      assert.deepEqual((await admin.get<{ names: string[] }>(admin.orgPath("data", "users"))).names, ["ada", "bob"]);
      assert.ok((await admin.get<{ indexes: string[] }>(admin.orgPath("search"))).indexes.includes("users"));
      await admin.request("DELETE", admin.orgPath("data", "users"));
      await rejectsWith(admin.get(admin.orgPath("data", "users", "ada")), 404);
    });

    describe("authentication and authorization", () => {
      let nodeClient: SousClient;
      before(async () => {
        const keys = generateKeyPair();
        await validator.request("POST", validator.orgPath("clients", "register"), { body: { name: "web2", public_key: keys.publicKey } });
        nodeClient = new SousClient({ serverUrl: url, org: "acme", client: "web2", privateKey: keys.privateKey });
      });

      const rolesBefore = async () => (await admin.get<{ names: string[] }>(admin.orgPath("roles"))).names;

      test("unsigned, badly signed, expired and tampered requests are refused and change nothing", async () => {
        const before = await rolesBefore();
        const path = admin.orgPath("roles");
        const body = JSON.stringify({ name: "evil" });
        const send = (headers: Record<string, string>, sentBody = body) => fetch(`${url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: sentBody });
        const key = (admin as unknown as { key: import("node:crypto").KeyObject }).key;
        const cases: Array<[string, Response, string]> = [
          ["unsigned", await send({}), "unsigned"],
          ["wrong key", await send(signRequest({ method: "POST", path, body, client: "alice", privateKey: generateKeyPair().privateKey })), "bad_signature"],
          ["unknown client", await send(signRequest({ method: "POST", path, body, client: "mallory", privateKey: generateKeyPair().privateKey })), "bad_signature"],
          ["expired", await send(signRequest({ method: "POST", path, body, client: "alice", privateKey: key, now: new Date(Date.now() - 3_600_000) })), "request_expired"],
          ["tampered body", await send(signRequest({ method: "POST", path, body, client: "alice", privateKey: key }), JSON.stringify({ name: "evil2" })), "body_hash_mismatch"],
          ["other path", await send(signRequest({ method: "POST", path: admin.orgPath("environments"), body, client: "alice", privateKey: key })), "bad_signature"],
          ["other method", await send(signRequest({ method: "PUT", path, body, client: "alice", privateKey: key })), "bad_signature"],
        ];
        for (const [name, response, code] of cases) {
          assert.equal(response.status, 401, name);
          assert.equal(((await response.json()) as { error: { code: string } }).error.code, code, name);
        }
        assert.deepEqual(await rolesBefore(), before);
      });

      test("every route refuses an unsigned request", async () => {
        const routes: Array<[string, string]> = [
          ["GET", "/api/v1/orgs"], ["POST", "/api/v1/orgs"], ["GET", "/api/v1/orgs/acme"], ["DELETE", "/api/v1/orgs/acme"],
          ["GET", "/api/v1/orgs/acme/nodes"], ["PUT", "/api/v1/orgs/acme/nodes/web1"], ["DELETE", "/api/v1/orgs/acme/nodes/web1"],
          ["GET", "/api/v1/orgs/acme/roles/web"], ["DELETE", "/api/v1/orgs/acme/roles/web"], ["GET", "/api/v1/orgs/acme/clients"],
          ["DELETE", "/api/v1/orgs/acme/clients/alice"], ["PUT", "/api/v1/orgs/acme/clients/alice/key"], ["GET", "/api/v1/orgs/acme/search/node"],
          ["POST", "/api/v1/orgs/acme/data"], ["GET", "/api/v1/orgs/acme/cookbooks"], ["PUT", "/api/v1/orgs/acme/cookbooks/x/1.0.0"],
          ["PUT", `/api/v1/orgs/acme/files/${"0".repeat(64)}`], ["POST", "/api/v1/orgs/acme/bootstrap-tokens"], ["POST", "/api/v1/orgs/acme/clients/register"],
        ];
        for (const [method, path] of routes) {
          const response = await fetch(`${url}${path}`, { method, headers: { "content-type": "application/json" }, body: method === "GET" || method === "DELETE" ? undefined : JSON.stringify({ name: "x", public_key: generateKeyPair().publicKey }) });
          assert.equal(response.status, 401, `${method} ${path}`);
        }
        assert.ok(await admin.get(admin.orgPath("nodes", "web1")));
        assert.ok(await admin.get(admin.orgPath("clients", "alice")));
      });

      test("a node's client writes only its own node and reads what a converge needs", async () => {
        const own = await nodeClient.request("PUT", nodeClient.orgPath("nodes", "web2"), { body: { name: "web2", run_list: ["role[web]"], automatic: { platform: "debian" } } });
        assert.equal(own.status, 201);
        const web1Before = await admin.request("GET", admin.orgPath("nodes", "web1"));
        await rejectsWith(nodeClient.request("PUT", nodeClient.orgPath("nodes", "web1"), { body: { name: "web1" } }), 403, "forbidden");
        await rejectsWith(nodeClient.request("DELETE", nodeClient.orgPath("nodes", "web1")), 403, "forbidden");
        const web1After = await admin.request("GET", admin.orgPath("nodes", "web1"));
        assert.deepEqual(web1After.body, web1Before.body);
        assert.equal(web1After.etag, web1Before.etag);
        await rejectsWith(nodeClient.request("POST", nodeClient.orgPath("nodes"), { body: { name: "web9" } }), 403, "forbidden");
        await rejectsWith(nodeClient.request("DELETE", nodeClient.orgPath("nodes", "web2")), 403);
        await rejectsWith(nodeClient.request("POST", nodeClient.orgPath("roles"), { body: { name: "mine" } }), 403);
        await rejectsWith(nodeClient.get(nodeClient.orgPath("clients")), 403);
        await rejectsWith(nodeClient.get(`${nodeClient.orgPath("search", "client")}?q=*:*`), 403);
        const web = await nodeClient.get<{ total: number }>(`${nodeClient.orgPath("search", "node")}?q=role:web`);
        assert.equal(web.total, 2);
        assert.equal((await admin.get<{ name: string }>(admin.orgPath("nodes", "web1"))).name, "web1");
        await rejectsWith(validator.get(validator.orgPath("nodes")), 403);
      });

      test("a client of one organization cannot act in another", async () => {
        const other = await createOrg(url, ctx.serverAdmin, "globex");
        await rejectsWith(new SousClient({ ...admin.options, org: "globex" }).get(admin.orgPath("nodes").replace("acme", "globex")), 401);
        await rejectsWith(other.admin.get(other.admin.orgPath("nodes").replace("globex", "acme")), 401);
      });

      test("a bootstrap token registers one node, once", async () => {
        const { body } = await admin.request<{ token: string }>("POST", admin.orgPath("bootstrap-tokens"), { body: { ttl_seconds: 60 } });
        const keys = generateKeyPair();
        const anonymous = new SousClient({ serverUrl: url, org: "acme", client: "anonymous" });
        await anonymous.request("POST", anonymous.orgPath("clients", "register"), { body: { name: "db1", public_key: keys.publicKey, token: body.token }, unsigned: true });
        await rejectsWith(anonymous.request("POST", anonymous.orgPath("clients", "register"), { body: { name: "db2", public_key: keys.publicKey, token: body.token }, unsigned: true }), 401, "bad_token");
        const db1 = new SousClient({ serverUrl: url, org: "acme", client: "db1", privateKey: keys.privateKey });
        assert.equal((await db1.request("PUT", db1.orgPath("nodes", "db1"), { body: { name: "db1" } })).status, 201);
        const client = await admin.get<{ admin: boolean; public_key?: string }>(admin.orgPath("clients", "db1"));
        assert.equal(client.admin, false);
      });

      test("keys rotate and revoked clients are refused", async () => {
        const keys = generateKeyPair();
        await admin.request("POST", admin.orgPath("clients"), { body: { name: "ci", public_key: keys.publicKey } });
        const ci = new SousClient({ serverUrl: url, org: "acme", client: "ci", privateKey: keys.privateKey });
        const next = generateKeyPair();
        await ci.request("PUT", ci.orgPath("clients", "ci", "key"), { body: { public_key: next.publicKey } });
        await rejectsWith(ci.get(ci.orgPath("nodes")), 401, "bad_signature");
        const rotated = new SousClient({ serverUrl: url, org: "acme", client: "ci", privateKey: next.privateKey });
        assert.ok(await rotated.get(rotated.orgPath("nodes")));
        await admin.request("DELETE", admin.orgPath("clients", "ci"));
        await rejectsWith(rotated.get(rotated.orgPath("nodes")), 401, "bad_signature");
      });
    });

    describe("cookbooks", () => {
      const upload = async (name: string, version: string, files: Record<string, string>, dependencies: Record<string, string> = {}, query = "") => {
        const entries = Object.entries(files).map(([path, content]) => ({ path, sha256: sha(content), size: Buffer.byteLength(content) }));
        const { body } = await admin.request<{ missing: string[] }>("POST", admin.orgPath("cookbooks", "check"), { body: { checksums: entries.map((e) => e.sha256) } });
        for (const [, content] of Object.entries(files)) {
          if (body.missing.includes(sha(content))) await admin.request("PUT", admin.orgPath("files", sha(content)), { body: Buffer.from(content) });
        }
        return admin.request("PUT", `${admin.orgPath("cookbooks", name, version)}${query}`, { body: { name, version, dependencies, files: entries } });
      };

      test("an upload sends only files the server lacks, and a download gets them back", async () => {
        await upload("base", "1.0.0", { "recipes/default.ts": "export default 1;", "package.json": "{}" });
        const check = await admin.request<{ missing: string[] }>("POST", admin.orgPath("cookbooks", "check"), { body: { checksums: [sha("export default 1;"), sha("new")] } });
        assert.deepEqual(check.body.missing, [sha("new")]);
        const manifest = await admin.get<{ files: Array<{ path: string; sha256: string }> }>(admin.orgPath("cookbooks", "base", "1.0.0"));
        const file = manifest.files.find((f) => f.path === "recipes/default.ts")!;
        const content = await admin.request<Buffer>("GET", admin.orgPath("files", file.sha256), { raw: true });
        assert.equal(content.body.toString(), "export default 1;");
      });

      test("unsafe paths, oversize files, wrong checksums and missing files are refused", async () => {
        for (const path of ["../etc/passwd", "/etc/passwd", "a/../../b", "a\\b", "./a"]) {
          await rejectsWith(upload("evil", "1.0.0", { [path]: "x" }), 400, "unsafe_path");
        }
        await rejectsWith(admin.request("PUT", admin.orgPath("files", sha("y".repeat(2000))), { body: Buffer.from("y".repeat(2000)) }), 413);
        await rejectsWith(admin.request("PUT", admin.orgPath("files", sha("a")), { body: Buffer.from("b") }), 400, "checksum_mismatch");
        await rejectsWith(admin.request("PUT", admin.orgPath("cookbooks", "evil", "1.0.0"), { body: { files: [{ path: "a", sha256: sha("never sent"), size: 3 }] } }), 400, "missing_files");
        await rejectsWith(admin.get(admin.orgPath("cookbooks", "evil")), 404);
      });

      test("dependencies must exist, frozen versions stay, and a run list resolves per environment", async () => {
        await rejectsWith(upload("web", "1.0.0", { "a.ts": "a" }, { nope: "^1.0.0" }), 400, "missing_dependency");
        await upload("base", "1.1.0", { "b.ts": "b" });
        await upload("base", "2.0.0", { "c.ts": "c" });
        await upload("web", "1.0.0", { "a.ts": "a" }, { base: "^1.0.0" });
        await admin.request("PUT", admin.orgPath("cookbooks", "base", "1.1.0"), { body: { ...(await admin.get<object>(admin.orgPath("cookbooks", "base", "1.1.0"))), frozen: true } });
        await rejectsWith(upload("base", "1.1.0", { "b.ts": "changed" }), 409, "frozen");
        await admin.request("POST", admin.orgPath("roles"), { body: { name: "webapp", run_list: ["recipe[web]"] } });
        await admin.request("POST", admin.orgPath("environments"), { body: { name: "prod", cookbook_versions: { base: "= 1.0.0" } } });
        const resolved = await admin.request<{ recipes: string[]; cookbooks: Record<string, { version: string }> }>("POST", admin.orgPath("environments", "_default", "cookbook_versions"), { body: { run_list: ["role[webapp]"] } });
        assert.deepEqual(resolved.body.recipes, ["web"]);
        assert.equal(resolved.body.cookbooks.base!.version, "1.1.0");
        const prod = await admin.request<{ cookbooks: Record<string, { version: string }> }>("POST", admin.orgPath("environments", "prod", "cookbook_versions"), { body: { run_list: ["recipe[web::default]"] } });
        assert.equal(prod.body.cookbooks.base!.version, "1.0.0");
        const listing = await admin.get<{ cookbooks: Record<string, string[]> }>(admin.orgPath("cookbooks"));
        assert.deepEqual(listing.cookbooks.base, ["2.0.0", "1.1.0", "1.0.0"]);
      });
    });
  });
}
