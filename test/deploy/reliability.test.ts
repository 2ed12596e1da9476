/**
 * The deploy's promises under failure, on ten SSH hosts of the test fleet: a build hook failing
 * on one host switches none, a health check failing in the second batch switches that batch
 * back and stops the later ones, and a second deploy at once is refused naming the holder.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { useDeployFixture, writeAppFile } from "./support.js";

const { skip, fixture: f } = useDeployFixture(10);
const webApp = (extra: string) => f.webApp(extra);
const run = (...args: string[]) => f.run(...args);

async function currents(): Promise<string[]> {
  return Promise.all(f.hosts.map(async (host) => (await host.exec(["readlink", "/srv/web/current"])).stdout.trim()));
}

async function releasesOn(index: number): Promise<string[]> {
  return (await f.hosts[index]!.exec(["ls", "/srv/web/releases"])).stdout.trim().split("\n").filter(Boolean);
}

describe("deploy reliability on 10 hosts", { skip }, () => {
  // Inside the suite: it runs after the fixture's own setup.
  before(async () => {
    writeAppFile(f.root, "web", webApp(""));
    const first = await run("deploy", "web");
    assert.equal(first.code, 0, first.stdout);
  });

  it("one host failing its build hook: no host switches, exit 1 with that host's output, the lock is freed, the release removed and never a rollback target", async () => {
    const before = await currents();
    const good = await releasesOn(0);
    f.repo.release("v2");
    writeAppFile(f.root, "web", webApp(`build: async ({ run }) => { await run(["sh", "-c", '[ "$(hostname)" != fleet-7 ] || { echo "npm ERR! missing script: build" >&2; exit 1; }']); },`));
    const result = await run("deploy", "web");
    assert.equal(result.code, 1, result.stdout);
    const failing = `root@${f.fleet.hosts[6]!.address}`;
    assert.match(result.stdout, new RegExp(`build FAILED on ${failing.replace(/\./g, "\\.")}: .*hook.* failed: `));
    assert.match(result.stdout, /npm ERR! missing script: build/);
    assert.match(result.stdout, /FAILED: build failed on root@\S+$/m);
    assert.doesNotMatch(result.stdout, /^switch/m, "no switch phase ran");
    assert.deepEqual(await currents(), before, "every host is still on its old release");
    for (const index of [0, 6, 9]) assert.deepEqual(await releasesOn(index), good, "the failed release is removed everywhere");
    assert.match((await run("deploy", "lock", "status", "web")).stdout, /web is not locked/);
    // The failed release is not a rollback target, and never was one: there is no good release before current.
    const back = await run("deploy", "rollback", "web");
    assert.equal(back.code, 1);
    assert.match(back.stdout, /no good release before \d{14} to roll back to/);
    assert.deepEqual(await currents(), before);
  });

  it("a health check failing in the second batch: batch 1 stays on the new release, batch 2 is switched back, batches 3 and 4 never switch", async () => {
    writeAppFile(f.root, "web", webApp(`batch: 3, healthCheck: { command: ["sh", "-c", "test ! -e /srv/web/shared/unhealthy"], retries: 2, intervalMs: 50 },`));
    for (const index of [3, 4, 5]) await f.hosts[index]!.exec(["touch", "/srv/web/shared/unhealthy"]);
    const before = await currents();
    f.repo.release("v3");
    const result = await run("deploy", "web", "--json");
    assert.equal(result.code, 1, result.stdout);
    const events = result.stdout.trim().split("\n").map((line) => JSON.parse(line) as { type: string; phase?: string; batch?: number; result?: { release: string; hosts: Array<{ host: string; outcome: string; release?: string }> } });
    const { result: summary } = events.find((e) => e.type === "run:finish")!;
    const id = summary!.release;
    assert.deepEqual(
      summary!.hosts.map((h) => h.outcome),
      ["deployed", "deployed", "deployed", "switched-back", "switched-back", "switched-back", "not-switched", "not-switched", "not-switched", "not-switched"],
    );
    const now = await currents();
    for (const index of [0, 1, 2]) {
      assert.equal(now[index], `/srv/web/releases/${id}`);
      const marker = (await f.hosts[index]!.exec(["cat", `/srv/web/releases/${id}/.sous-release`])).stdout;
      assert.match(marker, /"status":"good"/, "batch 1 passed its health check: its release is marked good, a rollback target, not left pending");
    }
    for (let index = 3; index < 10; index++) assert.equal(now[index], before[index], `host ${index + 1} is on its old release`);
    assert.deepEqual(
      events.filter((e) => e.type === "phase:start" && e.phase === "switch").map((e) => e.batch),
      [1, 2],
      "batches 3 and 4 never started switching",
    );
    for (let index = 3; index < 10; index++) assert.ok(!(await releasesOn(index)).includes(id), "the release is removed where it is not current");

    // With --rollback-all-on-failure batch 1 goes back too.
    const before2 = await currents();
    f.repo.release("v4");
    const all = await run("deploy", "web", "--rollback-all-on-failure");
    assert.equal(all.code, 1, all.stdout);
    assert.deepEqual(await currents(), before2, "every host is back where it was");
    assert.match(all.stdout, /^switch-back (\(batch 2\))? +ok/m);
    for (const index of [3, 4, 5]) await f.hosts[index]!.exec(["rm", "/srv/web/shared/unhealthy"]);
    const fixed = await run("deploy", "web");
    assert.equal(fixed.code, 0, fixed.stdout);
  });

  it("two deploys at once: the second is refused at once, naming the holder, and does not free the first one's lock", async () => {
    // The first deploy's build waits until the test lets it go: the second one comes while it holds the lock.
    writeAppFile(f.root, "web", webApp(`build: async ({ run }) => { await run(["sh", "-c", "for i in $(seq 600); do [ -e /srv/web/shared/go ] && exit 0; sleep 0.05; done; exit 1"]); },`));
    const first = run("deploy", "web");
    // Wait until the first one holds the lock.
    for (let i = 0; ; i++) {
      const status = await run("deploy", "lock", "status", "web");
      if (/is locked/.test(status.stdout)) break;
      assert.ok(i < 100, "the first deploy never took the lock");
      await new Promise((r) => setTimeout(r, 50));
    }
    const started = performance.now();
    const second = await run("deploy", "web");
    const seconds = (performance.now() - started) / 1000;
    assert.equal(second.code, 1);
    assert.match(second.stdout, /lock FAILED on root@\S+: the application is locked on root@\S+ by \S+ \(pid \d+\) since \S+: a deploy of release \d{14}/);
    assert.ok(seconds < 10, `refused at once, not after waiting for the lock (${seconds.toFixed(1)} s)`);
    assert.match((await run("deploy", "lock", "status", "web")).stdout, /web is locked .*a deploy of release/, "the first deploy's lock is still there");
    await Promise.all(f.hosts.map((host) => host.exec(["touch", "/srv/web/shared/go"])));
    const done = await first;
    assert.equal(done.code, 0, done.stdout);
    assert.match((await run("deploy", "lock", "status", "web")).stdout, /web is not locked/);
  });
});
