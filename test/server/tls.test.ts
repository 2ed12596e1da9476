// `sous server --tls-cert --tls-key`: the API over HTTPS with a given certificate.
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { startServer } from "../../src/server/server.js";

const ROOT = resolve(import.meta.dirname, "../..");

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
  // The CLI: a self-signed certificate is refused with what to do; trusted through NODE_EXTRA_CA_CERTS, it works.
  const home = join(dir, "home");
  // Another process (the server runs in this one, so the test must not block while it waits).
  const cli = (env: NodeJS.ProcessEnv) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((done) => {
      const child = execFile(process.execPath, [join(ROOT, "bin/sous.js"), "org", "create", "acme", "--server-url", server.url, "--server-key", server.adminKeyFile!], { env: { ...process.env, SOUS_HOME: home, ...env }, encoding: "utf8" }, (_error, stdout, stderr) => done({ status: child.exitCode, stdout, stderr }));
    });
  const refused = await cli({});
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /presented a TLS certificate this machine does not trust \(DEPTH_ZERO_SELF_SIGNED_CERT\); if it is self-signed or from your own CA, set NODE_EXTRA_CA_CERTS/);
  const trusted = await cli({ NODE_EXTRA_CA_CERTS: cert });
  assert.equal(trusted.status, 0, trusted.stderr);
  assert.match(trusted.stdout, /Created organization acme/);
  await assert.rejects(startServer({ dataDir: join(dir, "data2"), port: 0, tlsCertFile: cert, location: { sqliteFile: join(dir, "other.db") } }), /TLS needs both/);
});
