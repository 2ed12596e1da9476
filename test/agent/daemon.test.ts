// The agent daemon (`sous agent`) against a real server on loopback: it runs at start, then at
// once on `sous agent --now` (SIGUSR1) and on a run-now request from the server (long-poll),
// each report naming the request it answers; with the server stopped for three intervals it
// keeps converging from its cache, and every report of those runs arrives once the server is
// back, in order, each once; SIGTERM stops it and removes its pid file.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { readAgentConfig } from "../../src/agent/config.js";
import { scratch } from "../helpers.js";
import { type AgentFixture, runSous, startAgentFixture, startSous } from "./fixture.js";

describe("sous agent (the daemon)", () => {
  let fixture: AgentFixture;
  const out = scratch("sous-daemon-out-");
  before(async () => {
    fixture = await startAgentFixture();
    await fixture.uploadHello("1.0.0");
  });
  after(async () => {
    await fixture?.stop();
  });

  const newNode = async (name: string) => (await fixture.newNode(name, out, "recipe[hello]", { splay: 0 })).file;
  const reports = async (node: string) => (await fixture.reports(node)).reverse();
  async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await check();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(100);
    }
  }

  test("runs at start, then at once on --now and on a run-now request; SIGTERM stops it", async () => {
    const config = await newNode("web7");
    const daemon = startSous(["agent", "--config", config, "--interval", "3600"]);
    try {
      await until("the first run's report", async () => ((await reports("web7")).length === 1 ? true : undefined));
      const now = await runSous(["agent", "--now", "--config", config]);
      assert.equal(now.code, 0, now.stderr);
      assert.match(now.stdout, new RegExp(`Asked the agent \\(PID ${daemon.pid}\\) to run now`));
      await until("the --now run's report", async () => ((await reports("web7")).length === 2 ? true : undefined), 15_000);

      const { body: request } = await fixture.admin.request<{ id: string; nodes: string[] }>("POST", fixture.admin.orgPath("run-requests"), { body: { query: "name:web7" } });
      assert.deepEqual(request.nodes, ["web7"]);
      const asked = Date.now();
      const answer = await until("the run-now request's report", async () => (await reports("web7")).find((report) => report.run_request === request.id), 15_000);
      assert.equal(answer.status, "success");
      assert.ok(Date.now() - asked < 10_000, `the run-now request took ${Date.now() - asked} ms`);
    } finally {
      process.kill(daemon.pid, "SIGTERM");
      if (process.env.DEBUG_AGENT) setTimeout(() => console.log(daemon.output()), 500);
    }
    const ended = await daemon.done;
    assert.equal(ended.code, 0, ended.stdout + ended.stderr);
    assert.match(ended.stdout, /sous agent stopped/);
    assert.equal(existsSync(readAgentConfig(config).paths.pidFile), false);
  });

  test("with the server stopped for three intervals it converges from the cache; the reports of those runs arrive after, in order, once each", async () => {
    const config = await newNode("web8");
    const daemon = startSous(["agent", "--config", config, "--interval", "1"]);
    try {
      await until("the first run's report", async () => ((await reports("web8")).length >= 1 ? true : undefined));
      const port = Number(new URL(fixture.server.url).port);
      await fixture.server.close();
      // Three intervals' runs while it is down, each converged from the cache.
      await until("three cached runs", async () => ((daemon.output().match(/: cached; report queued/g) ?? []).length >= 3 ? true : undefined), 30_000);
      const restartedAt = Date.now();
      const { startServer } = await import("../../src/server/server.js");
      fixture.server = await startServer({ dataDir: join(fixture.home, "server"), port });
      const all = await until(
        "the queued reports",
        async () => {
          const sent = await reports("web8");
          return sent.filter((report) => report.status === "cached").length >= 3 && sent.at(-1)!.status === "success" && Date.parse(sent.at(-1)!.started_at) > restartedAt ? sent : undefined;
        },
        30_000,
      );
      const cached = all.filter((report) => report.status === "cached");
      assert.ok(cached.length >= 3, `only ${cached.length} of the cached runs arrived`);
      assert.ok(cached.every((report) => report.queued === true));
      assert.equal(new Set(all.map((report) => report.id)).size, all.length, "a report was stored twice");
      // Sent in the order the runs happened: by the time the server received them, their starts ascend.
      const starts = [...all].sort((a, b) => Date.parse(a.received_at) - Date.parse(b.received_at)).map((report) => report.started_at);
      assert.deepEqual(starts, [...starts].sort(), "reports arrived out of order");
      assert.match(daemon.output(), /The server is unavailable/);
    } finally {
      process.kill(daemon.pid, "SIGTERM");
      await daemon.done;
      if (process.env.DEBUG_AGENT) console.log(daemon.output());
    }
  });
});
