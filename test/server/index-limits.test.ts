// One node must not stall the server or grow the store without end: what an object may add to the
// search index is limited (a 400 naming the limit), a large save lets other requests run while it
// writes, and keys no object uses any more are deleted. On a real server (port 0) in a process of
// its own, SQLite and PostgreSQL.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { availableParallelism, loadavg } from "node:os";
import { join } from "node:path";
import { SousClient } from "../../src/client/api.js";
import { Store } from "../../src/server/store/store.js";
import { generateKeyPair, signRequest } from "../../src/protocol/signing.js";
import { DEFAULT_INDEX_LIMITS, MAX_JSON_MEMBERS } from "../../src/server/limits.js";
import { backends, createOrg, rejectsWith } from "./helpers.js";

/**
 * The most /health may take during a large save: 100 ms; 1 s on a machine with more than two
 * runnable processes per core (CI and shared machines), where a process waits for a core that
 * long with nothing to do. Without the fixes a save of 20,000 keys held /health for seconds.
 */
function healthBudget(): number {
  return loadavg()[0]! / availableParallelism() > 2 ? 1000 : 100;
}

/** Sends GET /health every 10 ms while `work` runs; returns the slowest answer in ms. */
async function slowestHealthDuring(url: string, work: () => Promise<unknown>): Promise<{ slowest: number; answers: number }> {
  let done = false;
  let slowest = 0;
  let answers = 0;
  const probe = (async () => {
    while (!done) {
      const started = performance.now();
      const response = await fetch(`${url}/api/v1/health`);
      await response.text();
      slowest = Math.max(slowest, performance.now() - started);
      answers++;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  try {
    await work();
  } finally {
    done = true;
    await probe;
  }
  return { slowest, answers };
}

/**
 * `{"name": NAME, "normal": {"PREFIX0": 0, "PREFIX1": 1, ...}}` written straight into bytes: an
 * object graph of 250,000 keys in this process would be collected while /health is timed.
 */
function keysNode(name: string, count: number, prefix: string): Buffer {
  const bytes = Buffer.alloc(64 + count * (prefix.length + 20));
  let at = bytes.write(`{"name":${JSON.stringify(name)},"normal":{`);
  for (let i = 0; i < count; i++) at += bytes.write(`${i > 0 ? "," : ""}"${prefix}${i}":${i}`, at);
  at += bytes.write("}}", at);
  return bytes.subarray(0, at);
}

for (const backend of backends) {
  describe(`index limits on ${backend.name}`, { skip: backend.skip ?? false }, () => {
    let child: ChildProcess;
    let store: Store;
    let cleanup: () => Promise<void>;
    let admin: SousClient;
    let key: string;
    let url: string;
    before(async () => {
      const made = await backend.location();
      cleanup = made.cleanup;
      child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "fixtures/serve.ts"), JSON.stringify(made.location)], { stdio: ["ignore", "pipe", "inherit"] });
      const started = await new Promise<{ url: string; adminKeyFile: string; adminClient: string }>((resolve, reject) => {
        child.stdout!.once("data", (data) => resolve(JSON.parse(String(data)) as { url: string; adminKeyFile: string; adminClient: string }));
        child.once("exit", (code) => reject(new Error(`the server exited with ${code}`)));
      });
      url = started.url;
      const serverAdmin = new SousClient({ serverUrl: url, client: started.adminClient, privateKeyFile: started.adminKeyFile });
      const org = await createOrg(url, serverAdmin, "acme");
      admin = org.admin;
      // Node n1 is the abuser: a node client may write its own node, and nothing else.
      const n1 = generateKeyPair();
      await admin.request("POST", admin.orgPath("clients"), { body: { name: "n1", public_key: n1.publicKey } });
      key = n1.privateKey;
      // A second connection to the same store, to count its keys.
      store = await Store.open(made.location);
      await admin.request("PUT", admin.orgPath("nodes", "web1"), { body: { name: "web1", automatic: { platform: "debian" } } });
    });
    after(async () => {
      await store?.close();
      if (child?.exitCode === null) {
        child.kill("SIGTERM");
        await once(child, "exit");
      }
      await cleanup?.();
    });

    const fieldCount = async (): Promise<number> => {
      const rows = await (store as unknown as { db: { all(sql: string): Promise<Array<{ n: number | string }>> } }).db.all("SELECT count(*) AS n FROM search_fields");
      return Number(rows[0]!.n);
    };

    /** A PUT signed by node n1, serialized and signed before it is timed. */
    const preparedPut = (path: string, bytes: Buffer): (() => Promise<{ status: number; body: { error?: { code: string; message: string } } }>) => {
      const headers = { "content-type": "application/json", ...signRequest({ method: "PUT", path, body: bytes, client: "n1", privateKey: key }) };
      return async () => {
        const response = await fetch(`${url}${path}`, { method: "PUT", headers, body: new Uint8Array(bytes) });
        return { status: response.status, body: (await response.json()) as { error?: { code: string; message: string } } };
      };
    };

    test("node n1 saving itself with too many keys is refused with a 400 naming the limit, while /health answers within 100 ms (1 s on an overloaded machine)", { timeout: 60_000 }, async (t) => {
      const cases: Array<[number, string, RegExp]> = [
        // Refused before parsing: a body of 250,000 keys took seconds to parse and merge.
        [250_000, "too_many_members", new RegExp(`more than ${MAX_JSON_MEMBERS} object members.*the limit is ${MAX_JSON_MEMBERS}`)],
        [DEFAULT_INDEX_LIMITS.maxKeys + 5000, "index_limit", new RegExp(`more than ${DEFAULT_INDEX_LIMITS.maxKeys} distinct search keys.*--max-index-keys`)],
      ];
      for (const [keys, code, message] of cases) {
        const put = preparedPut(admin.orgPath("nodes", "n1"), keysNode("n1", keys, "k"));
        let answer: Awaited<ReturnType<typeof put>> | undefined;
        let slowest = Infinity;
        let answers = 0;
        const budget = healthBudget();
        // A refusal takes well under a second: one pause of the machine's own (a collection in
        // either process, another job) can cover it whole, so a second try decides.
        for (let attempt = 1; attempt <= 2 && slowest >= budget; attempt++) {
          const started = performance.now();
          ({ slowest, answers } = await slowestHealthDuring(url, async () => (answer = await put())));
          t.diagnostic(`${keys} keys${attempt > 1 ? " (again)" : ""}: ${answer!.status} ${answer!.body.error?.code} in ${(performance.now() - started).toFixed(0)} ms; worst /health ${slowest.toFixed(1)} ms of ${answers} (budget ${budget} ms)`);
        }
        assert.equal(answer!.status, 400, `${keys} keys`);
        assert.equal(answer!.body.error!.code, code);
        assert.match(answer!.body.error!.message, message);
        assert.ok(answers > 0);
        assert.ok(slowest < budget, `/health took ${slowest.toFixed(0)} ms during the save of ${keys} keys (budget ${budget.toFixed(0)} ms)`);
      }
      await rejectsWith(admin.get(admin.orgPath("nodes", "n1")), 404, "not_found");
    });

    test("a key longer than 300 characters is refused with a 400 naming the key and the limit (it was skipped without a word)", async () => {
      const nested = { ["x".repeat(150)]: { ["y".repeat(150)]: "deep" } };
      const long = await rejectsWith(admin.request("PUT", admin.orgPath("nodes", "n3"), { body: { name: "n3", normal: nested } }), 400, "index_limit");
      assert.match(long.message, new RegExp(`search key of 301 characters, "${"x".repeat(60)}\\.\\.\\."; the limit is 300 characters \\(fixed, docs/server.md`));
      await rejectsWith(admin.request("PUT", admin.orgPath("roles", "r1"), { body: { name: "r1", default_attributes: { ["k".repeat(301)]: 1 } } }), 400, "index_limit");
      await rejectsWith(admin.get(admin.orgPath("nodes", "n3")), 404, "not_found");
      // 300 characters are indexed and found.
      await admin.request("PUT", admin.orgPath("nodes", "n3"), { body: { name: "n3", normal: { ["x".repeat(150)]: { ["y".repeat(149)]: "deep" } } } });
      const found = await admin.get<{ total: number }>(`${admin.orgPath("search", "node")}?q=${encodeURIComponent(`${"x".repeat(150)}_${"y".repeat(149)}:deep`)}`);
      assert.equal(found.total, 1);
      await admin.request("DELETE", admin.orgPath("nodes", "n3"));
    });

    test("node n1 saving itself just under the limits (19,900 keys, three times with new names; 199,000 values) is served while /health answers within 100 ms (1 s on an overloaded machine), and leaves no keys behind", { timeout: 180_000 }, async (t) => {
      const before = await fieldCount();
      const count = DEFAULT_INDEX_LIMITS.maxKeys - 100;
      let slowest = 0;
      const budget = healthBudget();
      const timed = async (what: string, put: () => Promise<{ status: number }>): Promise<void> => {
        const started = performance.now();
        let status = 0;
        const measured = await slowestHealthDuring(url, async () => (status = (await put()).status));
        t.diagnostic(`${what}: ${status} in ${(performance.now() - started).toFixed(0)} ms; worst /health ${measured.slowest.toFixed(1)} ms of ${measured.answers} (budget ${budget} ms)`);
        assert.ok([200, 201].includes(status), `${what}: ${status}`);
        slowest = Math.max(slowest, measured.slowest);
      };
      for (const round of ["a", "b", "c"]) {
        await timed(`${count} new keys (${round})`, preparedPut(admin.orgPath("nodes", "n1"), keysNode("n1", count, `${round}_`)));
        const found = await admin.get<{ total: number }>(`${admin.orgPath("search", "node")}?q=${encodeURIComponent(`${round}_7:7`)}`);
        assert.equal(found.total, 1, `round ${round}`);
      }
      // A save past the limits is refused before its transaction begins: it is answered while
      // another writer holds node n1 (on SQLite, the store's write lock), and it changes nothing.
      // It used to wait for that writer (SQLite: up to its busy timeout of 10 s).
      let release = (): void => undefined;
      const released = new Promise<void>((resolve) => (release = resolve));
      const hold = setTimeout(release, 8000);
      let holding = (): void => undefined;
      const held = new Promise<void>((resolve) => (holding = resolve));
      const holder = store.transaction(async (locked) => {
        await locked.sql.run("UPDATE objects SET etag = etag WHERE org = 'acme' AND kind = 'node' AND name = 'n1'");
        holding();
        await released;
      });
      await held;
      const refusing = performance.now();
      let refused: Awaited<ReturnType<ReturnType<typeof preparedPut>>>;
      try {
        refused = await preparedPut(admin.orgPath("nodes", "n1"), keysNode("n1", DEFAULT_INDEX_LIMITS.maxKeys + 10, "r_"))();
      } finally {
        clearTimeout(hold);
        release();
        await holder;
      }
      const refusal = performance.now() - refusing;
      t.diagnostic(`${DEFAULT_INDEX_LIMITS.maxKeys + 10} keys while node n1 is locked by another writer: ${refused.status} in ${refusal.toFixed(0)} ms`);
      assert.equal(refused.body.error?.code, "index_limit");
      assert.ok(refusal < 4000, `the refusal waited ${refusal.toFixed(0)} ms for the other writer`);
      assert.equal((await admin.get<{ total: number }>(`${admin.orgPath("search", "node")}?q=c_7:7`)).total, 1);
      assert.equal((await admin.get<{ total: number }>(`${admin.orgPath("search", "node")}?q=r_7:7`)).total, 0);
      // One save's keys remain (and the few of the node's own), not three saves' worth.
      const grown = (await fieldCount()) - before;
      assert.ok(grown >= count && grown < count + 50, `the key table grew by ${grown} keys`);
      assert.equal((await admin.get<{ total: number }>(`${admin.orgPath("search", "node")}?q=a_7:7`)).total, 0);
      // The other limit: one key of as many values as allowed (less the node's own).
      const values = DEFAULT_INDEX_LIMITS.maxRows - 1000;
      const many = Buffer.from(JSON.stringify({ name: "n1", normal: { many: Array.from({ length: values }, (_, i) => i) } }));
      await timed(`${values} values`, preparedPut(admin.orgPath("nodes", "n1"), many));
      assert.equal((await admin.get<{ total: number }>(`${admin.orgPath("search", "node")}?q=many:${values - 1}`)).total, 1);
      assert.ok((await fieldCount()) - before < 50, "the keys of the last save with 19,900 keys went");
      const deletion = performance.now();
      const deleted = await slowestHealthDuring(url, () => admin.request("DELETE", admin.orgPath("nodes", "n1")));
      t.diagnostic(`delete: ${(performance.now() - deletion).toFixed(0)} ms; worst /health ${deleted.slowest.toFixed(1)} ms of ${deleted.answers}`);
      slowest = Math.max(slowest, deleted.slowest);
      assert.ok((await fieldCount()) - before < 10, "the node's keys went with it");
      t.diagnostic(`worst /health over every save and the delete: ${slowest.toFixed(1)} ms`);
      assert.ok(slowest < budget, `/health took ${slowest.toFixed(0)} ms (budget ${budget.toFixed(0)} ms)`);
      // Searches on keys still in use keep working after keys were deleted (cached numbers were dropped).
      await admin.request("PUT", admin.orgPath("nodes", "web1"), { body: { name: "web1", automatic: { platform: "ubuntu" } } });
      assert.equal((await admin.get<{ total: number }>(`${admin.orgPath("search", "node")}?q=platform:ubuntu`)).total, 1);
    });
  });
}
