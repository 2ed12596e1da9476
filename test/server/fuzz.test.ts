// Bounded fuzzing: random queries and random JSON bodies must get an answer (a result or a 4xx
// with a message), never a crash or a 500. Seeded, so a failure reproduces.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { signRequest } from "../../src/protocol/signing.js";
import { ApiError } from "../../src/server/errors.js";
import { parseQuery } from "../../src/server/search/query.js";
import { backends, createOrg, startTestServer } from "./helpers.js";
import { prng } from "./prng.js";


const TOKENS = ["role", ":", "web", "*", "?", " ", "AND", "OR", "NOT", "-", "+", "!", "(", ")", "[", "]", "{", "}", " TO ", '"', "\\", "/", "&&", "||", "^", "~", "1", "10.0.", "a.b", "_", "%", "'", "\u00e9", "\u0000", ":*", "*:*"];

function randomQuery(random: () => number): string {
  const length = 1 + Math.floor(random() * 12);
  let query = "";
  for (let i = 0; i < length; i++) query += TOKENS[Math.floor(random() * TOKENS.length)];
  return query;
}

function randomJson(random: () => number, depth = 0): unknown {
  const pick = Math.floor(random() * (depth > 3 ? 5 : 8));
  switch (pick) {
    case 0: return null;
    case 1: return random() < 0.5;
    case 2: return Math.floor(random() * 1e6) - 5e5;
    case 3: return ["web", "", "role[web]", "../x", "a b", "\u0000", "x".repeat(300)][Math.floor(random() * 7)];
    case 4: return 1e308 * (random() < 0.5 ? 1 : -1);
    case 5: return Array.from({ length: Math.floor(random() * 4) }, () => randomJson(random, depth + 1));
    default: {
      const keys = ["name", "run_list", "automatic", "normal", "id", "files", "dependencies", "chef_environment", "env_run_lists", "cookbook_versions", "path", "sha256", "size", "__proto__", "constructor"];
      const out: Record<string, unknown> = {};
      for (let i = 0; i < Math.floor(random() * 5); i++) out[keys[Math.floor(random() * keys.length)]!] = randomJson(random, depth + 1);
      return out;
    }
  }
}

test("the query parser answers every random query with a query or a 400", () => {
  const random = prng(1234);
  for (let i = 0; i < 3000; i++) {
    const query = randomQuery(random);
    try {
      parseQuery(query);
    } catch (error) {
      assert.ok(error instanceof ApiError && error.status === 400, `query ${JSON.stringify(query)} threw ${String(error)}`);
      assert.match(error.message, /search query/);
    }
  }
});

const sqlite = backends.find((backend) => backend.name === "sqlite")!;

describe("random requests against the API", () => {
  let ctx: Awaited<ReturnType<typeof startTestServer>>;
  let app: FastifyInstance;
  let key: import("node:crypto").KeyObject;
  before(async () => {
    ctx = await startTestServer(sqlite);
    app = ctx.server.app;
    const { admin } = await createOrg(ctx.server.url, ctx.serverAdmin, "acme");
    key = (admin as unknown as { key: import("node:crypto").KeyObject }).key;
    await admin.request("POST", admin.orgPath("data"), { body: { name: "bag" } });
    await admin.request("PUT", admin.orgPath("nodes", "web"), { body: { name: "web", automatic: { a: { b: 1 } } } });
  });
  after(async () => ctx?.cleanup());

  const send = async (method: string, rawUrl: string, body?: string) => {
    // Sign what goes on the wire: WHATWG URL normalization (as fetch applies it) first.
    const parsed = new URL(rawUrl, "http://localhost");
    const url = parsed.pathname + parsed.search;
    const headers = { "content-type": "application/json", ...signRequest({ method, path: url, ...(body !== undefined ? { body } : {}), client: "alice", privateKey: key }) };
    return app.inject({ method: method as "GET", url, headers, ...(body !== undefined ? { payload: body } : {}) });
  };

  test("random queries through search never give a 500", async () => {
    const random = prng(99);
    for (let i = 0; i < 300; i++) {
      const query = randomQuery(random);
      const response = await send("GET", `/api/v1/orgs/acme/search/node?q=${encodeURIComponent(query)}`);
      assert.ok(response.statusCode === 200 || response.statusCode === 400, `q=${JSON.stringify(query)}: ${response.statusCode} ${response.body}`);
    }
  });

  test("random JSON bodies on every writing route never give a 500", async () => {
    const random = prng(7);
    const routes: Array<[string, string]> = [
      ["PUT", "/api/v1/orgs/acme/nodes/web"], ["POST", "/api/v1/orgs/acme/nodes"], ["POST", "/api/v1/orgs/acme/roles"], ["PUT", "/api/v1/orgs/acme/roles/r"],
      ["POST", "/api/v1/orgs/acme/environments"], ["POST", "/api/v1/orgs/acme/data/bag"], ["PUT", "/api/v1/orgs/acme/data/bag/item"], ["POST", "/api/v1/orgs/acme/data"],
      ["PUT", "/api/v1/orgs/acme/cookbooks/cb/1.0.0"], ["POST", "/api/v1/orgs/acme/cookbooks/check"], ["POST", "/api/v1/orgs/acme/search/node"],
      ["POST", "/api/v1/orgs/acme/clients"], ["POST", "/api/v1/orgs/acme/environments/_default/cookbook_versions"], ["POST", "/api/v1/orgs/acme/bootstrap-tokens"],
    ];
    for (let i = 0; i < 500; i++) {
      const [method, url] = routes[i % routes.length]!;
      const value = randomJson(random);
      const body = random() < 0.1 ? JSON.stringify(value).slice(0, -1) : JSON.stringify(value);
      const response = await send(method, url, body);
      assert.ok(response.statusCode < 500, `${method} ${url} ${body}: ${response.statusCode} ${response.body}`);
      if (response.statusCode >= 400) assert.ok((JSON.parse(response.body) as { error: { message: string } }).error.message.length > 0);
    }
  });
});
