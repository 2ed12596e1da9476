/** `remote_file` against a real HTTP server on 127.0.0.1 (port chosen at run time). */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { convergeTwice, convergeWith, eventsOf, scratch, serveHttp } from "../helpers.js";

const sha256 = (content: Buffer | string) => createHash("sha256").update(content).digest("hex");

test("remote_file downloads, then with a checksum that matches it is not downloaded again", async () => {
  const body = Buffer.from("release 1.0\n".repeat(100));
  const server = await serveHttp({ "/app.tar": body });
  const dir = scratch();
  const path = join(dir, "app.tar");
  await convergeTwice(
    ({ remoteFile }) => void remoteFile(path, { source: `${server.url}/app.tar`, checksum: `sha256:${sha256(body).toUpperCase()}`, mode: "0640" }),
    [`remote_file[${path}]`],
  );
  assert.ok(readFileSync(path).equals(body));
  assert.equal(statSync(path).mode & 0o7777, 0o640);
  assert.equal(server.requests.get("/app.tar"), 1, "the second run must not download a file whose checksum matches");
});

test("remote_file without a checksum downloads each run but reports no change when the content is the same", async () => {
  const server = await serveHttp({ "/motd": "hello\n" });
  const dir = scratch();
  const path = join(dir, "motd");
  await convergeTwice(({ remoteFile }) => void remoteFile(path, { source: `${server.url}/motd` }), [`remote_file[${path}]`]);
  assert.equal(readFileSync(path, "utf8"), "hello\n");

  server.routes.set("/motd", "changed\n");
  await convergeTwice(({ remoteFile }) => void remoteFile(path, { source: `${server.url}/motd` }), [`remote_file[${path}]`]);
  assert.equal(readFileSync(path, "utf8"), "changed\n");
});

test("a checksum mismatch fails and leaves the old file byte-identical", async () => {
  const server = await serveHttp({ "/app.tar": "tampered content" });
  const dir = scratch();
  const path = join(dir, "app.tar");
  const old = Buffer.from([0, 1, 2, 3, 255, 10]);
  writeFileSync(path, old);
  const before = statSync(path);
  const expected = sha256("the real content");
  const { result, events } = await convergeWith(({ remoteFile }) => void remoteFile(path, { source: `${server.url}/app.tar`, checksum: expected }));
  assert.equal(result.status, "failed");
  const message = eventsOf(events, "resource:failed")[0]!.error.message;
  assert.match(message, /checksum mismatch/);
  assert.ok(message.includes(expected), message);
  assert.ok(readFileSync(path).equals(old));
  assert.equal(statSync(path).mtimeMs, before.mtimeMs);
  assert.deepEqual(readdirSync(dir), ["app.tar"]);
});

test("an HTTP error fails with the status, and nothing is written", async () => {
  const server = await serveHttp({});
  const dir = scratch();
  const path = join(dir, "missing");
  const { result, events } = await convergeWith(({ remoteFile }) => void remoteFile(path, { source: `${server.url}/nope` }));
  assert.equal(result.status, "failed");
  assert.match(eventsOf(events, "resource:failed")[0]!.error.message, /HTTP 404/);
  assert.equal(existsSync(path), false);
});

test("remote_file create_if_missing does not download when the file exists", async () => {
  const server = await serveHttp({ "/seed": "seed\n" });
  const dir = scratch();
  const path = join(dir, "seed");
  await convergeTwice(({ remoteFile }) => void remoteFile(path, { source: `${server.url}/seed`, action: "create_if_missing" }), [`remote_file[${path}]`]);
  assert.equal(server.requests.get("/seed"), 1);
});

test("remote_file sends its headers and never shows them", async () => {
  const token = "Bearer tok-991-secret";
  const server = await serveHttp({ "/private": "data\n" });
  const dir = scratch();
  const path = join(dir, "private");
  const { first } = await convergeTwice(({ remoteFile }) => void remoteFile(path, { source: `${server.url}/private`, headers: { authorization: token } }), [`remote_file[${path}]`]);
  assert.equal(readFileSync(path, "utf8"), "data\n");
  assert.equal(server.headers.get("/private")?.authorization, token);
  assert.ok(!JSON.stringify(first.events).includes("tok-991-secret"));
});

test("a download cut off midway fails naming the URL, and the old file stays as it was", async () => {
  const { createServer } = await import("node:http");
  const server = createServer((_request, response) => {
    response.writeHead(200, { "content-length": "100000" });
    response.write("partial");
    setTimeout(() => response.destroy(), 50);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  const url = `http://127.0.0.1:${(server.address() as import("node:net").AddressInfo).port}/big.tar`;
  const dir = scratch();
  const path = join(dir, "big.tar");
  writeFileSync(path, "old\n");
  const { result, events } = await convergeWith(({ remoteFile }) => void remoteFile(path, { source: url }));
  assert.equal(result.status, "failed");
  const message = eventsOf(events, "resource:failed")[0]!.error.message;
  assert.ok(message.includes(url), message);
  assert.equal(readFileSync(path, "utf8"), "old\n");
  assert.deepEqual(readdirSync(dir), ["big.tar"]);
});
