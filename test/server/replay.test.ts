// Replayed signed requests, as an attacker who captured one would send them: on a real server on
// 127.0.0.1 port 0, over SQLite and PostgreSQL. Each request id is accepted once, by every server
// on the store, for as long as its timestamp is accepted at all.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { signRequest } from "../../src/protocol/signing.js";
import { startServer } from "../../src/server/server.js";
import { backends, startServerWithOrg } from "./helpers.js";

/** A signed request as it went over the wire: what an attacker on the path would keep. */
interface Captured {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

function capture(method: string, path: string, privateKey: string, body?: unknown): Captured {
  const text = body === undefined ? undefined : JSON.stringify(body);
  const headers = { ...(text ? { "content-type": "application/json" } : {}), ...signRequest({ method, path, ...(text ? { body: text } : {}), client: "alice", privateKey }) };
  return { method, path, headers, ...(text ? { body: text } : {}) };
}

async function send(url: string, request: Captured): Promise<{ status: number; code?: string }> {
  const response = await fetch(`${url}${request.path}`, { method: request.method, headers: request.headers, ...(request.body ? { body: request.body } : {}) });
  const answer = (await response.json().catch(() => undefined)) as { error?: { code: string } } | undefined;
  return { status: response.status, ...(answer?.error ? { code: answer.error.code } : {}) };
}

for (const backend of backends) {
  describe(`replayed signed requests on ${backend.name}`, { skip: backend.skip ?? false }, () => {
    let setup: Awaited<ReturnType<typeof startServerWithOrg>>;
    before(async () => {
      setup = await startServerWithOrg(backend);
    });
    after(async () => setup?.ctx.cleanup());

    test("a captured PUT of a node replayed after a newer PUT is refused and the node keeps the newer version", async () => {
      const path = setup.admin.orgPath("nodes", "web1");
      const old = capture("PUT", path, setup.key, { name: "web1", run_list: ["recipe[old]"], normal: { version: 1 } });
      assert.equal((await send(setup.ctx.server.url, old)).status, 201);
      await setup.admin.request("PUT", path, { body: { name: "web1", run_list: ["recipe[new]"], normal: { version: 2 } } });
      assert.deepEqual(await send(setup.ctx.server.url, old), { status: 401, code: "replayed_request" });
      const node = await setup.admin.get<{ run_list: string[]; normal: { version: number } }>(path);
      assert.deepEqual(node.run_list, ["recipe[new]"]);
      assert.equal(node.normal.version, 2);
    });

    test("a captured DELETE of a role replayed after the role was re-created is refused and the role stays", async () => {
      await setup.admin.request("PUT", setup.admin.orgPath("roles", "web"), { body: { name: "web", run_list: ["recipe[nginx]"] } });
      const deletion = capture("DELETE", setup.admin.orgPath("roles", "web"), setup.key);
      assert.equal((await send(setup.ctx.server.url, deletion)).status, 200);
      await setup.admin.request("PUT", setup.admin.orgPath("roles", "web"), { body: { name: "web", run_list: ["recipe[nginx]", "recipe[tls]"] } });
      assert.deepEqual(await send(setup.ctx.server.url, deletion), { status: 401, code: "replayed_request" });
      assert.deepEqual((await setup.admin.get<{ run_list: string[] }>(setup.admin.orgPath("roles", "web"))).run_list, ["recipe[nginx]", "recipe[tls]"]);
    });

    test("reads are protected too, and the client signs each request afresh (many in a row and at once all pass)", async () => {
      const read = capture("GET", setup.admin.orgPath("roles", "web"), setup.key);
      assert.equal((await send(setup.ctx.server.url, read)).status, 200);
      assert.deepEqual(await send(setup.ctx.server.url, read), { status: 401, code: "replayed_request" });
      const answers = await Promise.all(Array.from({ length: 50 }, () => setup.admin.request("GET", setup.admin.orgPath("roles", "web"))));
      assert.ok(answers.every((answer) => answer.status === 200));
    });

    test("a request without a request id is refused as unsigned", async () => {
      const request = capture("GET", setup.admin.orgPath("roles", "web"), setup.key);
      delete request.headers["x-sous-request-id"];
      assert.deepEqual(await send(setup.ctx.server.url, request), { status: 401, code: "unsigned" });
      const forged = capture("GET", setup.admin.orgPath("roles", "web"), setup.key);
      // Another id than the one signed: the signature no longer verifies.
      forged.headers["x-sous-request-id"] = "AAAAAAAAAAAAAAAAAAAAAA";
      assert.deepEqual(await send(setup.ctx.server.url, forged), { status: 401, code: "bad_signature" });
    });

    // Last: on SQLite it stops the suite's server.
    test("a request captured on one server is refused by another server on the same store, and after a restart", async () => {
      // A second server on the same database (PostgreSQL: as behind a load balancer; SQLite: a restart on the same file).
      const dataDir = mkdtempSync(join(tmpdir(), "sous-replay-"));
      const path = setup.admin.orgPath("nodes", "db1");
      const captured = capture("PUT", path, setup.key, { name: "db1", normal: { version: 1 } });
      try {
        assert.equal((await send(setup.ctx.server.url, captured)).status, 201);
        if (backend.name === "sqlite") await setup.ctx.server.close();
        const other = await startServer({ dataDir, port: 0, location: setup.ctx.location });
        try {
          assert.deepEqual(await send(other.url, captured), { status: 401, code: "replayed_request" });
          const fresh = capture("PUT", path, setup.key, { name: "db1", normal: { version: 2 } });
          assert.equal((await send(other.url, fresh)).status, 200);
        } finally {
          await other.close();
        }
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
}

describe("remembered request ids (store)", () => {
  test("an id is accepted once per signer", async () => {
    const { openStore } = await import("./helpers.js");
    for (const backend of backends.filter((b) => !b.skip)) {
      const { store, cleanup } = await openStore(backend);
      try {
        const expires = Date.now() + 60_000;
        assert.equal(await store.rememberRequest("acme/alice", "r1-aaaaaaaaaaaaaaaa", expires), true, backend.name);
        assert.equal(await store.rememberRequest("acme/alice", "r1-aaaaaaaaaaaaaaaa", expires), false, backend.name);
        assert.equal(await store.rememberRequest("acme/bob", "r1-aaaaaaaaaaaaaaaa", expires), true, backend.name);
      } finally {
        await cleanup();
      }
    }
  });
});
