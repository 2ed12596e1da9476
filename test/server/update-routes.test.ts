// The update routes behind `sous org edit|from-file` and `sous client edit|from-file`, on a real
// server over SQLite and PostgreSQL: who may call them, what they refuse, and If-Match.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SousApiError, SousClient } from "../../src/client/api.js";
import { generateKeyPair } from "../../src/protocol/signing.js";
import { backends, createOrg, startTestServer } from "./helpers.js";

async function refused(promise: Promise<unknown>, status: number, code?: string): Promise<SousApiError> {
  const error = await promise.then(
    () => assert.fail(`expected HTTP ${status}, but the request succeeded`),
    (failure: unknown) => failure,
  );
  assert.ok(error instanceof SousApiError, `expected an API error, got ${String(error)}`);
  assert.equal(error.status, status, `${error.code}: ${error.message}`);
  if (code) assert.equal(error.code, code, error.message);
  return error;
}

for (const backend of backends) {
  describe(`update routes on ${backend.name}`, { skip: backend.skip ?? false }, () => {
    let ctx: Awaited<ReturnType<typeof startTestServer>>;
    let admin: SousClient;
    let nodeClient: SousClient;
    before(async () => {
      ctx = await startTestServer(backend);
      ({ admin } = await createOrg(ctx.server.url, ctx.serverAdmin, "acme"));
      const keys = generateKeyPair();
      await admin.request("POST", admin.orgPath("clients"), { body: { name: "web1", public_key: keys.publicKey } });
      nodeClient = new SousClient({ serverUrl: ctx.server.url, org: "acme", client: "web1", privateKey: keys.privateKey });
    });
    after(async () => ctx?.cleanup());

    test("PUT /orgs/ORG changes the full name for server administrators only, with If-Match", async () => {
      const read = await ctx.serverAdmin.request<Record<string, unknown>>("GET", "/api/v1/orgs/acme");
      assert.ok(read.etag);
      const saved = await ctx.serverAdmin.request<Record<string, unknown>>("PUT", "/api/v1/orgs/acme", { body: { ...read.body, full_name: "Acme Corp" }, ifMatch: read.etag });
      assert.equal(saved.body.full_name, "Acme Corp");
      assert.notEqual(saved.etag, read.etag);
      await refused(ctx.serverAdmin.request("PUT", "/api/v1/orgs/acme", { body: { full_name: "Acme Lost" }, ifMatch: read.etag }), 412, "precondition_failed");
      await refused(ctx.serverAdmin.request("PUT", "/api/v1/orgs/acme", { body: { name: "acme2", full_name: "x" } }), 400, "name_mismatch");
      await refused(ctx.serverAdmin.request("PUT", "/api/v1/orgs/acme", { body: { full_name: "" } }), 400, "invalid_field");
      await refused(ctx.serverAdmin.request("PUT", "/api/v1/orgs/acme", { body: { full_name: "x", owner: "bob" } }), 400, "invalid_field");
      await refused(ctx.serverAdmin.request("PUT", "/api/v1/orgs/ghost", { body: { full_name: "x" } }), 404);
      await refused(admin.request("PUT", "/api/v1/orgs/acme", { body: { full_name: "By an org admin" } }), 403, "forbidden");
      for (const path of ["/api/v1/orgs/acme", "/api/v1/orgs/acme/clients/alice"]) {
        const unsigned = await fetch(`${ctx.server.url}${path}`, { method: "PUT", headers: { "content-type": "application/json" }, body: '{"full_name":"unsigned","admin":false}' });
        assert.equal(unsigned.status, 401, path);
      }
      const now = await ctx.serverAdmin.request<Record<string, unknown>>("GET", "/api/v1/orgs/acme");
      assert.equal(now.body.full_name, "Acme Corp");
      assert.equal(now.etag, saved.etag);
    });

    test("PUT /orgs/ORG/clients/NAME changes admin and validator, never the key or the name", async () => {
      // A node's client may not make itself an administrator.
      await refused(nodeClient.request("PUT", nodeClient.orgPath("clients", "web1"), { body: { admin: true } }), 403, "forbidden");
      const read = await admin.request<Record<string, unknown>>("GET", admin.orgPath("clients", "web1"));
      const saved = await admin.request<Record<string, unknown>>("PUT", admin.orgPath("clients", "web1"), { body: { ...read.body, validator: true }, ifMatch: read.etag! });
      assert.deepEqual([saved.body.admin, saved.body.validator, saved.body.public_key], [false, true, read.body.public_key]);
      await refused(admin.request("PUT", admin.orgPath("clients", "web1"), { body: { admin: true }, ifMatch: read.etag! }), 412, "precondition_failed");
      await refused(admin.request("PUT", admin.orgPath("clients", "web1"), { body: { public_key: generateKeyPair().publicKey } }), 400, "public_key_immutable");
      await refused(admin.request("PUT", admin.orgPath("clients", "web1"), { body: { name: "web2" } }), 400, "name_mismatch");
      await refused(admin.request("PUT", admin.orgPath("clients", "web1"), { body: { admin: "yes" } }), 400, "invalid_field");
      await refused(admin.request("PUT", admin.orgPath("clients", "ghost"), { body: { admin: true } }), 404);
      await refused(admin.request("PUT", admin.orgPath("clients", "alice"), { body: { admin: false } }), 403, "forbidden");
      const now = await admin.get<Record<string, unknown>>(admin.orgPath("clients", "web1"));
      assert.deepEqual([now.admin, now.validator, now.public_key], [false, true, read.body.public_key]);
      assert.equal((await admin.get<Record<string, unknown>>(admin.orgPath("clients", "alice"))).admin, true);
      // Back to a plain client: its old key still signs, nothing about the identity changed.
      await admin.request("PUT", admin.orgPath("clients", "web1"), { body: { validator: false } });
      assert.ok(await nodeClient.get(nodeClient.orgPath("nodes")));
    });
  });
}
