// `sous agent --once` as a node runs it, against a real server on loopback: the node's run list
// from the server converges (files in a temp folder), the node is saved and the run reported;
// an unchanged run downloads nothing; a new cookbook version downloads only the files that
// changed; a failed converge saves no node and reports the resource and its output; two runs
// never overlap and a killed run leaves no lock; a stuck run is killed by its timeout; a
// disabled agent skips runs; the agent's files are private to root. Each run is a real `sous`
// process (bin/sous.js over dist/).
import assert from "node:assert/strict";
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { readAgentConfig } from "../../src/agent/config.js";
import { registerNode } from "../../src/agent/register.js";
import { SousApiError, SousClient } from "../../src/client/api.js";
import { scratch } from "../helpers.js";
import { type AgentFixture, bootstrapToken, runSous, startAgentFixture, startSous } from "./fixture.js";

describe("sous agent --once against a server", () => {
  let fixture: AgentFixture;
  const out = scratch("sous-agent-out-");

  before(async () => {
    fixture = await startAgentFixture();
    await fixture.uploadHello("1.0.0");
  });
  after(async () => {
    await fixture?.stop();
  });

  const newNode = (name: string, runList = "recipe[hello]") => fixture.newNode(name, out, runList);
  const reports = (node: string) => fixture.reports(node);

  test("converges the node's run list, saves its facts and reports; a second run downloads nothing and changes nothing", async () => {
    const config = await newNode("web1");
    const first = await runSous(["agent", "--once", "--config", config.file]);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.match(first.stdout, /3 files downloaded, 0 cached/);
    assert.match(first.stdout, /file\[.*web1\.txt\] created/);
    assert.match(first.stdout, /success; report sent/);
    assert.equal(readFileSync(join(out, "web1.txt"), "utf8"), "hi from web1\n");
    const node = await fixture.admin.get<{ automatic: Record<string, unknown>; run_list: string[] }>(fixture.admin.orgPath("nodes", "web1"));
    assert.deepEqual(node.automatic.recipes, ["hello::default"]);
    assert.equal(typeof node.automatic.platform, "string");
    assert.deepEqual(node.run_list, ["recipe[hello]"]);

    const second = await runSous(["agent", "--once", "--config", config.file]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /0 files downloaded, 3 cached/);
    assert.match(second.stdout, /1 resource, 0 updated/);
    const sent = await reports("web1");
    assert.deepEqual(sent.map((report) => [report.status, report.totals.updated]), [["success", 0], ["success", 1]]);
    const full = await fixture.admin.get<{ cookbooks: Record<string, string>; run_list: string[]; resources: unknown[] }>(fixture.admin.orgPath("reports", sent[1]!.id));
    assert.deepEqual(full.cookbooks, { hello: "1.0.0" });
    assert.deepEqual(full.run_list, ["recipe[hello::default]"]);
    assert.equal(full.resources.length, 1);

    // A new version changes the recipe only: the attributes file is not fetched again.
    await fixture.uploadHello("1.1.0", `export default recipe(({ node, resources: { file } }) => {
  const hello = node.attributes.hello as { path: string; greeting: string };
  file(hello.path, { content: \`\${hello.greeting.toUpperCase()} from \${node.name}\\n\`, mode: "0644" });
});`);
    const third = await runSous(["agent", "--once", "--config", config.file]);
    assert.equal(third.code, 0, third.stderr);
    assert.match(third.stdout, /2 files downloaded, 1 cached/);
    assert.equal(readFileSync(join(out, "web1.txt"), "utf8"), "HI from web1\n");
    assert.deepEqual((await reports("web1"))[0]!.totals.updated, 1);
  });

  test("recipes search the server with the node's own key: a new app node appears in the load balancer's file at the next run; a cached run replays the last answers", async () => {
    const listing = join(out, "backends.txt");
    await fixture.uploadCookbook("lb", `export default recipe(({ search, resources: { file } }) => {
  const apps = search<{ name: string; ip: string }>("node", "role:app", { keys: { name: ["name"], ip: ["ipaddress"] } });
  file(${JSON.stringify(listing)}, { content: apps.map((app) => \`\${app.name} \${app.ip}\\n\`).join("") });
});`);
    await fixture.admin.request("PUT", fixture.admin.orgPath("roles", "app"), { body: { name: "app", run_list: [] } });
    const app = (name: string, ip: string) => fixture.admin.request("PUT", fixture.admin.orgPath("nodes", name), { body: { name, run_list: ["role[app]"], automatic: { ipaddress: ip } } });
    await app("app1", "10.0.0.11");
    const config = await newNode("lb1", "recipe[lb]");
    assert.equal((await runSous(["agent", "--once", "--config", config.file])).code, 0);
    assert.equal(readFileSync(listing, "utf8"), "app1 10.0.0.11\n");
    await app("app2", "10.0.0.12");
    const run = await runSous(["agent", "--once", "--config", config.file]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(readFileSync(listing, "utf8"), "app1 10.0.0.11\napp2 10.0.0.12\n");
    // With the server down, the cached run gets the answers the last good run got: the file stays as it is.
    const port = Number(new URL(fixture.server.url).port);
    await fixture.server.close();
    try {
      const cached = await runSous(["agent", "--once", "--config", config.file]);
      assert.equal(cached.code, 0, cached.stdout + cached.stderr);
      assert.match(cached.stdout, /1 resource, 0 updated/);
      assert.match(cached.stdout, /cached; report queued/);
      assert.equal(readFileSync(listing, "utf8"), "app1 10.0.0.11\napp2 10.0.0.12\n");
    } finally {
      fixture = await restart(fixture, port);
    }
  });

  test("the node's key, cache and queue are private to root", async () => {
    const config = await newNode("private1");
    const run = await runSous(["agent", "--once", "--config", config.file]);
    assert.equal(run.code, 0, run.stderr);
    const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);
    assert.equal(mode(config.keyFile), "600");
    const state = readAgentConfig(config.file).paths;
    for (const dir of [state.stateDir, state.cacheDir, state.queueDir]) {
      assert.equal(mode(dir), "700", dir);
      assert.equal(statSync(dir).uid, 0, dir);
    }
  });

  test("a failed converge saves no node and reports failed with the resource, command and output", async () => {
    await fixture.admin.request("PUT", fixture.admin.orgPath("roles", "broken"), { body: { name: "broken", run_list: ["recipe[hello]", "recipe[failing]"] } });
    await fixture.uploadCookbook("failing", `export default recipe(({ resources: { execute } }) => {
  execute("fail", { command: ["sh", "-c", "echo it broke; exit 3"] });
});`);
    const config = await newNode("db1", "role[broken]");
    const before = await fixture.admin.request("GET", fixture.admin.orgPath("nodes", "db1"));
    const run = await runSous(["agent", "--once", "--config", config.file]);
    assert.equal(run.code, 1, run.stdout);
    assert.match(run.stdout, /execute\[fail\]/);
    const after = await fixture.admin.request<{ automatic: Record<string, unknown> }>("GET", fixture.admin.orgPath("nodes", "db1"));
    assert.equal(after.etag, before.etag, "the node was saved after a failed run");
    assert.deepEqual(after.body.automatic, {});
    const [summary] = await reports("db1");
    assert.equal(summary!.status, "failed");
    const report = await fixture.admin.get<{ failure: { resource: string; command: string; exit_code: number; output: string; location: string }; totals: { failed: number } }>(fixture.admin.orgPath("reports", summary!.id));
    assert.equal(report.failure.resource, "execute[fail]");
    assert.equal(report.failure.exit_code, 3);
    assert.match(report.failure.output, /it broke/);
    assert.match(report.failure.command, /echo it broke/);
    assert.match(report.failure.location, /failing\/recipes\/default\.ts:3$/);
    assert.equal(report.totals.failed, 1);
  });

  test("two runs never overlap: the second exits at once naming the holder's PID, or waits with --lock-timeout; a killed run leaves no lock", async () => {
    const marks = join(out, "slow-marks");
    await fixture.uploadCookbook("slow", `export default recipe(({ resources: { execute } }) => {\n  execute("slow", { command: ["sh", "-c", "echo start >> ${marks}; sleep 2; echo end >> ${marks}"] });\n});`);
    const config = await newNode("slow1", "recipe[slow]");

    const first = startSous(["agent", "--once", "--config", config.file]);
    await waitFor(() => existsSync(marks) && readFileSync(marks, "utf8").includes("start"));
    const refused = await runSous(["agent", "--once", "--config", config.file]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, new RegExp(`another run holds the lock .*\\(PID ${first.pid}\\)`));
    const waiting = await runSous(["agent", "--once", "--lock-timeout", "30", "--config", config.file]);
    assert.equal(waiting.code, 0, waiting.stderr);
    assert.equal((await first.done).code, 0);
    // Runs one after the other: start, end, start, end.
    assert.equal(readFileSync(marks, "utf8"), "start\nend\nstart\nend\n");

    const killed = startSous(["agent", "--once", "--config", config.file]);
    await waitFor(() => readFileSync(marks, "utf8").split("start").length === 4);
    process.kill(killed.pid, "SIGKILL");
    await killed.done;
    const afterKill = await runSous(["agent", "--once", "--config", config.file]);
    assert.equal(afterKill.code, 0, afterKill.stderr);
  });

  test("a stuck run is killed at its timeout and reported failed", async () => {
    const pidFile = join(out, "stuck.pid");
    await fixture.uploadCookbook("stuck", `export default recipe(({ resources: { execute } }) => {\n  execute("stuck", { command: ["sh", "-c", "echo $$ > ${pidFile}; exec sleep 300"] });\n});`);
    const config = await newNode("stuck1", "recipe[stuck]");
    const started = Date.now();
    const run = await runSous(["agent", "--once", "--run-timeout", "3", "--config", config.file]);
    assert.equal(run.code, 124, run.stdout + run.stderr);
    assert.ok(Date.now() - started < 20_000);
    assert.match(run.stderr, /took longer than its timeout of 3 s and was killed/);
    const pid = Number(readFileSync(pidFile, "utf8"));
    // Killed: gone, or a zombie until its new parent reaps it.
    const running = () => {
      try {
        return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
      } catch {
        return false;
      }
    };
    await waitFor(() => !running(), 5_000).catch(() => assert.fail("the stuck command still runs"));
    const [summary] = await reports("stuck1");
    assert.equal(summary!.status, "failed");
  });

  test("a disabled agent skips runs and says why; enable runs again", async () => {
    const config = await newNode("web2");
    const disabled = await runSous(["agent", "disable", "--config", config.file, "upgrading", "the", "kernel"]);
    assert.equal(disabled.code, 0, disabled.stderr);
    const skipped = await runSous(["agent", "--once", "--config", config.file]);
    assert.equal(skipped.code, 0);
    assert.match(skipped.stdout, /disabled since .*: upgrading the kernel/);
    assert.equal(existsSync(join(out, "web2.txt")), false);
    assert.equal((await reports("web2")).length, 0);
    assert.match((await runSous(["agent", "enable", "--config", config.file])).stdout, /Agent enabled/);
    const run = await runSous(["agent", "--once", "--config", config.file]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(readFileSync(join(out, "web2.txt"), "utf8"), /^hi from web2\n$/i);
  });

  test("a node's key writes only its own node and reports; a bootstrap token works once and expires; the validator key registers too", async () => {
    const config = await newNode("web3");
    const own = new SousClient({ serverUrl: fixture.server.url, org: "acme", client: "web3", privateKeyFile: config.keyFile });
    await own.saveNode({ name: "web3", run_list: ["recipe[hello]"], normal: {} });
    await assert.rejects(own.saveNode({ name: "web1", run_list: [] }), (error: SousApiError) => error.status === 403);
    const report = { id: "6f0c3a52-5d7e-4a57-9d44-0d6f2f5a1b11", node: "web1", status: "success", started_at: new Date().toISOString(), ended_at: new Date().toISOString(), run_list: [], environment: "_default", cookbooks: {}, totals: { resources: 0, updated: 0, skipped: 0, failed: 0 }, resources: [] };
    await assert.rejects(own.request("POST", own.orgPath("reports"), { body: report }), (error: SousApiError) => error.status === 403);
    await own.request("POST", own.orgPath("reports"), { body: { ...report, node: "web3" } });

    const token = await bootstrapToken(fixture.admin);
    const stolenOnce = fixture.agentConfig("thief1");
    await registerNode(readAgentConfig(stolenOnce.file), { token });
    const again = fixture.agentConfig("thief2");
    await assert.rejects(registerNode(readAgentConfig(again.file), { token }), (error: SousApiError) => error.status === 401 && /already used or expired/.test(error.message));
    assert.equal(existsSync(again.keyFile), false, "a refused registration left a key behind");

    // Chef's older way: the validator key registers the node, and is deleted from it afterwards.
    const legacy = fixture.agentConfig("legacy1");
    const validatorCopy = join(legacy.stateDir, "validator.pem");
    copyFileSync(join(fixture.home, "acme", "acme-validator.pem"), validatorCopy);
    await registerNode(readAgentConfig(legacy.file), { validatorKeyFile: validatorCopy });
    assert.equal(existsSync(validatorCopy), false, "the validator key stayed on the node");
    const legacyClient = new SousClient({ serverUrl: fixture.server.url, org: "acme", client: "legacy1", privateKeyFile: legacy.keyFile });
    await legacyClient.saveNode({ name: "legacy1", run_list: [] });

    const short = await bootstrapToken(fixture.admin, 1);
    await sleep(1500);
    await assert.rejects(registerNode(readAgentConfig(fixture.agentConfig("late1").file), { token: short }), (error: SousApiError) => error.status === 401);
  });

  test("with the server down, the run converges the last good cache, marked cached; queued reports arrive in order once it is back, each once", async () => {
    const config = await newNode("web4");
    assert.equal((await runSous(["agent", "--once", "--config", config.file])).code, 0);
    const port = Number(new URL(fixture.server.url).port);
    await fixture.server.close();
    const offline: string[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const run = await runSous(["agent", "--once", "--config", config.file]);
        assert.equal(run.code, 0, run.stdout + run.stderr);
        assert.match(run.stdout, /The server is unavailable .*converging the cached run/);
        assert.match(run.stdout, /cached; report queued \(\d+ waiting/);
        offline.push(/Agent run (\S+):/.exec(run.stdout)![1]!);
      }
    } finally {
      fixture = await restart(fixture, port);
    }
    const back = await runSous(["agent", "--once", "--config", config.file]);
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stdout, /success; report sent with 2 queued before it/);
    const sent = (await reports("web4")).reverse();
    assert.deepEqual(sent.map((report) => report.status), ["success", "cached", "cached", "success"]);
    assert.deepEqual(sent.slice(1, 3).map((report) => report.id), offline);
    assert.deepEqual(sent.map((report) => report.queued === true), [false, true, true, false]);
    const queueDir = readAgentConfig(config.file).paths.queueDir;
    assert.deepEqual(readdirSync(queueDir).filter((name) => name.endsWith(".json")), []);
  });

  test("a report whose answer was cut off (the server gone midway through the upload) is sent again by the next run and stored once", async () => {
    const { createServer, request } = await import("node:http");
    const target = new URL(fixture.server.url);
    let cut = 0;
    let cutting = true;
    // Between agent and server: during the first run each report reaches the server, then the connection dies before its answer.
    const proxy = createServer((incoming, outgoing) => {
      const upstream = request({ host: target.hostname, port: target.port, method: incoming.method, path: incoming.url, headers: incoming.headers }, (answer) => {
        if (incoming.method === "POST" && incoming.url!.endsWith("/reports") && cutting) {
          cut++;
          answer.resume();
          answer.on("end", () => incoming.socket.destroy());
          return;
        }
        outgoing.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(outgoing);
      });
      incoming.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    try {
      const config = await fixture.newNode("web6", out, "recipe[hello]");
      const { writeFileSync } = await import("node:fs");
      const settings = JSON.parse(readFileSync(config.file, "utf8")) as Record<string, unknown>;
      writeFileSync(config.file, JSON.stringify({ ...settings, server_url: `http://127.0.0.1:${(proxy.address() as { port: number }).port}` }));
      const first = await runSous(["agent", "--once", "--config", config.file]);
      assert.equal(first.code, 0, first.stderr);
      // Cut every time (the client sends once more at once on a fresh connection, then leaves it queued).
      assert.ok(cut >= 1);
      cutting = false;
      assert.match(first.stdout, /success; report queued \(1 waiting/);
      const firstId = /Agent run (\S+):/.exec(first.stdout)![1]!;
      assert.deepEqual((await reports("web6")).map((report) => report.id), [firstId], "the server did not store the report whose answer was lost");
      const second = await runSous(["agent", "--once", "--config", config.file]);
      assert.match(second.stdout, /report sent with 1 queued before it/);
      const stored = await reports("web6");
      assert.equal(stored.length, 2);
      assert.deepEqual(stored.map((report) => report.id).filter((id) => id === firstId), [firstId]);
    } finally {
      proxy.close();
    }
  });

  test("with the server down and the node moved to another environment, the cached run is refused", async () => {
    const config = await newNode("web5");
    assert.equal((await runSous(["agent", "--once", "--config", config.file])).code, 0);
    await fixture.admin.request("PUT", fixture.admin.orgPath("environments", "production"), { body: { name: "production", cookbook_versions: { hello: "= 9.9.9" } } });
    await fixture.admin.request("PUT", fixture.admin.orgPath("nodes", "web5"), { body: { name: "web5", chef_environment: "production", run_list: ["recipe[hello]"], normal: {} } });
    // The environment pins a version that does not exist: this run fails, the cache stays the _default one.
    const failed = await runSous(["agent", "--once", "--config", config.file]);
    assert.equal(failed.code, 1);
    const port = Number(new URL(fixture.server.url).port);
    await fixture.server.close();
    try {
      const run = await runSous(["agent", "--once", "--config", config.file]);
      assert.equal(run.code, 1, run.stdout);
      assert.match(run.stderr, /the cached run is of environment _default but the node is now in production: not converging from the cache/);
    } finally {
      fixture = await restart(fixture, port);
    }
  });

  test("against an HTTPS server with a self-signed certificate, the agent trusts the certificate its configuration names, and only then", async () => {
    const config = await newNode("tls1");
    const dir = scratch("sous-agent-tls-");
    const [cert, key] = [join(dir, "cert.pem"), join(dir, "key.pem")];
    const { execFileSync } = await import("node:child_process");
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert], { stdio: "ignore" });
    const port = Number(new URL(fixture.server.url).port);
    await fixture.server.close();
    const { startServer } = await import("../../src/server/server.js");
    const tls = await startServer({ dataDir: join(fixture.home, "server"), port, tlsCertFile: cert, tlsKeyFile: key });
    try {
      const { writeFileSync } = await import("node:fs");
      const settings = JSON.parse(readFileSync(config.file, "utf8")) as Record<string, unknown>;
      writeFileSync(config.file, JSON.stringify({ ...settings, server_url: `https://127.0.0.1:${port}` }));
      const untrusted = await runSous(["agent", "--once", "--config", config.file]);
      assert.equal(untrusted.code, 1);
      assert.match(untrusted.stderr, /presented a TLS certificate this machine does not trust/);
      writeFileSync(config.file, JSON.stringify({ ...settings, server_url: `https://127.0.0.1:${port}`, trusted_certificate: cert }));
      const trusted = await runSous(["agent", "--once", "--config", config.file]);
      assert.equal(trusted.code, 0, trusted.stdout + trusted.stderr);
      assert.match(trusted.stdout, /success; report sent/);
    } finally {
      await tls.close();
      fixture = await restart(fixture, port);
    }
  });
});

/** Starts the fixture's server again on the same port and data, as an administrator would restart it. */
async function restart(fixture: AgentFixture, port: number): Promise<AgentFixture> {
  const { startServer } = await import("../../src/server/server.js");
  for (let attempt = 0; ; attempt++) {
    try {
      const server = await startServer({ dataDir: join(fixture.home, "server"), port });
      fixture.server = server;
      return fixture;
    } catch (error) {
      if (attempt > 20) throw error;
      await sleep(100);
    }
  }
}

async function waitFor(check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await sleep(50);
  }
}
