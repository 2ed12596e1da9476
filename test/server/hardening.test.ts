// Hostile and broken requests against a real server (port 0), over SQLite and PostgreSQL:
// nothing is read before the signature checks out, the documented body limits hold, deep or
// malformed JSON is a 400 naming the limit, an unexpected failure is always logged, and a
// misspelled route is a 404.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { SousApiError, SousClient } from "../../src/client/api.js";
import { generateKeyPair, signRequest } from "../../src/protocol/signing.js";
import { writeReport } from "../../src/run/report/run-report.js";
import { MAX_JSON_DEPTH } from "../../src/server/limits.js";
import type { Query } from "../../src/server/search/query.js";
import { checkQueryTerms, MAX_QUERY_TERMS } from "../../src/server/search/sql.js";
import { backends, createOrg, startServerWithOrg, startTestServer } from "./helpers.js";

const ROOT = join(import.meta.dirname, "../..");

async function rejectsWith(promise: Promise<unknown>, status: number, code: string): Promise<SousApiError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof SousApiError, `expected an API error, got ${String(error)}`);
    assert.equal(error.status, status, `${error.code}: ${error.message}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected HTTP ${status}, but the request succeeded`);
}

function memoryMb(pid: number, field: "VmRSS" | "VmHWM"): number {
  const match = new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match![1]) / 1024;
}

describe("unsigned bodies are refused on their headers, never read into memory", () => {
  test("100 concurrent unsigned 8 MB bodies all answer 401 and the server's memory stays put", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "sous-flood-"));
    const child = spawn(process.execPath, [join(ROOT, "bin/sous.js"), "server", "--data-dir", dir, "--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on("data", (data) => {
          const match = /listening on (\S+)/.exec(String(data));
          if (match) resolve(match[1]!);
        });
        child.on("exit", (code) => reject(new Error(`the server exited with ${code}`)));
      });
      const before = memoryMb(child.pid!, "VmRSS");
      const body = Buffer.alloc(8 * 1024 * 1024, 0x61);
      const send = () =>
        new Promise<number | string>((resolve) => {
          const req = request(`${url}/api/v1/orgs/acme/nodes/n1`, { method: "PUT", headers: { "content-type": "application/json", "content-length": body.length } }, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          });
          req.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
          req.end(body);
        });
      const answers = await Promise.all(Array.from({ length: 100 }, send));
      assert.deepEqual([...new Set(answers)], [401]);
      // Before the signature was checked first, this peak was +600 MB (every body held at once).
      const growth = memoryMb(child.pid!, "VmHWM") - before;
      assert.ok(growth < 150, `the server's memory grew by ${growth.toFixed(0)} MB`);
    } finally {
      child.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

for (const backend of backends) {
  describe(`hostile requests on ${backend.name}`, { skip: backend.skip ?? false }, () => {
    let ctx: Awaited<ReturnType<typeof startTestServer>>;
    let admin: SousClient;
    let key: string;
    let url: string;
    before(async () => {
      ({ ctx, admin, key } = await startServerWithOrg(backend));
      url = ctx.server.url;
    });
    after(async () => ctx?.cleanup());

    const sendSigned = async (method: string, path: string, body: Buffer, contentType = "application/json") => {
      const response = await fetch(`${url}${path}`, { method, headers: { "content-type": contentType, ...signRequest({ method, path, body, client: "alice", privateKey: key }) }, body: new Uint8Array(body) });
      return { status: response.status, body: (await response.json()) as { error?: { code: string; message: string } } };
    };

    test("the documented limits: JSON bodies up to 4 MiB, cookbook files up to 8 MiB (413 file_too_large past it)", async () => {
      const big = Buffer.from(JSON.stringify({ name: "n1", normal: { blob: "x".repeat(4 * 1024 * 1024) } }));
      const refused = await sendSigned("PUT", admin.orgPath("nodes", "n1"), big);
      assert.equal(refused.status, 413);
      assert.equal(refused.body.error!.code, "body_too_large");
      assert.match(refused.body.error!.message, /limit of 4194304 bytes/);
      const file = Buffer.alloc(6 * 1024 * 1024, 0x62);
      const sha = createHash("sha256").update(file).digest("hex");
      assert.equal((await admin.request("PUT", admin.orgPath("files", sha), { body: file })).status, 201);
      // A file over 8 MiB is refused on its declared length, by the file's own limit, and so is a
      // manifest that lists one.
      const over = Buffer.alloc(8 * 1024 * 1024 + 1, 0x62);
      const overSha = createHash("sha256").update(over).digest("hex");
      const tooLarge = await rejectsWith(admin.request("PUT", admin.orgPath("files", overSha), { body: over }), 413, "file_too_large");
      assert.match(tooLarge.message, /the cookbook file is larger than the limit of 8388608 bytes/);
      const listed = { body: { name: "big", version: "1.0.0", files: [{ path: "files/big.bin", sha256: overSha, size: over.length }] } };
      const manifest = await rejectsWith(admin.request("PUT", admin.orgPath("cookbooks", "big", "1.0.0"), listed), 413, "file_too_large");
      assert.match(manifest.message, /files\[0\] 'files\/big.bin' is 8388609 bytes; the limit is 8388608/);
    });

    test(`JSON nested past ${MAX_JSON_DEPTH} levels is a 400 naming the limit; ${MAX_JSON_DEPTH} levels are saved`, async () => {
      const nested = (depth: number): string => `${'{"a":'.repeat(depth - 1)}{"a":1}${"}".repeat(depth - 1)}`;
      for (const depth of [MAX_JSON_DEPTH + 1, 5000]) {
        const deep = Buffer.from(`{"name":"deep","normal":${nested(depth)}}`);
        const answer = await sendSigned("PUT", admin.orgPath("nodes", "deep"), deep);
        assert.equal(answer.status, 400, `depth ${depth}`);
        assert.equal(answer.body.error!.code, "too_deep");
        assert.match(answer.body.error!.message, new RegExp(`the limit is ${MAX_JSON_DEPTH}`));
      }
      // The body's own object is one level, normal another.
      const fits = Buffer.from(`{"name":"deep","normal":${nested(MAX_JSON_DEPTH - 1)}}`);
      assert.equal((await sendSigned("PUT", admin.orgPath("nodes", "deep"), fits)).status, 201);
      const found = await admin.get<{ total: number }>(`${admin.orgPath("search", "node")}?q=name:deep`);
      assert.equal(found.total, 1);
    });

    test("invalid UTF-8 is refused with its position, not replaced", async () => {
      const body = Buffer.concat([Buffer.from('{"name":"u1","normal":{"motd":"caf'), Buffer.from([0xc3, 0x28]), Buffer.from('"}}')]);
      const answer = await sendSigned("PUT", admin.orgPath("nodes", "u1"), body);
      assert.equal(answer.status, 400);
      assert.equal(answer.body.error!.code, "bad_utf8");
      assert.match(answer.body.error!.message, new RegExp(`at byte offset ${body.indexOf(0x28)}`));
      await rejectsWith(admin.get(admin.orgPath("nodes", "u1")), 404, "not_found");
    });

    test("queries of hundreds of terms are answered (never 500), within the length limit", { timeout: 60_000 }, async () => {
      for (let i = 0; i < 20; i++) await admin.request("PUT", admin.orgPath("nodes", `t${i}`), { body: { name: `t${i}`, normal: { z: i } } });
      const search = (q: string) => admin.get<{ total: number }>(`${admin.orgPath("search", "node")}?q=${encodeURIComponent(q)}&rows=5`);
      const terms = (count: number, prefix: string, values = 10) => Array.from({ length: count }, (_, i) => `${prefix}z:${i % values}`).join(" ");
      // The longest queries of the shortest terms the 4,096-character limit lets through.
      assert.equal((await search(terms(1024, ""))).total, 10);
      assert.equal((await search(`name:t* ${terms(817, "-")}`)).total, 10);
      assert.equal((await search(terms(819, "+"))).total, 0);
      assert.equal((await search(terms(500, "", 500))).total, 20);
      assert.equal((await search(`name:t* AND ${Array.from({ length: 340 }, (_, i) => `NOT z:${i % 10}`).join(" AND ")}`)).total, 10);
      const tooLong = await rejectsWith(search(terms(1025, "")), 400, "bad_query");
      assert.match(tooLong.message, /the limit is 4096/);
    });

    test("a revoked client stays revoked for the validator and for tokens until an administrator creates it again", async () => {
      const validatorKeys = generateKeyPair();
      await admin.request("PUT", admin.orgPath("clients", "acme-validator", "key"), { body: { public_key: validatorKeys.publicKey } });
      const validator = new SousClient({ serverUrl: url, org: "acme", client: "acme-validator", privateKey: validatorKeys.privateKey });
      assert.equal((await validator.request("POST", validator.orgPath("clients", "register"), { body: { name: "n9", public_key: generateKeyPair().publicKey } })).status, 201);
      await admin.request("DELETE", admin.orgPath("clients", "n9"));
      const attacker = generateKeyPair();
      const refused = await rejectsWith(validator.request("POST", validator.orgPath("clients", "register"), { body: { name: "n9", public_key: attacker.publicKey } }), 403, "revoked");
      assert.match(refused.message, /sous client create n9/);
      const { token } = (await admin.request<{ token: string }>("POST", admin.orgPath("bootstrap-tokens"), { body: {} })).body;
      await rejectsWith(admin.request("POST", admin.orgPath("clients", "register"), { body: { name: "n9", public_key: attacker.publicKey, token }, unsigned: true }), 403, "revoked");
      // The revoked key, and the attacker's, write nothing.
      const asAttacker = new SousClient({ serverUrl: url, org: "acme", client: "n9", privateKey: attacker.privateKey });
      await rejectsWith(asAttacker.request("PUT", asAttacker.orgPath("nodes", "n9"), { body: { name: "n9" } }), 401, "bad_signature");
      // An administrator allows the name again by creating it.
      const allowed = generateKeyPair();
      assert.equal((await admin.request("POST", admin.orgPath("clients"), { body: { name: "n9", public_key: allowed.publicKey } })).status, 201);
      const asNode = new SousClient({ serverUrl: url, org: "acme", client: "n9", privateKey: allowed.privateKey });
      assert.equal((await asNode.request("PUT", asNode.orgPath("nodes", "n9"), { body: { name: "n9" } })).status, 201);
      // Or by lifting the revocation, for the validator or a token to register it (sous bootstrap --force).
      await admin.request("DELETE", admin.orgPath("clients", "n9"));
      await rejectsWith(validator.request("POST", validator.orgPath("clients", "register"), { body: { name: "n9", public_key: attacker.publicKey } }), 403, "revoked");
      await admin.request("DELETE", admin.orgPath("clients", "n9", "revocation"));
      assert.equal((await validator.request("POST", validator.orgPath("clients", "register"), { body: { name: "n9", public_key: allowed.publicKey } })).status, 201);
      // The token the refused registration carried was not used up.
      assert.equal((await admin.request("POST", admin.orgPath("clients", "register"), { body: { name: "n10", public_key: generateKeyPair().publicKey, token }, unsigned: true })).status, 201);
    });

    test("a bootstrap token is used up only by a registration that succeeds", async () => {
      const { token } = (await admin.request<{ token: string }>("POST", admin.orgPath("bootstrap-tokens"), { body: {} })).body;
      const register = (body: Record<string, unknown>) => admin.request("POST", admin.orgPath("clients", "register"), { body: { ...body, token }, unsigned: true });
      await rejectsWith(register({ name: "t1", public_key: "not a key" }), 400, "invalid_public_key");
      await rejectsWith(register({ name: "bad name!", public_key: generateKeyPair().publicKey }), 400, "invalid_name");
      await rejectsWith(register({ name: "alice", public_key: generateKeyPair().publicKey }), 409, "already_exists");
      assert.equal((await register({ name: "t1", public_key: generateKeyPair().publicKey })).status, 201);
      await rejectsWith(register({ name: "t2", public_key: generateKeyPair().publicKey }), 401, "bad_token");
    });

    test("a cookbook manifest must give each file's real size, and no path may hold a line break", async () => {
      const content = Buffer.from("package 'nginx'\n");
      const sha256 = createHash("sha256").update(content).digest("hex");
      await admin.request("PUT", admin.orgPath("files", sha256), { body: content });
      const manifest = (path: string, size: number) => ({ body: { name: "web", version: "1.0.0", files: [{ path, sha256, size }] } });
      const wrong = await rejectsWith(admin.request("PUT", admin.orgPath("cookbooks", "web", "1.0.0"), manifest("recipes/default.ts", 1)), 400, "size_mismatch");
      assert.match(wrong.message, new RegExp(`listed as 1 bytes, but the uploaded file ${sha256} has ${content.length}`));
      await rejectsWith(admin.request("PUT", admin.orgPath("cookbooks", "web", "1.0.0"), manifest("recipes/default.ts\nfake.ts", content.length)), 400, "unsafe_path");
      assert.equal((await admin.request("PUT", admin.orgPath("cookbooks", "web", "1.0.0"), manifest("recipes/default.ts", content.length))).status, 201);
    });

    test("a misspelled route answers 404 to a signed request", async () => {
      await rejectsWith(admin.get(admin.orgPath("nodez", "web1")), 404, "no_such_route");
      await rejectsWith(admin.get("/api/v1/orgz"), 404, "no_such_route");
    });
  });
}

describe("an unexpected failure is logged even with the request log off", () => {
  test("a 500 writes its error to stderr", async () => {
    const backend = backends[0]!;
    const ctx = await startTestServer(backend);
    const written: string[] = [];
    const original = process.stderr.write.bind(process.stderr);
    try {
      const { admin } = await createOrg(ctx.server.url, ctx.serverAdmin, "acme");
      // The store goes away under the server: every request that needs it fails unexpectedly.
      await ctx.server.store.close();
      process.stderr.write = ((chunk: string | Uint8Array) => {
        written.push(String(chunk));
        return true;
      }) as typeof process.stderr.write;
      await rejectsWith(admin.get(admin.orgPath("nodes")), 500, "internal");
    } finally {
      process.stderr.write = original;
      await ctx.server.app.close();
      await ctx.cleanup();
    }
    const logged = written.map((line) => JSON.parse(line) as { level: string; method: string; url: string; error: string });
    assert.equal(logged.length, 1, written.join(""));
    assert.equal(logged[0]!.level, "error");
    assert.equal(logged[0]!.url, "/api/v1/orgs/acme/nodes");
    assert.match(logged[0]!.error, /not open/);
  });
});

describe("the term limit of a query", () => {
  test("a query of more terms than the limit is a 400 naming it, before any SQL is built", () => {
    const term = (i: number): Query => ({ type: "term", key: { parts: ["a"] }, value: { parts: [String(i)] }, phrase: false });
    const query: Query = { type: "or", items: Array.from({ length: MAX_QUERY_TERMS + 1 }, (_, i) => term(i)) };
    assert.throws(() => checkQueryTerms(query), (error: Error & { status?: number }) => error.status === 400 && new RegExp(`the limit is ${MAX_QUERY_TERMS} terms`).test(error.message));
    assert.doesNotThrow(() => checkQueryTerms({ type: "or", items: query.type === "or" ? query.items.slice(1) : [] }));
  });
});

describe("run reports are private to their owner", () => {
  test("a report is written 0600 in a folder made 0700", () => {
    const dir = mkdtempSync(join(tmpdir(), "sous-report-"));
    try {
      const path = join(dir, "reports", "last.json");
      writeReport(path, { status: "converged" });
      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.equal(statSync(join(dir, "reports")).mode & 0o777, 0o700);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
