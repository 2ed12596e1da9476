// The API client's connections: kept alive between requests, a request the server dropped on a
// kept-alive connection sent again, a server that does not answer reported as such.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { test } from "node:test";
import { SousApiError, SousClient } from "../../src/client/api.js";
import { generateKeyPair } from "../../src/protocol/signing.js";

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function client(url: string, timeoutMs?: number): SousClient {
  return new SousClient({ serverUrl: url, org: "acme", client: "alice", privateKey: generateKeyPair().privateKey, ...(timeoutMs ? { timeoutMs } : {}) });
}

test("requests share one kept-alive connection; one dropped on a reused connection is sent again on a new one", async (t) => {
  const connections = new Set<Socket>();
  let answered = 0;
  let dropped = 0;
  const server = createServer((req, res) => {
    // The third request is dropped without an answer, as a server closing an idle connection does.
    if (answered === 2 && dropped === 0) {
      dropped++;
      req.socket.destroy();
      return;
    }
    answered++;
    res.setHeader("content-type", "application/json");
    res.setHeader("etag", `"e${answered}"`);
    res.end(JSON.stringify({ n: answered, signedBy: req.headers["x-sous-client"] ?? null }));
  });
  server.on("connection", (socket: Socket) => connections.add(socket));
  const url = await listen(server);
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const api = client(url);
  const first = await api.request<{ n: number; signedBy: string }>("GET", "/api/v1/orgs/acme/nodes");
  assert.equal(first.body.signedBy, "alice");
  const second = await api.request<{ n: number }>("PUT", "/api/v1/orgs/acme/nodes/web1", { body: { name: "web1" } });
  assert.deepEqual([first.body.n, second.body.n, second.etag], [1, 2, "e2"]);
  assert.equal(connections.size, 1, "the second request used the first one's connection");
  const third = await api.request<{ n: number }>("PUT", "/api/v1/orgs/acme/nodes/web1", { body: { name: "web1" } });
  assert.equal(third.body.n, 3);
  assert.equal(dropped, 1);
  assert.equal(connections.size, 2, "the dropped request went again on a new connection");
  server.closeAllConnections();
});

test("a server that accepts the connection but never answers is reported, not waited on forever", async (t) => {
  const server = createServer(() => undefined);
  const url = await listen(server);
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const started = performance.now();
  await assert.rejects(client(url, 300).request("GET", "/api/v1/orgs/acme/nodes"), (error: unknown) => {
    assert.ok(error instanceof SousApiError);
    assert.equal(error.code, "unreachable");
    assert.match(error.message, /cannot reach the Sous server at http:\/\/127\.0\.0\.1:\d+ \(ETIMEDOUT\)/);
    return true;
  });
  assert.ok(performance.now() - started < 5000);
});

test("a request the server drops on a new connection is an error, not sent twice", async (t) => {
  let seen = 0;
  const server = createServer((req) => {
    seen++;
    req.socket.destroy();
  });
  const url = await listen(server);
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  await assert.rejects(client(url).request("PUT", "/api/v1/orgs/acme/nodes/web1", { body: { name: "web1" } }), /cannot reach the Sous server .*\((ECONNRESET|socket hang up)\)/);
  assert.equal(seen, 1);
});

test("an answer cut off midway is an error, not a wait", async (t) => {
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json", "content-length": "1000" });
    res.write('{"total":');
    setTimeout(() => res.socket?.destroy(), 20);
  });
  const url = await listen(server);
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const started = performance.now();
  await assert.rejects(client(url).request("GET", "/api/v1/orgs/acme/nodes"), /cannot reach the Sous server .*\((ECONNRESET|aborted)\)/);
  assert.ok(performance.now() - started < 5000);
});
