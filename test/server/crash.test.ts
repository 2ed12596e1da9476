// kill -9 of a server process in the middle of concurrent node saves: every save the server
// acknowledged is in the store afterwards, searchable, and the SQLite file passes its integrity check.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, test } from "node:test";
import Database from "better-sqlite3";
import { SousClient } from "../../src/client/api.js";
import { generateKeyPair } from "../../src/protocol/signing.js";
import { parseQuery } from "../../src/server/search/query.js";
import { Store } from "../../src/server/store/store.js";

const dir = mkdtempSync(join(tmpdir(), "sous-crash-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("kill -9 during concurrent saves loses no acknowledged write (SQLite)", { timeout: 60_000 }, async () => {
  const mainModule = resolve(import.meta.dirname, "../../src/cli/main.ts");
  const child = spawn(process.execPath, ["--import", "tsx", "-e", `import(${JSON.stringify(mainModule)}).then((m) => m.main(["server", "--data-dir", ${JSON.stringify(dir)}, "--listen", "127.0.0.1:0"]))`], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let exited = false;
  child.on("exit", () => (exited = true));
  try {
    const url = await new Promise<string>((resolveUrl, reject) => {
      let output = "";
      const timer = setTimeout(() => reject(new Error(`server did not start: ${output}`)), 30_000);
      child.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        const match = /listening on (http:\/\/\S+)/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolveUrl(match[1]!);
        }
      });
      child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
      child.on("exit", (code) => reject(new Error(`server exited with ${code}: ${output}`)));
    });
    const serverAdmin = new SousClient({ serverUrl: url, client: "server:admin", privateKeyFile: join(dir, "server-admin.pem") });
    const keys = generateKeyPair();
    await serverAdmin.request("POST", "/api/v1/orgs", { body: { name: "acme", admin: { name: "alice", public_key: keys.publicKey } } });
    const admin = new SousClient({ serverUrl: url, org: "acme", client: "alice", privateKey: keys.privateKey, timeoutMs: 5_000 });

    const acknowledged = new Map<string, number>();
    let stop = false;
    const worker = async (id: number): Promise<void> => {
      for (let counter = 1; !stop; counter++) {
        const name = `node${id}`;
        try {
          await admin.request("PUT", admin.orgPath("nodes", name), { body: { name, automatic: { counter, worker: id } } });
          acknowledged.set(name, counter);
        } catch {
          return;
        }
      }
    };
    const workers = Array.from({ length: 8 }, (_, i) => worker(i));
    while ([...acknowledged.values()].reduce((a, b) => a + b, 0) < 200) await new Promise((r) => setTimeout(r, 10));
    child.kill("SIGKILL");
    stop = true;
    await Promise.all(workers);
    assert.ok(acknowledged.size === 8, "every worker got some saves acknowledged");

    const db = new Database(join(dir, "sous.db"));
    assert.equal(db.pragma("integrity_check", { simple: true }), "ok");
    db.close();
    const store = await Store.open({ sqliteFile: join(dir, "sous.db") });
    try {
      for (const [name, counter] of acknowledged) {
        const node = await store.get<{ automatic: { counter: number } }>({ org: "acme", kind: "node", name });
        assert.ok(node && node.data.automatic.counter >= counter, `${name}: acknowledged counter ${counter}, stored ${node?.data.automatic.counter}`);
        const found = await store.search({ org: "acme", idx: "node", kind: "node", bag: "" }, parseQuery(`name:${name} AND counter:${node.data.automatic.counter}`), { start: 0, rows: 10 });
        assert.equal(found.total, 1, `${name} is searchable by its stored counter`);
      }
    } finally {
      await store.close();
    }
  } finally {
    if (!exited) child.kill("SIGKILL");
  }
});
