/**
 * The switch under load and under SIGKILL, on three SSH hosts of the test fleet: a Node web app
 * behind a load balancer keeps answering every request through a rolling deploy and a rollback
 * (restarted by a hook, gated by an HTTP health check); and a deploy killed with SIGKILL at
 * random points of its switch phase, 20 times, always leaves every host's `current` on a whole
 * release, old or new.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { request, createServer, type Server } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { fleetSsh, useDeployFixture, writeAppFile } from "./support.js";

const { skip, fixture: f } = useDeployFixture(3);
const bin = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "bin", "sous.js");
const PORT = 8080;
const run = (...args: string[]) => f.run(...args);

// Stops the previous server gracefully (SIGTERM: it finishes what it serves) and starts the release's.
const RESTART_HOOK = `async ({ run, host, release }) => {
    await run(["sh", "-c", 'p=$(cat "$1" 2>/dev/null) || exit 0; kill -TERM "$p" 2>/dev/null || exit 0; while kill -0 "$p" 2>/dev/null; do sleep 0.02; done', "sh", "/srv/web/shared/pids/app.pid"]);
    await run(["sh", "-c", 'setsid node "$1/server.js" >> "$2" 2>&1 < /dev/null &', "sh", release.currentPath, "/srv/web/shared/log/app.log"], { env: { PORT: "${PORT}", HOST: host.address, PID_FILE: "/srv/web/shared/pids/app.pid" } });
  }`;

const webApp = (extra: string) => f.webApp(`linkedDirs: ["log", "pids"],\n  batch: 1,\n  ${extra}`);

/** A load balancer: round robin, and a request whose backend refuses or drops the connection goes to the next one (haproxy's redispatch). */
async function loadBalancer(backends: string[]): Promise<{ url: string; server: Server }> {
  let next = 0;
  const server = createServer((req, res) => {
    const attempt = (tries: number) => {
      const backend = backends[next++ % backends.length]!;
      const upstream = request({ host: backend, port: PORT, path: req.url, method: "GET", agent: false, timeout: 5_000 }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on("error", () => {
        if (res.headersSent) return res.destroy();
        if (tries > 0) setTimeout(() => attempt(tries - 1), tries % backends.length === 0 ? 20 : 0);
        else {
          res.writeHead(502);
          res.end("no backend\n");
        }
      });
      upstream.end();
    };
    attempt(backends.length * 10);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`, server };
}

/** Clients asking the load balancer in a loop until `stop()`: counts answers by version, and failures. */
function clients(url: string, count: number) {
  let running = true;
  const versions = new Map<string, number>();
  const failures: string[] = [];
  let total = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const req = request(url, { agent: false, timeout: 10_000 }, (res) => {
        let body = "";
        res.on("data", (chunk) => (body += chunk));
        res.on("end", () => {
          total++;
          if (res.statusCode === 200) versions.set(body.trim(), (versions.get(body.trim()) ?? 0) + 1);
          else failures.push(`HTTP ${res.statusCode}: ${body.trim()}`);
          resolve();
        });
        res.on("error", (error) => {
          failures.push(error.message);
          resolve();
        });
      });
      req.on("error", (error) => {
        total++;
        failures.push(error.message);
        resolve();
      });
      req.end();
    });
  const loops = Array.from({ length: count }, async () => {
    while (running) await one();
  });
  return {
    versions,
    failures,
    get total() {
      return total;
    },
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

describe("the switch", { skip }, () => {
  it("keeps an app behind a load balancer answering every request through a rolling deploy and a rollback", async () => {
    writeAppFile(f.root, "web", webApp(`restart: ${RESTART_HOOK},\n  healthCheck: { url: "http://{host}:${PORT}/health", timeoutMs: 1000, retries: 50, intervalMs: 100 },`));
    const first = await run("deploy", "web");
    assert.equal(first.code, 0, first.stdout);
    const balancer = await loadBalancer(f.fleet.hosts.map((h) => h.address));
    const load = clients(balancer.url, 2);
    try {
      await new Promise((r) => setTimeout(r, 300));
      f.repo.release("v2");
      const deployed = await run("deploy", "web");
      assert.equal(deployed.code, 0, deployed.stdout);
      await new Promise((r) => setTimeout(r, 300));
      const back = await run("deploy", "rollback", "web");
      assert.equal(back.code, 0, back.stdout);
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      await load.stop();
      balancer.server.close();
    }
    assert.deepEqual(load.failures, [], `${load.failures.length} of ${load.total} requests failed`);
    assert.ok(load.total > 200, `only ${load.total} requests were made`);
    assert.ok((load.versions.get("v2") ?? 0) > 0 && (load.versions.get("v1") ?? 0) > 0, `answers by version: ${JSON.stringify([...load.versions])}`);
    for (const host of f.hosts) {
      const answer = await host.exec(["cat", "/srv/web/current/VERSION"]);
      assert.equal(answer.stdout.trim(), "v1", "rolled back everywhere");
    }
    // Stop the servers: the next test deploys without them.
    for (const host of f.hosts) await host.exec(["sh", "-c", 'kill "$(cat /srv/web/shared/pids/app.pid)"']);
  });

  it("SIGKILLed at random points of the switch 20 times, leaves every host's current on a whole release", async () => {
    writeAppFile(f.root, "web", webApp(`healthCheck: { command: ["sleep", "0.1"] },`));
    let killedInSwitch = 0;
    for (let round = 0; round < 20; round++) {
      const child = spawn(process.execPath, [bin, "deploy", "web", "--json", "--no-record", "--repo", f.root, ...fleetSsh(f.fleet)], { env: { ...process.env, SOUS_HOME: f.home }, stdio: ["ignore", "pipe", "ignore"] });
      let buffered = "";
      let finished = false;
      let killed = false;
      child.stdout.on("data", (chunk: Buffer) => {
        buffered += chunk.toString("utf8");
        if (buffered.includes('"type":"run:finish"')) finished = true;
        if (!killed && buffered.includes('"type":"phase:start","phase":"switch"')) {
          killed = true;
          setTimeout(() => {
            if (!finished) killedInSwitch++;
            child.kill("SIGKILL");
          }, Math.random() * 450);
        }
      });
      await new Promise((resolve) => child.on("exit", resolve));
      for (const [index, host] of f.hosts.entries()) {
        const check = await host.exec(["sh", "-c", 't=$(readlink /srv/web/current) && case "$t" in /srv/web/releases/*) ;; *) exit 2;; esac && test -f "$t/REVISION" && test -f "$t/server.js" && test -f "$t/VERSION" && test -f "$t/.sous-release" && echo "$t"']);
        assert.equal(check.exitCode, 0, `round ${round + 1}: current on host ${index + 1} does not point to a whole release: ${check.stdout}${check.stderr}`);
      }
      // The killed deploy's lock is stale: its process is gone.
      const freed = await run("deploy", "lock", "release", "web");
      assert.equal(freed.code, 0, freed.stderr);
    }
    assert.ok(killedInSwitch >= 10, `only ${killedInSwitch} of 20 deploys were killed inside their switch phase`);
    // A deploy afterwards finishes, and what the killed ones left pending is cleaned up.
    const last = await run("deploy", "web", "--json");
    assert.equal(last.code, 0, last.stdout);
    const listed = JSON.parse((await run("deploy", "releases", "web", "--json")).stdout) as Array<{ releases: Array<{ status: string }> }>;
    for (const host of listed) assert.ok(host.releases.every((r) => r.status === "good"), JSON.stringify(host.releases));
  });
});
