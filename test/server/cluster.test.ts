// Two server processes' worth of state on one PostgreSQL: nothing that must be shared lives in
// one server, so a write through one is visible through the other at once.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { SousApiError, SousClient } from "../../src/client/api.js";
import { generateKeyPair } from "../../src/protocol/signing.js";
import { startServer } from "../../src/server/server.js";
import type { RunningServer } from "../../src/server/server.js";
import { backends, createOrg } from "./helpers.js";

const postgres = backends.find((backend) => backend.name === "postgres")!;

describe("two servers on one PostgreSQL", { skip: postgres.skip ?? false }, () => {
  let a: RunningServer;
  let b: RunningServer;
  let cleanup: () => Promise<void>;
  const dirs = [mkdtempSync(join(tmpdir(), "sous-a-")), mkdtempSync(join(tmpdir(), "sous-b-"))];
  let adminA: SousClient;
  let adminB: SousClient;
  before(async () => {
    const fresh = await postgres.location();
    cleanup = fresh.cleanup;
    // Both start at once: one creates the schema and the first administrator, the other waits and reuses them.
    const settled = await Promise.allSettled(dirs.map((dataDir) => startServer({ dataDir, port: 0, location: fresh.location })));
    const failure = settled.find((s) => s.status === "rejected");
    if (failure) {
      // The one that started is closed, or this file would never end (and the suite with it).
      for (const s of settled) if (s.status === "fulfilled") await s.value.close();
      throw failure.reason;
    }
    [a, b] = settled.map((s) => (s as PromiseFulfilledResult<RunningServer>).value) as [RunningServer, RunningServer];
    assert.equal([a.adminKeyFile, b.adminKeyFile].filter(Boolean).length, 1, "exactly one server wrote the administrator key");
    const first = a.adminKeyFile ? a : b;
    const serverAdmin = new SousClient({ serverUrl: first.url, client: first.adminClient, privateKeyFile: first.adminKeyFile! });
    const { adminKeys } = await createOrg(first.url, serverAdmin, "acme");
    adminA = new SousClient({ serverUrl: a.url, org: "acme", client: "alice", privateKey: adminKeys.privateKey });
    adminB = new SousClient({ serverUrl: b.url, org: "acme", client: "alice", privateKey: adminKeys.privateKey });
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await cleanup?.();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test("a save through one server is found by a search through the other at once", async () => {
    for (let i = 0; i < 20; i++) {
      await adminA.request("PUT", adminA.orgPath("nodes", `n${i}`), { body: { name: `n${i}`, automatic: { seq: i } } });
      const found = await adminB.get<{ total: number }>(`${adminB.orgPath("search", "node")}?q=${encodeURIComponent(`seq:${i}`)}`);
      assert.equal(found.total, 1, `n${i} visible through B right after A acknowledged it`);
    }
  });

  test("concurrent If-Match edits through both servers: exactly one wins", async () => {
    const read = await adminA.request<Record<string, unknown>>("GET", adminA.orgPath("nodes", "n0"));
    const results = await Promise.allSettled([adminA, adminB].map((client, i) => client.request("PUT", client.orgPath("nodes", "n0"), { body: { ...read.body, normal: { by: i } }, ifMatch: read.etag! })));
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    const rejected = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    assert.equal((rejected.reason as SousApiError).status, 412);
  });

  test("a bootstrap token made on one server works once across both", async () => {
    const { body } = await adminA.request<{ token: string }>("POST", adminA.orgPath("bootstrap-tokens"), { body: {} });
    const attempts = await Promise.allSettled([a, b].map((server, i) =>
      new SousClient({ serverUrl: server.url, org: "acme", client: "x" }).request("POST", adminA.orgPath("clients", "register"), { body: { name: `node-${i}`, public_key: generateKeyPair().publicKey, token: body.token }, unsigned: true }),
    ));
    assert.equal(attempts.filter((r) => r.status === "fulfilled").length, 1);
  });
});

describe("a server starting on a PostgreSQL store another server is writing to", { skip: postgres.skip ?? false }, () => {
  test("opens at once: a store whose tables are current takes no table lock (a write in flight on objects and search_views does not hold it back, nor deadlock with it)", async () => {
    const { Store } = await import("../../src/server/store/store.js");
    const pg = (await import("pg")).default;
    const fresh = await postgres.location();
    const first = await Store.open(fresh.location);
    const location = fresh.location as { postgresUrl: string; schema: string };
    const writer = new pg.Client({ connectionString: location.postgresUrl });
    await writer.connect();
    try {
      // Another server's transaction, still open: it holds RowExclusiveLock on both tables until it ends.
      await writer.query("BEGIN");
      await writer.query(`LOCK TABLE ${location.schema}.objects, ${location.schema}.search_views IN ROW EXCLUSIVE MODE`);
      const started = performance.now();
      const opened = await Promise.race([Store.open(fresh.location), new Promise<"waited">((resolve) => setTimeout(() => resolve("waited"), 5000))]);
      assert.notEqual(opened, "waited", "the second store waited for the other server's write (a CREATE ... IF NOT EXISTS took a table lock)");
      await (opened as Awaited<ReturnType<typeof Store.open>>).close();
      assert.ok(performance.now() - started < 5000);
    } finally {
      await writer.query("ROLLBACK").catch(() => undefined);
      await writer.end();
      await first.close();
      await fresh.cleanup();
    }
  });
});
