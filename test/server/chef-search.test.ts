// What a Chef user migrating a fleet types, answered as Chef answers it (or as documented in
// docs/server.md where Sous differs on purpose), through a real server on SQLite and PostgreSQL.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { SousClient } from "../../src/client/api.js";
import { gatherFacts } from "../../src/facts/gather.js";
import { parseFacts } from "../../src/facts/parse.js";
import { LocalHost } from "../../src/host/local.js";
import { flattenForSearch, nodeSearchView } from "../../src/server/search/flatten.js";
import { matchesRows } from "../../src/server/search/match.js";
import { checkOperators } from "../../src/server/search/operators.js";
import { parseQuery } from "../../src/server/search/query.js";
import { parseKeyAssignment, valueAtPath } from "../../src/protocol/partial-search.js";
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

test("an operator with nothing on one side is an error naming it and its position; well-formed queries pass", () => {
  const refused: Array<[string, RegExp]> = [
    ["role:web AND", /'AND' at position 10 has nothing after it/],
    ["role:web AND AND role:db", /'AND' at position 14 follows the operator 'AND' at position 10/],
    ["role:web AND OR role:db", /'OR' at position 14 follows the operator 'AND' at position 10/],
    ["NOT", /'NOT' at position 1 has nothing after it/],
    ["AND", /'AND' at position 1 has nothing before it/],
    ["OR role:web", /'OR' at position 1 has nothing before it/],
    ["role:web ||", /'\|\|' at position 10 has nothing after it/],
    ["role:web AND NOT", /'NOT' at position 14 has nothing after it/],
    ["(role:web AND) OR role:db", /'AND' at position 11 has nothing after it \(the group closes at position 14\)/],
    ["role:(web OR)", /'OR' at position 11 has nothing after it/],
    ["(OR role:web)", /'OR' at position 2 has nothing before it/],
    ["role:web NOT NOT role:db", /'NOT' at position 14 follows the operator 'NOT' at position 10/],
    ["!", /'!' at position 1 has nothing after it/],
  ];
  for (const [query, message] of refused) assert.throws(() => checkOperators(query), (error: Error & { status?: number }) => error.status === 400 && message.test(error.message), query);
  for (const query of [
    "role:web AND NOT role:db",
    "NOT role:web",
    "role:(web OR db) AND -chef_environment:prod",
    "!role:web || +platform:debian",
    'product_name:"VMware AND Virtual" AND role:web',
    "memory_total:[8000000 TO *] AND cpu_total:{2 TO 8}",
    "recipes:nginx\\:\\:default AND tags:AND",
    "a:b OR NOT c:d",
    "(role:web) AND (role:db)",
  ]) assert.doesNotThrow(() => checkOperators(query), query);
});

/** The names of the nodes a query matches when evaluated in memory (a folder of JSON searched without a server). */
function inMemory(query: string, nodes: Array<{ name: string; automatic: Record<string, unknown> }>): string[] {
  const parsed = parseQuery(query);
  return nodes.filter((node) => matchesRows(parsed, flattenForSearch(nodeSearchView(nodeBody(node.name, node.automatic))))).map((node) => node.name).sort();
}

/** Nodes made from real `sous facts` output: the fixtures of other machines, and this machine's own facts. */
async function factNodes(): Promise<Array<{ name: string; automatic: Record<string, unknown> }>> {
  const dir = new URL("../facts/fixtures/", import.meta.url);
  const nodes = readdirSync(dir)
    .filter((file) => file.endsWith(".txt"))
    .map((file) => ({ name: file.replace(/\.txt$/, ""), automatic: parseFacts(readFileSync(new URL(file, dir), "utf8")) as unknown as Record<string, unknown> }));
  nodes.push({ name: "this-machine", automatic: (await gatherFacts(new LocalHost())) as unknown as Record<string, unknown> });
  return nodes;
}

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

      // node show -a walks the same way.
      const shown = await sous("node", "show", "web1", "-a", "network.interfaces.eth0.addresses.10\\.0\\.1\\.11.family", "-a", "tags.1", "--format", "json", ...cli);
      assert.equal(shown.code, 0, shown.stderr);
      assert.deepEqual(JSON.parse(shown.stdout), { "network.interfaces.eth0.addresses.10\\.0\\.1\\.11.family": "inet", "tags.1": "edge" });

      const bad = await sous("search", "node", "*:*", "--keys", '{"ip": "ipaddress"', ...cli);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /--keys: not JSON/);
      const twice = await sous("search", "node", "*:*", "-k", "ip=ipaddress", "--keys", '{"ip": ["ipaddress"]}', ...cli);
      assert.equal(twice.code, 1);
      assert.match(twice.stderr, /--keys: the result name 'ip' is given twice/);
    });

    const names = async (index: string, query: string): Promise<string[]> => {
      const body = await admin.get<{ rows: Array<{ name?: string; id?: string }> }>(`${admin.orgPath("search", index)}?q=${encodeURIComponent(query)}&sort=name&rows=1000`);
      return body.rows.map((row) => String(row.name ?? row.id));
    };

    test("a field name with dots matches Chef's flattened key with those dots, and Sous's dotted path", async () => {
      const local = [{ name: "web1", automatic: web1.automatic }, { name: "odd", automatic: { "kernel.release": "6.1.0-17-amd64" } }];
      assert.deepEqual(inMemory("network_interfaces_eth0_addresses_10.0.1.11_family:inet", local), ["web1"]);
      assert.deepEqual(inMemory("kernel.release:6.1.0-*", local), ["odd", "web1"]);
      assert.deepEqual(inMemory("kernel\\.release:6.1.0-*", local), ["odd"]);
      assert.deepEqual(await names("node", "network_interfaces_eth0_addresses_10.0.1.11_family:inet"), ["web1"]);
      assert.deepEqual(await names("node", "network_interfaces_eth0_addresses_fe80::1_family:inet6".replace(/::/, "\\:\\:")), ["web1"]);
      assert.deepEqual(await names("node", "network_interfaces_eth0_addresses_10.0.1.*_family:inet"), ["web1"], "a wildcard key keeps its dots too");
      assert.deepEqual(await names("node", "kernel.release:6.1.0-17-amd64"), ["web2"], "no key has that dot: the dotted path");
      assert.deepEqual(await names("node", "kernel.release:6.1.0-1*"), ["web1", "web2"]);
      assert.deepEqual(await names("node", "network.interfaces.eth0.addresses.10\\.0\\.1\\.11.family:inet"), ["web1"]);
      assert.deepEqual(await names("node", "network_interfaces_eth0_addresses_10.0.1.12_family:inet"), []);
      // A key spelled with the dot is found too (the same search again: a cached answer must notice), and no longer once it is gone.
      await admin.request("PUT", admin.orgPath("nodes", "odd"), { body: nodeBody("odd", { "kernel.release": "6.1.0-17-amd64" }) });
      assert.deepEqual(await names("node", "kernel.release:6.1.0-17-amd64"), ["odd", "web2"]);
      assert.deepEqual(await names("node", "kernel_release:6.1.0-17-amd64"), ["web2"]);
      assert.deepEqual(await names("node", "kernel\\.release:6.1.0-17-amd64"), ["odd"]);
      await admin.request("DELETE", admin.orgPath("nodes", "odd"));
      assert.deepEqual(await names("node", "kernel.release:6.1.0-17-amd64"), ["web2"]);
      assert.deepEqual(await names("node", "kernel.release:6.1.0-17-amd64 AND chef_type:node"), ["web2"]);
    });

    test("every object carries its chef_type, and a data bag item its data_bag", async () => {
      await admin.request("POST", admin.orgPath("data"), { body: { name: "users" } });
      for (const id of ["alice", "bob"]) await admin.request("POST", admin.orgPath("data", "users"), { body: { id, shell: "/bin/zsh" } });
      await admin.request("POST", admin.orgPath("roles"), { body: { name: "web", run_list: ["recipe[nginx]"] } });
      assert.deepEqual(await names("users", "data_bag:users"), ["alice", "bob"]);
      assert.deepEqual(await names("users", "chef_type:data_bag_item AND shell:\\/bin\\/zsh"), ["alice", "bob"]);
      assert.deepEqual(await names("users", "data_bag:other"), []);
      assert.deepEqual(await names("node", "chef_type:node"), ["web1", "web2"]);
      assert.deepEqual(await names("role", "chef_type:role"), ["web"]);
      assert.deepEqual(await names("environment", "chef_type:environment"), ["_default"]);
      assert.deepEqual(await names("client", "chef_type:client"), ["acme-validator", "alice"]);
      // --format chef prints Chef's shapes: a wrapped data bag item, a node with its class.
      const bag = await sous("search", "users", "id:alice", "--format", "chef", ...cli);
      assert.equal(bag.code, 0, bag.stderr);
      assert.deepEqual(JSON.parse(bag.stdout), { total: 1, start: 0, rows: [{ name: "data_bag_item_users_alice", json_class: "Chef::DataBagItem", chef_type: "data_bag_item", data_bag: "users", raw_data: { id: "alice", shell: "/bin/zsh" } }] });
      const node = (JSON.parse((await sous("search", "node", "name:web2", "--format", "chef", ...cli)).stdout) as { rows: Array<Record<string, unknown>> }).rows[0]!;
      assert.deepEqual([node.name, node.json_class, node.chef_type, (node.automatic as { ipaddress: string }).ipaddress], ["web2", "Chef::Node", "node", "10.0.1.12"]);
      // The stored objects are unchanged: chef_type is what search sees.
      assert.equal((await admin.get<Record<string, unknown>>(admin.orgPath("data", "users", "alice"))).data_bag, undefined);
    });

    test("a dangling operator is a 400 naming its position, never a broader answer", async () => {
      for (const [query, message] of [
        ["role:web AND", /'AND' at position 10 has nothing after it/],
        ["name:web1 AND OR name:web2", /'OR' at position 15 follows the operator 'AND' at position 11/],
        ["NOT", /'NOT' at position 1 has nothing after it/],
      ] as const) {
        await assert.rejects(names("node", query), (error: Error & { status?: number; code?: string }) => error.status === 400 && error.code === "bad_query" && message.test(error.message), query);
      }
    });

    test("a OR NOT b is read as a, or anything but b (Sous); Chef's narrower answer is a AND NOT b", async () => {
      await admin.request("PUT", admin.orgPath("nodes", "db1"), { body: nodeBody("db1", { ipaddress: "10.0.2.1" }) });
      assert.deepEqual(await names("node", "name:web1 OR NOT name:web2"), ["db1", "web1"]);
      assert.deepEqual(await names("node", "name:web1 AND NOT name:web2"), ["web1"]);
      await admin.request("DELETE", admin.orgPath("nodes", "db1"));
    });

    test("ranges over values with units, on nodes loaded from real sous facts output", async () => {
      const facts = await factNodes();
      for (const { name, automatic } of facts) await admin.request("PUT", admin.orgPath("nodes", name), { body: nodeBody(name, automatic) });
      const memory = Object.fromEntries(facts.map(({ name, automatic }) => [name, Number.parseInt(String((automatic.memory as { total: string }).total), 10)]));
      const expect = (test: (kB: number) => boolean) => facts.map(({ name }) => name).filter((name) => test(memory[name]!)).sort();
      const hits = async (query: string) => {
        const found = (await names("node", query)).filter((name) => name in memory);
        assert.deepEqual(inMemory(query, facts), found, `${query}: a folder of the same nodes answers as the server does`);
        return found;
      };
      assert.match(String((facts[0]!.automatic.memory as { total: string }).total), /^\d+kB$/, "the facts carry sizes as text with a unit");
      // The documented example: a plain number compares with a value's number.
      assert.deepEqual(await hits("memory_total:[8000000 TO *]"), expect((kB) => kB >= 8_000_000));
      assert.ok((await hits("memory_total:[8000000 TO *]")).includes("centos7-ip-text-many-mounts"), "8011776kB is in");
      assert.ok(!(await hits("memory_total:[8000000 TO *]")).includes("alpine-container-no-ip"), "7957272kB is out");
      // Chef compares text: "3880000kB" sorts after "24684084kB". Sous compares numbers.
      assert.deepEqual(await hits("memory_total:[* TO 5000000]"), ["ubuntu-arm-nspawn-no-default-route"]);
      assert.deepEqual(await hits("memory.total:{3880000 TO 8011776}"), ["alpine-container-no-ip"], "exclusive bounds, dotted path");
      // Bounds with units convert: GB = 10^9 bytes, kB = 1000 bytes, GiB = 2^30.
      assert.deepEqual(await hits("memory_total:[7.9GB TO 8GB]"), ["alpine-container-no-ip"]);
      assert.deepEqual(await hits("memory_total:[8GB TO *]"), expect((kB) => kB * 1000 >= 8e9));
      assert.deepEqual(await hits("memory_total:[3GiB TO 4GiB]"), ["ubuntu-arm-nspawn-no-default-route"]);
      assert.deepEqual(await hits("memory_total:[8000000kB TO *]"), await hits("memory_total:[8000000 TO *]"));
      assert.deepEqual(await hits("memory_total:[20000MB TO 30TB]"), expect((kB) => kB >= 20_000_000));
      // "36608 KB": a unit after a space.
      const cacheKB = (name: string): number => Number.parseInt(String((facts.find((node) => node.name === name)!.automatic.cpu as { cache_size?: string }).cache_size ?? "0"), 10);
      const bigCaches = facts.map(({ name }) => name).filter((name) => cacheKB(name) >= 30_000).sort();
      assert.ok(bigCaches.includes("alpine-container-no-ip") && !bigCaches.includes("debian-docker-on-kvm"));
      assert.deepEqual(await hits("cpu_cache_size:[30MB TO *]"), bigCaches);
      await assert.rejects(names("node", "memory_total:[8GB TO 100]"), (error: Error & { status?: number }) => error.status === 400 && /range of 'memory_total' at position 1 has bounds 8GB and 100: give both bounds a unit, or neither/.test(error.message));
      await assert.rejects(names("node", "memory_total:[1GB TO 2GHz]"), (error: Error & { status?: number }) => error.status === 400 && /GB and GHz do not convert/.test(error.message));
      for (const { name } of facts) await admin.request("DELETE", admin.orgPath("nodes", name));
    });

    test("unit ranges pick each value's own unit exactly (B is not kB, MiB is not MB) and convert it, for random values and bounds", async () => {
      const { prng } = await import("./prng.js");
      const random = prng(1212);
      // Sizes written out here, not taken from the code under test.
      const bytes: Record<string, number> = { B: 1, kB: 1e3, KB: 1e3, MB: 1e6, GB: 1e9, KiB: 1024, MiB: 1048576, GiB: 1073741824 };
      const valueUnits = [...Object.keys(bytes), "MHz", "%", ""];
      const values: Record<string, string> = {};
      for (let i = 0; i < 40; i++) {
        const unit = valueUnits[Math.floor(random() * valueUnits.length)]!;
        const number = Math.floor(random() * 5000) / (random() < 0.3 ? 10 : 1);
        values[`size${i}`] = `${number}${random() < 0.2 && unit ? " " : ""}${unit}`;
      }
      for (const [name, size] of Object.entries(values)) await admin.request("PUT", admin.orgPath("nodes", name), { body: nodeBody(name, { disk: { size } }) });
      let found = 0;
      let mixed = 0;
      for (let round = 0; round < 25; round++) {
        const [lowUnit, highUnit] = [0, 1].map(() => Object.keys(bytes)[Math.floor(random() * 8)]!);
        const low = Math.floor(random() * 3000);
        const high = low + Math.floor(random() * 3000);
        const lowBytes = low * bytes[lowUnit!]!;
        const highBytes = high * bytes[highUnit!]!;
        const expected = Object.entries(values)
          .filter(([, size]) => {
            const match = /^([\d.]+) ?([A-Za-z]+)$/.exec(size);
            const scale = match ? bytes[match[2]!] : undefined;
            if (!match || scale === undefined) return false;
            // The same comparison the database makes, in the value's unit (bounds divided, not values multiplied).
            return Number(match[1]) >= lowBytes / scale && Number(match[1]) <= highBytes / scale;
          })
          .map(([name]) => name)
          .sort();
        const query = `disk_size:[${low}${lowUnit} TO ${high}${highUnit}]`;
        assert.deepEqual(await names("node", query), expected, `${query} over ${JSON.stringify(values)}`);
        assert.deepEqual(inMemory(query, Object.entries(values).map(([name, size]) => ({ name, automatic: { disk: { size } } }))), expected, `${query} in memory`);
        found += expected.length;
        if (expected.length > 0 && expected.length < Object.keys(values).length) mixed++;
      }
      assert.ok(found > 25 && mixed > 5, `the random ranges both find and leave out values (${found} hits, ${mixed} mixed rounds)`);
      assert.deepEqual(await names("node", "disk_size:[0% TO 5000%]"), Object.entries(values).filter(([, size]) => size.endsWith("%")).map(([name]) => name).sort());
      for (const name of Object.keys(values)) await admin.request("DELETE", admin.orgPath("nodes", name));
    });
  });
}
