// `sous server --tls-cert --tls-key`: the API over HTTPS with a given certificate.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startServer } from "../../src/server/server.js";

test("the server speaks HTTPS with the certificate it is given", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "sous-tls-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert], { stdio: "ignore" });
  const server = await startServer({ dataDir: join(dir, "data"), port: 0, tlsCertFile: cert, tlsKeyFile: key, location: { sqliteFile: join(dir, "sous.db") } });
  t.after(() => server.close());
  assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const body = await new Promise<string>((resolve, reject) => {
    const req = request(`${server.url}/api/v1/health`, { ca: readFileSync(cert) }, (res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => (text += chunk.toString()));
      res.on("end", () => resolve(text));
    });
    req.on("error", reject);
    req.end();
  });
  assert.deepEqual(JSON.parse(body), { status: "ok", store: "sqlite" });
  await assert.rejects(startServer({ dataDir: join(dir, "data2"), port: 0, tlsCertFile: cert, location: { sqliteFile: join(dir, "other.db") } }), /TLS needs both/);
});
