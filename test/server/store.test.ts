// One suite, two databases: every store behaviour is checked on SQLite and on PostgreSQL.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { nodeSearchView } from "../../src/server/search/flatten.js";
import { valueAtPath } from "../../src/protocol/partial-search.js";
import { parseQuery } from "../../src/server/search/query.js";
import { Store } from "../../src/server/store/store.js";
import type { SearchOptions } from "../../src/server/store/store.js";
import { backends, openStore } from "./helpers.js";

function node(name: string, attrs: { role?: string[]; env?: string; automatic?: Record<string, unknown>; normal?: Record<string, unknown> }) {
  return {
    name,
    chef_environment: attrs.env ?? "_default",
    run_list: (attrs.role ?? []).map((r) => `role[${r}]`),
    normal: attrs.normal ?? {},
    default: {},
    override: {},
    automatic: attrs.automatic ?? {},
  };
}

async function saveNode(store: Store, org: string, data: ReturnType<typeof node>): Promise<string> {
  const { etag } = await store.put({ org, kind: "node", name: data.name }, data, { mode: "upsert", search: { idx: "node", document: nodeSearchView(data) } });
  return etag;
}

async function names(store: Store, org: string, q: string, options: { sort?: SearchOptions["sort"]; descending?: boolean; start?: number; rows?: number } = {}): Promise<string[]> {
  const result = await store.search({ org, idx: "node", kind: "node", bag: "" }, parseQuery(q), { start: options.start ?? 0, rows: options.rows ?? 1000, sort: "name", ...options });
  return result.hits.map((hit) => hit.name);
}

for (const backend of backends) {
  describe(`store on ${backend.name}`, { skip: backend.skip ?? false }, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ store, cleanup } = await openStore(backend));
      await store.createOrg("acme", "Acme Inc.");
      await store.createOrg("other", "Other");
    });
    after(async () => cleanup?.());

    test("organizations are unique and listed", async () => {
      await assert.rejects(store.createOrg("acme", "again"), { kind: "conflict", code: "already_exists" });
      assert.deepEqual(await store.listOrgs(), ["acme", "other"]);
      assert.equal((await store.getOrg("acme"))?.full_name, "Acme Inc.");
    });

    test("create refuses a duplicate, update a missing object, and If-Match a stale ETag", async () => {
      const ref = { org: "acme", kind: "role" as const, name: "web" };
      const first = await store.put(ref, { name: "web", run_list: [] }, { mode: "create" });
      assert.equal(first.created, true);
      await assert.rejects(store.put(ref, {}, { mode: "create" }), { kind: "conflict", code: "already_exists" });
      await assert.rejects(store.put({ ...ref, name: "nope" }, {}, { mode: "update" }), { kind: "not_found", code: "not_found" });
      const second = await store.put(ref, { name: "web", run_list: ["recipe[nginx]"] }, { mode: "update", ifMatch: first.etag });
      assert.notEqual(second.etag, first.etag);
      await assert.rejects(store.put(ref, { name: "web" }, { mode: "update", ifMatch: first.etag }), { kind: "stale", code: "precondition_failed" });
      const read = await store.get(ref);
      assert.deepEqual(read?.data, { name: "web", run_list: ["recipe[nginx]"] });
      assert.equal(read?.etag, second.etag);
      await assert.rejects(store.delete(ref, first.etag), { kind: "stale", code: "precondition_failed" });
      assert.equal(await store.delete(ref, second.etag), true);
      assert.equal(await store.get(ref), undefined);
      assert.equal(await store.delete(ref), false);
    });

    test("objects of one organization are invisible to another", async () => {
      await saveNode(store, "other", node("secret", { role: ["web"] }));
      assert.equal(await store.get({ org: "acme", kind: "node", name: "secret" }), undefined);
      assert.deepEqual(await names(store, "acme", "name:secret"), []);
      assert.deepEqual(await names(store, "other", "name:secret"), ["secret"]);
    });

    test("lists page through names in order", async () => {
      for (const name of ["c", "a", "b", "d"]) await store.put({ org: "acme", kind: "item", bag: "letters", name }, { id: name }, { mode: "create" });
      assert.deepEqual(await store.list("acme", "item", "letters", { start: 1, rows: 2 }), { total: 4, names: ["b", "c"] });
      assert.deepEqual(await store.list("acme", "item", "letters", { start: 10, rows: 2 }), { total: 4, names: [] });
      assert.equal(await store.deleteAllInBag("acme", "item", "letters"), 4);
    });

    describe("search", () => {
      before(async () => {
        await saveNode(store, "acme", node("web1", { role: ["web"], env: "prod", automatic: { platform: "debian", memory: { total: 16000000 }, cpu: { total: 4 }, ipaddress: "10.0.1.5", kernel: { release: "6.1.0-13-amd64" }, network: { interfaces: { eth0: {}, lo: {} } }, tags: ["blue", ["green"]], dmi: { product_name: "VMware Virtual Platform" } } }));
        await saveNode(store, "acme", node("web2", { role: ["web", "monitoring"], env: "staging", automatic: { platform: "ubuntu", memory: { total: 4000000 }, cpu: { total: 32 }, ipaddress: "10.0.2.7", kernel: { release: "5.15.0" } } }));
        await saveNode(store, "acme", node("db1", { role: ["db"], env: "prod", automatic: { platform: "debian", memory: { total: 64000000 }, cpu: { total: 8 }, ipaddress: "192.168.1.9", enabled: true, nothing: null }, normal: { recipes: ["postgresql::server"], path: "/var/lib/pg" } }));
      });

      test("terms, nested keys, leaf keys and dotted paths", async () => {
        assert.deepEqual(await names(store, "acme", "role:web"), ["web1", "web2"]);
        assert.deepEqual(await names(store, "acme", "platform:debian"), ["db1", "web1"]);
        assert.deepEqual(await names(store, "acme", "kernel_release:5.15.0"), ["web2"]);
        assert.deepEqual(await names(store, "acme", "release:5.15.0"), ["web2"]);
        assert.deepEqual(await names(store, "acme", "kernel.release:5.15.0"), ["web2"]);
        assert.deepEqual(await names(store, "acme", "network_interfaces:eth0"), ["web1"]);
        assert.deepEqual(await names(store, "acme", "network_interfaces_eth0:*"), []);
        assert.deepEqual(await names(store, "acme", "tags:green"), ["web1"]);
        assert.deepEqual(await names(store, "acme", "enabled:true"), ["db1"]);
        assert.deepEqual(await names(store, "acme", "nothing:*"), ["db1"]);
        assert.deepEqual(await names(store, "acme", "cpu_total:4"), ["web1"]);
        assert.deepEqual(await names(store, "acme", "chef_environment:prod"), ["db1", "web1"]);
      });

      test("search is case-sensitive", async () => {
        assert.deepEqual(await names(store, "acme", "platform:Debian"), []);
        assert.deepEqual(await names(store, "acme", "platform:Deb*"), []);
      });

      test("wildcards in values and keys, escapes, phrases", async () => {
        assert.deepEqual(await names(store, "acme", "ipaddress:10.0.*"), ["web1", "web2"]);
        assert.deepEqual(await names(store, "acme", "ipaddress:10.0.?.5"), ["web1"]);
        assert.deepEqual(await names(store, "acme", "*_release:6.1*"), ["web1"]);
        assert.deepEqual(await names(store, "acme", "recipes:postgresql\\:\\:server"), ["db1"]);
        assert.deepEqual(await names(store, "acme", "path:\\/var\\/lib\\/pg"), ["db1"]);
        assert.deepEqual(await names(store, "acme", 'product_name:"Virtual"'), ["web1"]);
        assert.deepEqual(await names(store, "acme", "product_name:Virtual"), []);
        assert.deepEqual(await names(store, "acme", "product_name:VMware*"), ["web1"]);
        assert.deepEqual(await names(store, "acme", "ipaddress:10%"), []);
        assert.deepEqual(await names(store, "acme", "*:*"), ["db1", "web1", "web2"]);
      });

      test("ranges compare numbers as numbers, other values as text", async () => {
        assert.deepEqual(await names(store, "acme", "memory_total:[8000000 TO *]"), ["db1", "web1"]);
        assert.deepEqual(await names(store, "acme", "cpu_total:[2 TO 8]"), ["db1", "web1"]);
        assert.deepEqual(await names(store, "acme", "cpu_total:{4 TO 8]"), ["db1"]);
        assert.deepEqual(await names(store, "acme", "platform:[debian TO debian]"), ["db1", "web1"]);
        assert.deepEqual(await names(store, "acme", "name:{db1 TO web2}"), ["web1"]);
      });

      test("boolean operators, with AND binding tighter than OR", async () => {
        assert.deepEqual(await names(store, "acme", "platform:debian AND memory_total:[8000000 TO *]"), ["db1", "web1"]);
        assert.deepEqual(await names(store, "acme", "role:db OR role:web AND platform:ubuntu"), ["db1", "web2"]);
        assert.deepEqual(await names(store, "acme", "role:web AND platform:ubuntu OR role:db"), ["db1", "web2"]);
        assert.deepEqual(await names(store, "acme", "(role:db OR role:web) AND platform:ubuntu"), ["web2"]);
        assert.deepEqual(await names(store, "acme", "role:web AND NOT chef_environment:prod"), ["web2"]);
        assert.deepEqual(await names(store, "acme", "role:web -chef_environment:prod"), ["web2"]);
        assert.deepEqual(await names(store, "acme", "NOT role:web"), ["db1"]);
        assert.deepEqual(await names(store, "acme", "role:db OR (NOT chef_environment:staging)"), ["db1", "web1"]);
        assert.deepEqual(await names(store, "acme", "role:web && !role:monitoring"), ["web1"]);
        assert.deepEqual(await names(store, "acme", "role:db || role:monitoring"), ["db1", "web2"]);
        assert.deepEqual(await names(store, "acme", "role:(db OR monitoring)"), ["db1", "web2"]);
      });

      test("sorting and pagination", async () => {
        assert.deepEqual(await names(store, "acme", "*:*", { sort: { key: "cpu_total" }, descending: false }), ["web2", "web1", "db1"]);
        assert.deepEqual(await names(store, "acme", "*:*", { descending: true }), ["web2", "web1", "db1"]);
        const page = await store.search({ org: "acme", idx: "node", kind: "node", bag: "" }, parseQuery("*:*"), { start: 1, rows: 1, sort: "name" });
        assert.equal(page.total, 3);
        assert.deepEqual(page.hits.map((h) => h.name), ["web1"]);
        // Without a sort, hits come in the order the objects were first stored, page after page.
        const created = await names(store, "acme", "*:*", { sort: "created" });
        assert.deepEqual(created, ["web1", "web2", "db1"]);
        const pages = [0, 1, 2, 3].map((start) => names(store, "acme", "*:*", { sort: "created", start, rows: 1 }));
        assert.deepEqual((await Promise.all(pages)).flat(), created);
        assert.deepEqual(await names(store, "acme", "role:web OR role:db", { sort: "created", descending: true }), ["db1", "web2", "web1"]);
      });

      test("in creation order (the default), every query finds what it finds in name order, page by page", async () => {
        const queries = [
          "role:web AND platform:debian",
          "role:web AND NOT role:monitoring",
          "platform:debian AND memory_total:[8000000 TO *]",
          "chef_environment:prod AND (role:db OR role:monitoring)",
          "chef_environment:prod AND -cpu_total:{4 TO *]",
          "platform:debian AND *_release:6.1*",
          "platform:debian AND *:debian",
          "role:web AND ipaddress:10.0.*",
          'platform:debian AND product_name:"Virtual"',
          "role:web",
          "role:nothing AND platform:debian",
        ];
        for (const q of queries) {
          const byName = await names(store, "acme", q);
          const created = await names(store, "acme", q, { sort: "created" });
          assert.deepEqual([...created].sort(), byName, q);
          const paged = await Promise.all(created.map((_, start) => names(store, "acme", q, { sort: "created", start, rows: 1 })));
          assert.deepEqual(paged.flat(), created, `${q}, one hit per page`);
          assert.deepEqual(await names(store, "acme", q, { sort: "created", descending: true }), [...created].reverse(), `${q}, descending`);
        }
      });

      test("a save or delete is visible to the very next search", async () => {
        await saveNode(store, "acme", node("web3", { role: ["web"], automatic: { platform: "debian" } }));
        assert.deepEqual(await names(store, "acme", "role:web AND platform:debian"), ["web1", "web3"]);
        await saveNode(store, "acme", node("web3", { role: ["app"], automatic: { platform: "debian" } }));
        assert.deepEqual(await names(store, "acme", "role:web AND platform:debian"), ["web1"]);
        assert.deepEqual(await names(store, "acme", "role:app"), ["web3"]);
        await store.delete({ org: "acme", kind: "node", name: "web3" });
        assert.deepEqual(await names(store, "acme", "role:app"), []);
      });

      test("a save rewrites changed attributes and keeps the rest searchable, also values two attributes share", async () => {
        const base = { cpu: { total: 8, model: "xeon" }, memory: { total: 8, free: 2 }, kernel: { release: "6.1" }, gone: { soon: "yes" } };
        await saveNode(store, "acme", node("db1", { automatic: base }));
        assert.deepEqual(await names(store, "acme", "total:8 AND release:6.1 AND soon:yes"), ["db1"]);
        // memory changes, gone disappears, a new attribute appears; cpu and kernel are untouched.
        const { gone: _gone, ...kept } = base;
        await saveNode(store, "acme", node("db1", { automatic: { ...kept, memory: { total: 16, free: 3 }, disk: { size: 100 } } }));
        assert.deepEqual(await names(store, "acme", "total:8"), ["db1"], "cpu_total still gives total:8");
        assert.deepEqual(await names(store, "acme", "memory_total:8"), []);
        assert.deepEqual(await names(store, "acme", "memory_total:16 AND cpu_total:8 AND release:6.1 AND disk_size:100"), ["db1"]);
        assert.deepEqual(await names(store, "acme", "soon:yes OR gone:*"), []);
        await saveNode(store, "acme", node("db1", { automatic: { ...kept, cpu: { total: 4, model: "xeon" }, memory: { total: 16, free: 3 } } }));
        assert.deepEqual(await names(store, "acme", "total:8"), []);
        assert.deepEqual(await names(store, "acme", "total:4 AND total:16 AND free:3"), ["db1"]);
        await store.delete({ org: "acme", kind: "node", name: "db1" });
      });

      test("partial search reads only the asked attributes of the merged view", async () => {
        await saveNode(store, "acme", node("web9", { role: ["edge"], normal: { ip: "10.9.9.9", kernel: { release: "5.0" } }, automatic: { kernel: { release: "6.1", machine: "x86_64" }, ip: "10.1.1.9", empty: null } }));
        const result = await store.search({ org: "acme", idx: "node", kind: "node", bag: "" }, parseQuery("role:edge"), { start: 0, rows: 10, attributes: ["kernel", "ip", "empty", "missing", "name", "role"] });
        assert.equal(result.total, 1);
        const parsed = (hit: { attributes?: Record<string, string> }) => Object.fromEntries(Object.entries(hit.attributes!).map(([key, json]) => [key, JSON.parse(json) as unknown]));
        assert.deepEqual(parsed(result.hits[0]!), { kernel: { release: "6.1", machine: "x86_64" }, ip: "10.1.1.9", empty: null, name: "web9", role: ["edge"] });
        // After a save that changes one attribute, the others are still read back.
        await saveNode(store, "acme", node("web9", { role: ["edge"], normal: { ip: "10.9.9.9" }, automatic: { kernel: { release: "6.2", machine: "x86_64" }, ip: "10.1.1.9" } }));
        const again = await store.search({ org: "acme", idx: "node", kind: "node", bag: "" }, parseQuery("role:edge"), { start: 0, rows: 10, attributes: ["kernel", "ip", "empty"] });
        assert.deepEqual(parsed(again.hits[0]!), { kernel: { release: "6.2", machine: "x86_64" }, ip: "10.1.1.9" });
        await store.delete({ org: "acme", kind: "node", name: "web9" });
      });
    });

    test("cookbook files are content-addressed and per organization", async () => {
      const sum = "a".repeat(64);
      assert.deepEqual(await store.missingBlobs("acme", [sum, sum]), [sum]);
      await store.putBlob("acme", sum, Buffer.from("hello"));
      await store.putBlob("acme", sum, Buffer.from("hello"));
      assert.deepEqual(await store.missingBlobs("acme", [sum]), []);
      assert.deepEqual(await store.missingBlobs("other", [sum]), [sum]);
      assert.equal((await store.getBlob("acme", sum))?.toString(), "hello");
    });

    test("a bootstrap token works once and not after it expires", async () => {
      await store.addBootstrapToken("acme", "h1", new Date(Date.now() + 60_000), "admin");
      await store.addBootstrapToken("acme", "h2", new Date(Date.now() - 1), "admin");
      assert.equal(await store.consumeBootstrapToken("other", "h1"), false);
      assert.equal(await store.consumeBootstrapToken("acme", "h1"), true);
      assert.equal(await store.consumeBootstrapToken("acme", "h1"), false);
      assert.equal(await store.consumeBootstrapToken("acme", "h2"), false);
    });

    test("concurrent saves of many nodes all land, with their search rows", async () => {
      await Promise.all(Array.from({ length: 40 }, (_, i) => saveNode(store, "other", node(`n${i}`, { role: ["load"], automatic: { seq: i } }))));
      const result = await store.search({ org: "other", idx: "node", kind: "node", bag: "" }, parseQuery("role:load AND seq:[10 TO 19]"), { start: 0, rows: 100 });
      assert.equal(result.total, 10);
    });

    test("large nodes saved at once with the same new key names, again and again with new ones, all land and leave one round's keys", { timeout: 120_000 }, async () => {
      // Over 64 KiB each: their search work runs off the request thread (on PostgreSQL the keys
      // are added and numbered by the database, in key order, so that the saves wait for each
      // other's new keys instead of deadlocking), while each round's saves delete the last one's keys.
      const large = (name: string, prefix: string) => node(name, { normal: Object.fromEntries(Array.from({ length: 6000 }, (_, i) => [`${prefix}${i}`, i])) });
      const keys = async () => Number(((await store.sql.all<{ n: number | string }>("SELECT count(*) AS n FROM search_fields WHERE org = 'other'"))[0]!).n);
      const before = await keys();
      for (const round of ["a", "b", "c"]) {
        await Promise.all(["big1", "big2", "big3"].map((name) => saveNode(store, "other", large(name, `${round}_`))));
        assert.deepEqual(await names(store, "other", `${round}_5999:5999`), ["big1", "big2", "big3"], `round ${round}`);
      }
      assert.deepEqual(await names(store, "other", "b_1:1"), []);
      const grown = (await keys()) - before;
      assert.ok(grown >= 6000 && grown < 6050, `the key table grew by ${grown}`);
      for (const name of ["big1", "big2", "big3"]) await store.delete({ org: "other", kind: "node", name });
      assert.ok((await keys()) - before < 20, "their keys went with them");
    });

    test("deleting an organization removes everything in it", async () => {
      await store.createOrg("doomed", "Doomed");
      await saveNode(store, "doomed", node("x", {}));
      assert.equal(await store.deleteOrg("doomed"), true);
      assert.equal(await store.get({ org: "doomed", kind: "node", name: "x" }), undefined);
      assert.equal(await store.deleteOrg("doomed"), false);
    });
  });
}

/** Runs `fn` with the path of a SQLite store file in a directory removed afterwards. */
async function withStoreFile(fn: (file: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "sous-store-file-"));
  try {
    await fn(join(dir, "sous.db"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("a store written with the older search layout is reindexed from its objects when it opens", async () => {
  await withStoreFile(async (file) => {
    const db = new Database(file);
    // The tables as the first layout made them: text keys in every row, no search_state.
    db.exec(`CREATE TABLE orgs (name TEXT PRIMARY KEY, full_name TEXT NOT NULL, created_at TEXT NOT NULL);
      CREATE TABLE objects (id INTEGER PRIMARY KEY, org TEXT NOT NULL, kind TEXT NOT NULL, bag TEXT NOT NULL DEFAULT '', name TEXT NOT NULL, data TEXT NOT NULL, etag TEXT NOT NULL, updated_at TEXT NOT NULL, UNIQUE (org, kind, bag, name));
      CREATE TABLE search_rows (obj_id INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, org TEXT NOT NULL, idx TEXT NOT NULL, num REAL, PRIMARY KEY (obj_id, key, value)) WITHOUT ROWID;
      CREATE TABLE search_keys (org TEXT NOT NULL, idx TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (org, idx, key)) WITHOUT ROWID;
      INSERT INTO orgs VALUES ('acme', 'Acme', '2026-01-01');`);
    const insert = db.prepare("INSERT INTO objects (org, kind, bag, name, data, etag, updated_at) VALUES ('acme', ?, ?, ?, ?, 'e', '2026-01-01')");
    insert.run("node", "", "old1", JSON.stringify(node("old1", { role: ["web"], automatic: { platform: "debian" } })));
    insert.run("item", "users", "alice", JSON.stringify({ id: "alice", shell: "/bin/zsh" }));
    db.close();
    const store = await Store.open({ sqliteFile: file });
    try {
      const found = await store.search({ org: "acme", idx: "node", kind: "node", bag: "" }, parseQuery("role:web AND platform:debian"), { start: 0, rows: 10 });
      assert.deepEqual(found.hits.map((hit) => hit.name), ["old1"]);
      const items = await store.search({ org: "acme", idx: "bag:users", kind: "item", bag: "users" }, parseQuery("shell:*zsh"), { start: 0, rows: 10 });
      assert.deepEqual(items.hits.map((hit) => hit.name), ["alice"]);
      // Saves after the migration change only what changed.
      await saveNode(store, "acme", node("old1", { role: ["app"], automatic: { platform: "debian" } }));
      assert.equal((await store.search({ org: "acme", idx: "node", kind: "node", bag: "" }, parseQuery("role:web"), { start: 0, rows: 10 })).total, 0);
    } finally {
      await store.close();
    }
    const tables = new Database(file, { readonly: true });
    assert.deepEqual(tables.prepare("SELECT name FROM sqlite_schema WHERE name IN ('search_rows', 'search_keys')").all(), []);
    tables.close();
  });
});

/** Runs SQL on a store's database directly, as an older version of Sous would have left it. */
async function rawSql(location: import("../../src/server/store/store.js").StoreLocation, sql: string): Promise<void> {
  if ("sqliteFile" in location) {
    const db = new Database(location.sqliteFile);
    db.exec(sql);
    db.close();
    return;
  }
  const pg = (await import("pg")).default;
  const client = new pg.Client({ connectionString: location.postgresUrl });
  await client.connect();
  try {
    await client.query(`SET search_path TO ${location.schema}`);
    await client.query(sql);
  } finally {
    await client.end();
  }
}

for (const backend of backends) {
  for (const layout of ["3", "4", "5"]) {
    test(`a ${backend.name} store of layout ${layout} gets what it lacked when it opens (chef_type, data_bag, numbers of values with units), in place, and saves go on`, { skip: backend.skip ?? false }, async () => {
      const { searchEntry } = await import("../../src/server/objects.js");
      const { location, cleanup } = await backend.location();
      const put = (store: Store, kind: "node" | "item", data: Record<string, unknown>, bag?: string) =>
        store.put({ org: "acme", kind, name: String(data.name ?? data.id), ...(bag ? { bag } : {}) }, data, { mode: "upsert", search: searchEntry(kind, data as never, bag) });
      try {
        const first = await Store.open(location);
        await first.createOrg("acme", "Acme");
        await put(first, "node", node("vm1", { automatic: { dmi: { product_name: "m5.large" }, memory: { total: "8167980kB" } } }));
        await put(first, "item", { id: "alice", shell: "/bin/zsh" }, "users");
        await first.close();
        const rows = (key: string) => `(SELECT id FROM search_fields WHERE key = '${key}')`;
        // What layout 5 lacked: chef_type and data_bag rows (alice had a field chef_type of her own
        // then), and the number of a value with a unit.
        await rawSql(
          location,
          `DELETE FROM search_terms WHERE field IN ${rows("data_bag")} OR (field IN ${rows("chef_type")} AND value = 'node');
           UPDATE search_terms SET value = 'custom' WHERE field IN ${rows("chef_type")};
           UPDATE search_terms SET num = NULL WHERE value = '8167980kB';
           UPDATE store_meta SET value = '${layout}' WHERE name = 'search_format';
           ${layout !== "5" ? "ALTER TABLE search_fields DROP COLUMN version;" : ""}
           ${layout === "3" ? "DROP INDEX search_fields_by_suffix; ALTER TABLE search_fields DROP COLUMN rkey;" : ""}`,
        );
        const store = await Store.open(location);
        try {
          const nodes = { org: "acme", idx: "node", kind: "node", bag: "" };
          const users = { org: "acme", idx: "bag:users", kind: "item", bag: "users" };
          const hits = async (scope: typeof nodes, query: string) => (await store.search(scope, parseQuery(query), { start: 0, rows: 10, sort: "name" })).hits.map((hit) => hit.name);
          assert.deepEqual(await hits(nodes, "*_product_name:m5*"), ["vm1"]);
          assert.deepEqual(await hits(nodes, "memory_total:[8000000 TO *] AND chef_type:node"), ["vm1"]);
          assert.deepEqual(await hits(users, "data_bag:users AND chef_type:data_bag_item"), ["alice"]);
          assert.deepEqual(await hits(users, "chef_type:custom"), [], "the row search sees now replaces the old one");
          const partial = await store.search(nodes, parseQuery("name:vm1"), { start: 0, rows: 10, attributes: ["chef_type"] });
          assert.equal(partial.hits[0]!.attributes!.chef_type, '"node"');
          // Saves after the upgrade rewrite what changed, and nothing collides with the rows it added.
          await put(store, "node", node("vm1", { automatic: { dmi: { product_name: "m5.large" }, memory: { total: "4000000kB" } } }));
          await put(store, "item", { id: "alice", shell: "/bin/bash" }, "users");
          await put(store, "node", node("vm2", { automatic: { dmi: { product_name: "m5.xlarge" }, memory: { total: "16GB" } } }));
          assert.deepEqual(await hits(nodes, "memory_total:[8GB TO *]"), ["vm2"]);
          assert.deepEqual(await hits(nodes, "chef_type:node AND *_product_name:m5*"), ["vm1", "vm2"]);
          assert.deepEqual(await hits(users, "data_bag:users AND shell:\\/bin\\/bash"), ["alice"]);
        } finally {
          await store.close();
        }
      } finally {
        await cleanup();
      }
    });
  }
}

test("a search thread that cannot open the store refuses its reads instead of leaving them waiting", async () => {
  const { SqliteReaders } = await import("../../src/server/store/sqlite-readers.js");
  await withStoreFile(async (file) => {
    // No file there: the thread's read-only connection fails when it starts.
    const readers = new SqliteReaders(file, 1);
    try {
      await assert.rejects(readers.read([{ sql: "SELECT 1", params: [] }]), /search thread (failed|stopped)/);
      await assert.rejects(readers.read([{ sql: "SELECT 1", params: [] }]), /search thread (failed|stopped)/);
    } finally {
      await readers.close();
    }
  });
});

test("on SQLite a repeated search is answered from the search thread's cache until a write changes what its hits depend on", async () => {
  await withStoreFile(async (file) => {
    const store = await Store.open({ sqliteFile: file });
    try {
      await store.createOrg("acme", "Acme");
      const scope = { org: "acme", idx: "node", kind: "node", bag: "" };
      const search = async (q: string, options: Partial<SearchOptions> = {}) => {
        const result = await store.search(scope, parseQuery(q), { start: 0, rows: 100, attributes: ["ipaddress"], ...options });
        return { cached: result.cached, total: result.total, hits: result.hits.map((hit) => `${hit.name}=${hit.attributes?.ipaddress ?? "-"}`) };
      };
      await saveNode(store, "acme", node("web1", { role: ["web"], automatic: { ipaddress: "10.0.0.1" } }));
      await saveNode(store, "acme", node("db1", { role: ["db"], automatic: { ipaddress: "10.0.0.2" } }));
      assert.deepEqual(await search("role:web"), { cached: false, total: 1, hits: ['web1="10.0.0.1"'] });
      assert.deepEqual(await search("role:web"), { cached: true, total: 1, hits: ['web1="10.0.0.1"'] });

      // A write to another key keeps the cached hits, and the page shows the new values.
      await saveNode(store, "acme", node("web1", { role: ["web"], automatic: { ipaddress: "10.0.0.9" } }));
      assert.deepEqual(await search("role:web"), { cached: true, total: 1, hits: ['web1="10.0.0.9"'] });
      // A write that changes who matches, a new object, a deleted one: the next search runs again.
      await saveNode(store, "acme", node("db1", { role: ["web", "db"], automatic: { ipaddress: "10.0.0.2" } }));
      assert.deepEqual(await search("role:web"), { cached: false, total: 2, hits: ['web1="10.0.0.9"', 'db1="10.0.0.2"'] });
      await saveNode(store, "acme", node("web2", { role: ["web"], automatic: { ipaddress: "10.0.0.3" } }));
      assert.deepEqual((await search("role:web")).total, 3);
      await store.delete({ org: "acme", kind: "node", name: "web2" });
      assert.deepEqual(await search("role:web"), { cached: false, total: 2, hits: ['web1="10.0.0.9"', 'db1="10.0.0.2"'] });

      // NOT depends on the set of objects too: a new node without the role is a new hit.
      assert.deepEqual((await search("NOT role:db")).hits, ['web1="10.0.0.9"']);
      assert.equal((await search("NOT role:db")).cached, true);
      await saveNode(store, "acme", node("bare", {}));
      assert.deepEqual(await search("NOT role:db"), { cached: false, total: 2, hits: ['web1="10.0.0.9"', 'bare=-'] });

      // A key pattern depends on the keys that match it: a new key is found at once.
      assert.deepEqual((await search("*_product_name:m5*")).total, 0);
      assert.equal((await search("*_product_name:m5*")).cached, true);
      await saveNode(store, "acme", node("vm1", { automatic: { dmi: { product_name: "m5.large" } } }));
      assert.deepEqual(await search("*_product_name:m5*"), { cached: false, total: 1, hits: ['vm1=-'] });

      // A key pattern matching more keys than are worth tracking runs in full every time.
      const many = Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`k${i}`, "x"]));
      await saveNode(store, "acme", node("wide", { automatic: { many } }));
      for (let i = 0; i < 2; i++) assert.deepEqual(await search("many_k*:x"), { cached: false, total: 1, hits: ["wide=-"] });
      await store.delete({ org: "acme", kind: "node", name: "wide" });
      assert.deepEqual(await search("many_k*:x"), { cached: false, total: 0, hits: [] });

      // A sort key orders the page: its values changing changes the page.
      const byIp = { sort: { key: "ipaddress" } as const };
      assert.deepEqual((await search("role:web", byIp)).hits, ['db1="10.0.0.2"', 'web1="10.0.0.9"']);
      assert.equal((await search("role:web", byIp)).cached, true);
      await saveNode(store, "acme", node("web1", { role: ["web"], automatic: { ipaddress: "10.0.0.0" } }));
      assert.deepEqual(await search("role:web", byIp), { cached: false, total: 2, hits: ['web1="10.0.0.0"', 'db1="10.0.0.2"'] });

      // Partial rows put together by SQLite are kept per object while it is unchanged: a save of one
      // hit rebuilds its row only, and another set of paths for the same query has rows of its own.
      const rowsOf = async (paths: Record<string, string[]>) => {
        const result = await store.search(scope, parseQuery("role:web"), { start: 0, rows: 100, attributes: [...new Set(Object.values(paths).map((path) => path[0]!))], partialRows: { urlPrefix: "/n/", entries: Object.entries(paths).map(([key, path]) => ({ key, path })) } });
        return result.hits.map((hit) => hit.row);
      };
      const ipRows = ['{"name":"web1","url":"/n/web1","data":{"ip":"10.0.0.0"}}', '{"name":"db1","url":"/n/db1","data":{"ip":"10.0.0.2"}}'];
      assert.deepEqual(await rowsOf({ ip: ["ipaddress"] }), ipRows);
      assert.deepEqual(await rowsOf({ ip: ["ipaddress"] }), ipRows);
      assert.deepEqual(await rowsOf({ env: ["chef_environment"] }), ['{"name":"web1","url":"/n/web1","data":{"env":"_default"}}', '{"name":"db1","url":"/n/db1","data":{"env":"_default"}}']);
      await saveNode(store, "acme", node("web1", { role: ["web"], automatic: { ipaddress: "10.0.0.7" } }));
      assert.deepEqual(await rowsOf({ ip: ["ipaddress"] }), ['{"name":"web1","url":"/n/web1","data":{"ip":"10.0.0.7"}}', ipRows[1]]);
      await saveNode(store, "acme", node("web4", { role: ["web"], automatic: { ipaddress: "10.0.0.4" } }));
      assert.deepEqual((await rowsOf({ ip: ["ipaddress"] })).length, 3);
      await store.delete({ org: "acme", kind: "node", name: "web4" });
      await saveNode(store, "acme", node("web1", { role: ["web"], automatic: { ipaddress: "10.0.0.0" } }));
      assert.deepEqual(await rowsOf({ ip: ["ipaddress"] }), ipRows);

      // Inside a transaction a search sees the transaction's own writes: no cache there.
      await store.transaction(async (t) => {
        await saveNode(t, "acme", node("web3", { role: ["web"] }));
        const inside = await t.search(scope, parseQuery("role:web"), { start: 0, rows: 10 });
        assert.equal(inside.cached, undefined);
        assert.equal(inside.total, 3);
      });
      assert.deepEqual((await search("role:web")).total, 3);
    } finally {
      await store.close();
    }
  });
});

test("with the search cache off every search runs in full", async () => {
  await withStoreFile(async (file) => {
    const store = await Store.open({ sqliteFile: file }, { searchCache: false });
    try {
      await store.createOrg("acme", "Acme");
      await saveNode(store, "acme", node("web1", { role: ["web"] }));
      const scope = { org: "acme", idx: "node", kind: "node", bag: "" };
      for (let i = 0; i < 2; i++) {
        const result = await store.search(scope, parseQuery("role:web"), { start: 0, rows: 10 });
        assert.deepEqual([result.cached, result.total, result.hits.map((hit) => hit.name)], [undefined, 1, ["web1"]]);
      }
    } finally {
      await store.close();
    }
  });
});

test("partial rows put together by SQLite give the document's values, for random documents and paths", async () => {
  const { prng } = await import("./prng.js");
  const random = prng(4242);
  const KEYS = ["a", "b", "0", "a.b", "sp ace", "ü", "$x", "[1]", "'q'", "-", "release"];
  const scalar = (): unknown =>
    [null, true, false, 0, -0, 1.5, -1.5e-7, 1e21, 0.1 + 0.2, 2 ** 64, -42, "", "x", 'a"b', "ü\u2028", "1e3"][Math.floor(random() * 16)];
  const value = (depth: number): unknown => {
    const pick = random();
    if (depth > 2 || pick < 0.4) return scalar();
    if (pick < 0.55) return Array.from({ length: Math.floor(random() * 3) }, () => value(depth + 1));
    return Object.fromEntries(Array.from({ length: 1 + Math.floor(random() * 3) }, () => [KEYS[Math.floor(random() * KEYS.length)]!, value(depth + 1)]));
  };
  await withStoreFile(async (file) => {
    const store = await Store.open({ sqliteFile: file });
    try {
      await store.createOrg("acme", "Acme");
      const scope = { org: "acme", idx: "node", kind: "node", bag: "" };
      for (let n = 0; n < 40; n++) {
        const automatic = Object.fromEntries(["top", "other", "release"].map((key) => [key, value(0)]));
        const data = node(`n${n}`, { automatic });
        await saveNode(store, "acme", data);
        const view = nodeSearchView(data);
        const paths = Array.from({ length: 4 }, () => [["top", "other", "release", "name"][Math.floor(random() * 4)]!, ...Array.from({ length: Math.floor(random() * 3) }, () => KEYS[Math.floor(random() * KEYS.length)]!)]);
        const entries = paths.map((path, index) => ({ key: `k${index}`, path }));
        const result = await store.search(scope, parseQuery(`name:n${n}`), { start: 0, rows: 10, attributes: [...new Set(paths.map((path) => path[0]!))], partialRows: { urlPrefix: "/", entries } });
        // A whole number in a path may index an array, which SQLite's quoted JSON paths do not: such rows are left to the caller.
        if (paths.some((path) => path.some((part) => /^\d+$/.test(part)))) {
          assert.equal(result.hits[0]!.row, undefined);
          assert.ok(result.hits[0]!.attributes);
          continue;
        }
        const row = JSON.parse(result.hits[0]!.row!) as { data: Record<string, unknown> };
        for (const { key, path } of entries) assert.deepEqual(row.data[key], JSON.parse(JSON.stringify(valueAtPath(view, path))), `node n${n}, path ${JSON.stringify(path)} in ${JSON.stringify(view[path[0]!])}`);
      }
    } finally {
      await store.close();
    }
  });
});

test("on SQLite a cached search answers what a full search answers, through random saves and deletes", async () => {
  const { prng } = await import("./prng.js");
  const random = prng(77);
  await withStoreFile(async (file) => {
    const cachedStore = await Store.open({ sqliteFile: file });
    const fullStore = await Store.open({ sqliteFile: file }, { searchCache: false });
    try {
      await cachedStore.createOrg("acme", "Acme");
      const scope = { org: "acme", idx: "node", kind: "node", bag: "" };
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
      const identities = new Map<string, { role: string[]; platform: string; tags: string[]; dmi: { product: string } | undefined }>();
      const queries = ["role:web", "role:web AND platform:debian", "NOT role:db", "*:*", "memory_total:[4 TO *]", "ip*:10.0.1*", "tags:canary OR role:db", "platform:ubuntu AND NOT tags:canary", "*_product:m5*"];
      const answer = async (store: Store, q: string, sort?: SearchOptions["sort"]) => {
        const result = await store.search(scope, parseQuery(q), { start: 0, rows: 7, attributes: ["ipaddress", "memory"], partialRows: { urlPrefix: "/", entries: [{ key: "ip", path: ["ipaddress"] }, { key: "mem", path: ["memory", "total"] }] }, ...(sort ? { sort } : {}) });
        return { total: result.total, rows: result.hits.map((hit) => hit.row) };
      };
      for (let round = 0; round < 40; round++) {
        const writes = 1 + Math.floor(random() * 4);
        await Promise.all(
          Array.from({ length: writes }, async () => {
            const name = `n${Math.floor(random() * 25)}`;
            if (random() < 0.03) {
              identities.delete(name);
              return void (await cachedStore.delete({ org: "acme", kind: "node", name }));
            }
            // Mostly an agent's save: the same role, platform and tags, new facts (shown in the rows).
            let identity = identities.get(name);
            if (!identity || random() < 0.05) {
              identity = { role: random() < 0.5 ? ["web"] : ["db"], platform: pick(["debian", "ubuntu"]), tags: random() < 0.2 ? ["canary"] : [], dmi: random() < 0.3 ? { product: pick(["m5.large", "t3.small"]) } : undefined };
              identities.set(name, identity);
            }
            const automatic = { platform: identity.platform, ipaddress: `10.0.${Math.floor(random() * 3)}.${Math.floor(random() * 9)}`, memory: { total: Math.floor(random() * 8) }, uptime: Math.floor(random() * 1e6), ...(identity.dmi ? { dmi: identity.dmi } : {}) };
            await saveNode(cachedStore, "acme", node(name, { role: identity.role, normal: { tags: identity.tags }, automatic }));
          }),
        );
        for (const q of queries) {
          const sort = pick([undefined, "name", { key: "ipaddress" }] as const);
          assert.deepEqual(await answer(cachedStore, q, sort), await answer(fullStore, q, sort), `round ${round}: ${q} sorted by ${JSON.stringify(sort)}`);
        }
      }
    } finally {
      await cachedStore.close();
      await fullStore.close();
    }
  });
});
