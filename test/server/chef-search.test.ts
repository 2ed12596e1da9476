// What a Chef user migrating a fleet types, answered as Chef answers it (or as documented in
// docs/server.md where Sous differs on purpose), through a real server on SQLite and PostgreSQL.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { SousClient } from "../../src/client/api.js";
import { parseKeyAssignment, valueAtPath } from "../../src/server/search/partial.js";
import { sous } from "../helpers.js";
import { backends, createOrg, startTestServer } from "./helpers.js";

/** A node as an agent saves it: its facts are automatic attributes. */
function nodeBody(name: string, automatic: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return { name, chef_environment: "_default", run_list: [], normal: {}, default: {}, override: {}, automatic, ...extra };
}

const web1 = nodeBody("web1", {
  ipaddress: "10.0.1.11",
  kernel: { name: "Linux", release: "6.1.0-18-amd64" },
  network: { interfaces: { eth0: { addresses: { "10.0.1.11": { family: "inet", prefixlen: "24" }, "fe80::1": { family: "inet6" } } } } },
  filesystem: { mounts: [{ mount: "/", fs_type: "ext4" }, { mount: "/boot", fs_type: "vfat" }] },
  tags: ["blue", "edge"],
});

test("a path walks hashes by key and arrays by index; anything else is null", () => {
  const doc = { a: { "b.c": [10, { d: "x" }] }, cpu: { "0": { model: "m" } } };
  assert.equal(valueAtPath(doc, ["a", "b.c", "1", "d"]), "x");
  assert.equal(valueAtPath(doc, ["a", "b.c", "0"]), 10);
  assert.equal(valueAtPath(doc, ["cpu", "0", "model"]), "m", "a number on a hash is a key");
  assert.equal(valueAtPath(doc, ["a", "b.c", "2"]), null);
  assert.equal(valueAtPath(doc, ["a", "b.c", "d"]), null, "a key on an array leads nowhere");
  assert.equal(valueAtPath(doc, ["a", "b", "c"]), null);
  assert.equal(valueAtPath(doc, ["a", "toString"]), null, "inherited properties are not keys");
  assert.deepEqual(parseKeyAssignment("addr=network.interfaces.eth0.addresses.10\\.0\\.1\\.11.family"), ["addr", ["network", "interfaces", "eth0", "addresses", "10.0.1.11", "family"]]);
  assert.deepEqual(parseKeyAssignment("kernel.release"), ["kernel.release", ["kernel", "release"]]);
  assert.throws(() => parseKeyAssignment("=ipaddress"), /expected NAME=PATH/);
});

for (const backend of backends) {
  describe(`Chef searches on ${backend.name}`, { skip: backend.skip ?? false }, () => {
    let ctx: Awaited<ReturnType<typeof startTestServer>>;
    let admin: SousClient;
    let cli: string[];
    const keyDir = mkdtempSync(join(tmpdir(), "sous-chef-search-"));
    before(async () => {
      ctx = await startTestServer(backend);
      const org = await createOrg(ctx.server.url, ctx.serverAdmin, "acme");
      admin = org.admin;
      writeFileSync(join(keyDir, "alice.pem"), org.adminKeys.privateKey, { mode: 0o600 });
      cli = ["--server-url", ctx.server.url, "--org", "acme", "--client", "alice", "--key", join(keyDir, "alice.pem")];
      await admin.request("PUT", admin.orgPath("nodes", "web1"), { body: web1 });
      await admin.request("PUT", admin.orgPath("nodes", "web2"), { body: nodeBody("web2", { ipaddress: "10.0.1.12", kernel: { release: "6.1.0-17-amd64" } }) });
    });
    after(async () => {
      await ctx?.cleanup();
      rmSync(keyDir, { recursive: true, force: true });
    });

    const partial = async (query: string, keys: unknown) =>
      (await admin.request<{ total: number; rows: Array<{ name: string; url: string; data: Record<string, unknown> }> }>("POST", `${admin.orgPath("search", "node")}?q=${encodeURIComponent(query)}`, { body: keys })).body;

    test("partial search: Chef's named paths, keys with dots, paths through arrays, null where a path leads nowhere", async () => {
      const body = await partial("name:web1", {
        ip: ["ipaddress"],
        kernel: ["kernel", "release"],
        family: ["network", "interfaces", "eth0", "addresses", "10.0.1.11", "family"],
        boot_fs: ["filesystem", "mounts", 1, "fs_type"],
        first_tag: ["tags", "0"],
        nothing: ["tags", "9"],
        missing: ["no", "such"],
      });
      assert.equal(body.total, 1);
      assert.match(body.rows[0]!.url, /\/api\/v1\/orgs\/acme\/nodes\/web1$/);
      assert.deepEqual(body.rows[0]!.data, { ip: "10.0.1.11", kernel: "6.1.0-18-amd64", family: "inet", boot_fs: "vfat", first_tag: "blue", nothing: null, missing: null });
      // Top-level attributes only (answered from each attribute's stored JSON) give the same.
      const top = await partial("name:web*", { ip: ["ipaddress"], tags: ["tags"] });
      assert.deepEqual(top.rows.map((row) => [row.name, row.data]), [["web1", { ip: "10.0.1.11", tags: ["blue", "edge"] }], ["web2", { ip: "10.0.1.12", tags: null }]]);
    });

    test("a partial search body that is not names to paths is a 400 naming the result key", async () => {
      await assert.rejects(partial("*:*", { ip: { path: "ipaddress" } }), (error: Error & { status?: number }) => error.status === 400 && /path of 'ip' must be an array of keys/.test(error.message));
      await assert.rejects(partial("*:*", ["ipaddress"]), (error: Error & { status?: number }) => error.status === 400 && /expected an object of result names/.test(error.message));
    });

    test("sous search --keys, -k and --format chef give Chef's partial rows", async () => {
      const keys = await sous("search", "node", "name:web1", "--keys", '{"ip": ["ipaddress"], "kernel": ["kernel", "release"]}', "--format", "json", ...cli);
      assert.equal(keys.code, 0, keys.stderr);
      assert.deepEqual(JSON.parse(keys.stdout), { total: 1, start: 0, rows: [{ name: "web1", data: { ip: "10.0.1.11", kernel: "6.1.0-18-amd64" } }] });

      const repeated = await sous("search", "node", "name:web*", "-k", "ip=ipaddress", "-k", "family=network.interfaces.eth0.addresses.10\\.0\\.1\\.11.family", ...cli);
      assert.equal(repeated.code, 0, repeated.stderr);
      assert.equal(repeated.stdout, "2 results\nweb1: ip=10.0.1.11  family=inet\nweb2: ip=10.0.1.12  family=null\n");

      const chef = await sous("search", "node", "name:web2", "-k", "kernel=kernel.release", "--format", "chef", ...cli);
      assert.equal(chef.code, 0, chef.stderr);
      const rows = (JSON.parse(chef.stdout) as { rows: Array<Record<string, unknown>> }).rows;
      assert.deepEqual(rows.map((row) => Object.keys(row)), [["url", "data"]]);
      assert.match(String(rows[0]!.url), /\/orgs\/acme\/nodes\/web2$/);
      assert.deepEqual(rows[0]!.data, { kernel: "6.1.0-17-amd64" });

      // -a names each value by its path as written; \. is a dot inside a key.
      const attribute = await sous("search", "node", "name:web1", "-a", "network.interfaces.eth0.addresses.10\\.0\\.1\\.11.prefixlen", "--format", "json", ...cli);
      assert.deepEqual((JSON.parse(attribute.stdout) as { rows: Array<{ data: unknown }> }).rows[0]!.data, { "network.interfaces.eth0.addresses.10\\.0\\.1\\.11.prefixlen": "24" });

      const bad = await sous("search", "node", "*:*", "--keys", '{"ip": "ipaddress"', ...cli);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /--keys: not JSON/);
      const twice = await sous("search", "node", "*:*", "-k", "ip=ipaddress", "--keys", '{"ip": ["ipaddress"]}', ...cli);
      assert.equal(twice.code, 1);
      assert.match(twice.stderr, /--keys: the result name 'ip' is given twice/);
    });
  });
}
