/**
 * `sous deploy` end to end on three SSH hosts of the test fleet: the layout on each host, a
 * redeploy, releases, rollback (refusing a release not marked good), keepReleases counting good
 * releases only, hooks (once, migrations on the primary db host), stages, the plan, bad input,
 * the lock commands, and the history recorded on a server.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { SousClient } from "../../src/client/api.js";
import { startServer, type RunningServer } from "../../src/server/server.js";
import { scratch, sous } from "../helpers.js";
import { fleetSsh, useDeployFixture, writeAppFile } from "./support.js";

const { skip, fixture: f } = useDeployFixture(3);
const serverDir = skip ? "" : scratch("sous-deploy-server-");

/** apps/web.ts for this fleet; `extra` is spliced into the app({...}) object. */
function webApp(extra = ""): string {
  const [primary, ...others] = f.fleet.hosts;
  const hosts = `[{ target: ${JSON.stringify(primary!.target)}, roles: ["app", "db"], primary: true }, ${others.map((h) => JSON.stringify(h.target)).join(", ")}]`;
  return f.webApp(`linkedDirs: ["log"],\n  keepReleases: 2,\n  environment: { GREETING: "hello" },\n  ${extra}`, hosts);
}

const run = (...args: string[]) => f.run(...args);

async function sh(index: number, script: string): Promise<string> {
  const result = await f.hosts[index]!.exec(["sh", "-c", script]);
  assert.equal(result.exitCode, 0, `${script}: ${result.stderr}`);
  return result.stdout.trim();
}

describe("sous deploy", { skip }, () => {
  it("lays out releases/<id> with REVISION, shared/, current, the bare mirror and revisions.log, the same release id on every host", async () => {
    writeAppFile(f.root, "web", webApp(`build: async ({ run }) => { await run(["sh", "-c", "echo \\"$GREETING $SOUS_RELEASE\\" > built.txt"]); },`));
    const first = await run("deploy", "web");
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.match(first.stdout, /deploy of web release (\d{14}) \([0-9a-f]{12}\): done on 3 hosts/);
    const id = /release (\d{14})/.exec(first.stdout)![1]!;
    const head = f.repo.release("v2");
    for (const [index] of f.fleet.hosts.entries()) {
      assert.equal(await sh(index, "readlink /srv/web/current"), `/srv/web/releases/${id}`);
      assert.equal(await sh(index, "cat /srv/web/current/VERSION"), "v1");
      assert.equal(await sh(index, "cat /srv/web/current/built.txt"), `hello ${id}`, "the build hook ran in the release with the app's environment");
      assert.match(await sh(index, "cat /srv/web/current/REVISION"), /^[0-9a-f]{40}$/);
      assert.equal(await sh(index, "git -C /srv/web/repo rev-parse --is-bare-repository"), "true");
      assert.equal(await sh(index, "readlink /srv/web/current/log"), "/srv/web/shared/log");
      const log = (await sh(index, "cat /srv/web/revisions.log")).split("\n").map((l) => JSON.parse(l) as { action: string; release: string; outcome: string });
      assert.deepEqual(log.map((e) => [e.action, e.release, e.outcome]), [["deploy", id, "good"]]);
    }

    const second = await run("deploy", "web");
    assert.equal(second.code, 0, second.stdout + second.stderr);
    const id2 = /release (\d{14})/.exec(second.stdout)![1]!;
    assert.ok(id2 > id, "a later deploy gets a later release id");
    for (const [index] of f.fleet.hosts.entries()) {
      assert.equal(await sh(index, "cat /srv/web/current/VERSION"), "v2", "the mirror was fetched: not stale");
      assert.equal(await sh(index, "cat /srv/web/current/REVISION"), head);
    }
    assert.match(second.stdout, new RegExp(`root@${f.fleet.hosts[1]!.address.replace(/\./g, "\\.")}\\s+app\\s+deployed\\s+${id2}\\s+${id}`), "the summary table shows each host's new and previous release");
    const names = f.fleet.hosts.map((h) => `root@${h.address}`).join(", ");
    assert.ok(second.stdout.includes(`  switch      ${names}  current -> ${id2}\n`), `one switch line for the hosts that did the same:\n${second.stdout}`);
    assert.doesNotMatch(second.stdout, /hosts finished/, "each host's outcome is in the summary table only");

    const listed = await run("deploy", "releases", "web");
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`\\* ${id2}  good`));
    assert.match(listed.stdout, new RegExp(`  ${id}  good`));
    assert.match(listed.stdout, new RegExp(`^${f.fleet.hosts.length - 1} hosts: ${f.fleet.hosts.slice(1).map((h) => `root@${h.address.replace(/\./g, "\\.")}`).join(", ")} \\(app\\)$`, "m"), "hosts with the same roles and releases are listed once (the first host is also the db host)");

    const planned = await run("deploy", "rollback", "web", "--dry-run");
    assert.equal(planned.code, 0, planned.stdout + planned.stderr);
    assert.match(planned.stdout, new RegExp(`Plan: rollback web on ${f.fleet.hosts.length} hosts \\(dry run[^)]*\\)\n  root@[^\n]*: ${id2} -> ${id}\n`));
    for (const [index] of f.fleet.hosts.entries()) assert.equal(await sh(index, "cat /srv/web/current/VERSION"), "v2", "a rollback's dry run changes nothing");
    const misplaced = await run("deploy", "releases", "web", "--batch", "2");
    assert.equal(misplaced.code, 2);
    assert.match(misplaced.stderr, /--batch is not an option of sous deploy releases/);
    const back = await run("deploy", "rollback", "web");
    assert.equal(back.code, 0, back.stdout + back.stderr);
    // No server here: the history is the primary host's revisions.log, newest first.
    const history = await run("deploy", "history", "web", "--limit", "2");
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, new RegExp(`^from revisions\\.log on root@${f.fleet.hosts[0]!.address.replace(/\./g, "\\.")} \\(no server configured[^\n]*\n\\S+  rollback  rolled-back +${id} .*from ${id2}\n\\S+  deploy    good +${id2} `));
    assert.equal(history.stdout.trim().split("\n").length, 3, "--limit 2: two entries");
    for (const [index] of f.fleet.hosts.entries()) assert.equal(await sh(index, "cat /srv/web/current/VERSION"), "v1");
    const log = (await sh(0, "cat /srv/web/revisions.log")).split("\n").map((l) => JSON.parse(l) as { action: string; release: string; from?: string });
    assert.deepEqual(log.at(-1)!.action === "rollback" && [log.at(-1)!.release, log.at(-1)!.from], [id, id2]);
    // The release rolled back from is not gone back to by itself: a new deploy, then a rollback, lands on v1, not on v2.
    assert.match((await run("deploy", "releases", "web")).stdout, new RegExp(`  ${id2}  good .*\\(rolled back from`));
    f.repo.release("v3");
    const third = await run("deploy", "web");
    assert.equal(third.code, 0, third.stdout + third.stderr);
    const id3 = /release (\d{14})/.exec(third.stdout)![1]!;
    const again = await run("deploy", "rollback", "web");
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, new RegExp(`rollback of web to ${id}:`));
    for (const [index] of f.fleet.hosts.entries()) assert.equal(await sh(index, "cat /srv/web/current/VERSION"), "v1");
    assert.match((await run("deploy", "releases", "web")).stdout, new RegExp(`  ${id3}  good .*\\(rolled back from`));
    // And forward again, by naming the release (which takes its mark away).
    const forward = await run("deploy", "rollback", "web", "--to", id2, "--json");
    assert.equal(forward.code, 0, forward.stderr);
    const finish = forward.stdout.trim().split("\n").map((l) => JSON.parse(l) as { type: string; result?: { ok: boolean; hosts: Array<{ outcome: string; release: string }> } }).find((e) => e.type === "run:finish")!;
    assert.deepEqual(finish.result!.hosts.map((h) => [h.outcome, h.release]), [["rolled-back", id2], ["rolled-back", id2], ["rolled-back", id2]]);
    assert.doesNotMatch((await run("deploy", "releases", "web")).stdout, new RegExp(`  ${id2}  good .*\\(rolled back from`));
  });

  it("keeps keepReleases good releases, never counts or keeps a failed one, and refuses to roll back to a release not marked good", async () => {
    // A deploy whose build fails everywhere: no host switches and its release is removed.
    writeAppFile(f.root, "web", webApp(`build: async ({ run }) => { await run(["sh", "-c", "echo broken build >&2; exit 3"]); },`));
    const before = await sh(0, "readlink /srv/web/current");
    const failed = await run("deploy", "web");
    assert.equal(failed.code, 1, failed.stdout);
    assert.match(failed.stdout, /build FAILED on root@/);
    assert.match(failed.stdout, /broken build/, "the failing command's output is shown");
    const everyHost = f.fleet.hosts.map((h) => `root@${h.address}`).join(", ");
    assert.ok(failed.stdout.includes(`\n${everyHost}:\n  hook build failed: command `), `the summary shows the same failure once, under every host's name:\n${failed.stdout}`);
    const failedId = /deploy of web release (\d{14}) \([0-9a-f]{12}\) FAILED: build failed on/.exec(failed.stdout)![1]!;
    for (const [index] of f.fleet.hosts.entries()) {
      assert.equal(await sh(index, "readlink /srv/web/current"), before);
      assert.equal(await sh(index, `test -e /srv/web/releases/${failedId} && echo present || echo gone`), "gone");
    }
    assert.match(await sh(0, "tail -1 /srv/web/revisions.log"), new RegExp(`"release":"${failedId}".*"outcome":"failed"`));
    assert.match((await run("deploy", "releases", "web")).stdout, new RegExp(`  x ${failedId}  failed .*\\(removed: build failed on root@`), "releases lists the failed deploy, removed");

    // Three good deploys with keepReleases 2: the oldest good ones go, current and the previous good one stay.
    writeAppFile(f.root, "web", webApp());
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const result = await run("deploy", "web");
      assert.equal(result.code, 0, result.stdout);
      ids.push(/release (\d{14})/.exec(result.stdout)![1]!);
    }
    const left = (await sh(1, "ls /srv/web/releases")).split("\n");
    assert.deepEqual(left, ids.slice(1), "two good releases kept (the current one and the one before it)");

    // A release left pending (marked by hand as a deploy killed midway would leave it) is refused as a rollback target.
    await sh(0, `sed -i 's/"status":"good"/"status":"pending"/' /srv/web/releases/${ids[1]}/.sous-release`);
    const refused = await run("deploy", "rollback", "web", "--to", ids[1]!);
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, new RegExp(`release ${ids[1]} is marked pending, not good: refusing .*--force`));
    for (const [index] of f.fleet.hosts.entries()) assert.equal(await sh(index, "readlink /srv/web/current"), `/srv/web/releases/${ids[2]}`, "a refused rollback switches no host");
    const forced = await run("deploy", "rollback", "web", "--to", ids[1]!, "--force");
    assert.equal(forced.code, 0, forced.stdout);
    await sh(0, `sed -i 's/"status":"pending"/"status":"good"/' /srv/web/releases/${ids[1]}/.sous-release`);
  });

  it("runs a once hook on one host and copies its output to the others, and migrations only on the primary db host", async () => {
    writeAppFile(
      f.root,
      "web",
      webApp(`build: { name: "assets", once: "public", run: async ({ run, host }) => { await run(["sh", "-c", "mkdir -p public && echo \\"built on $1\\" > public/assets.txt", "sh", host.name]); } },
  migrate: async ({ run, host }) => { await run(["sh", "-c", "echo \\"$1\\" >> /srv/web/shared/migrations", "sh", host.name]); },`),
    );
    const result = await run("deploy", "web");
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const primary = `root@${f.fleet.hosts[0]!.address}`;
    for (const [index] of f.fleet.hosts.entries()) assert.equal(await sh(index, "cat /srv/web/current/public/assets.txt"), `built on ${primary}`);
    assert.equal(await sh(0, "cat /srv/web/shared/migrations"), primary);
    for (const index of [1, 2]) assert.equal(await sh(index, "test -e /srv/web/shared/migrations && echo ran || echo none"), "none");
  });

  it("prints the plan with --dry-run and changes nothing; stages override settings", async () => {
    writeAppFile(f.root, "web", webApp(`batch: 1, restart: { name: "reload", run: async () => {} }, stages: { staging: { deployTo: "/srv/web-staging", batch: "50%" } },`));
    const before = await sh(0, "ls /srv/web/releases");
    const plan = await run("deploy", "web", "--dry-run");
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /Batches:\n {2}1\. root@\S+\n {2}2\. root@\S+\n {2}3\. root@\S+\n/);
    assert.match(plan.stdout, /lock: mkdir \/srv\/web\/\.sous-lock on root@/);
    assert.match(plan.stdout, /hook restart: reload/);
    assert.equal(await sh(0, "ls /srv/web/releases"), before);
    const staging = await run("deploy", "web", "--dry-run", "--stage", "staging", "--json");
    const parsed = JSON.parse(staging.stdout) as { deployTo: string; batches: string[][] };
    assert.equal(parsed.deployTo, "/srv/web-staging");
    assert.deepEqual(parsed.batches.map((b) => b.length), [1, 1, 1]);
    const unknown = await run("deploy", "web", "--stage", "prod");
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no stage "prod" \(stages: staging\)/);
  });

  it("names the setting and the file:line of app(...) for a bad declaration, and a missing linked file before anything changes", async () => {
    const file = writeAppFile(f.root, "bad", `import { app } from "sous";\n\nexport default app({\n  repository: "x",\n  hosts: [],\n  keepReleases: 0,\n  batch: "lots",\n});\n`);
    const bad = await run("deploy", "bad");
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, new RegExp(`${file.replace(/[.]/g, "\\.")}:3 hosts: expected a non-empty list`));
    assert.match(bad.stderr, /:3 keepReleases: expected a whole number of at least 1, got 0/);
    assert.match(bad.stderr, /:3 batch: expected a host count or a percentage/);
    const missing = await run("deploy", "nothere");
    assert.match(missing.stderr, /no application nothere: .*apps\/nothere\.ts does not exist \(known: bad, web\)/);
    assert.match((await run("deploy", "wbe")).stderr, /apps\/wbe\.ts does not exist \(did you mean web\?\) \(known: bad, web\)/);
    const unnamed = await run("deploy");
    assert.equal(unnamed.code, 2);
    assert.match(unnamed.stderr, /which application\? .*this repository has bad, web/);

    writeAppFile(f.root, "web", webApp(`linkedFiles: ["config/secrets.env"],`));
    const before = await sh(0, "ls /srv/web/releases");
    const result = await run("deploy", "web");
    assert.equal(result.code, 1);
    assert.match(result.stdout, /check FAILED on root@\S+: linked files missing in \/srv\/web\/shared: config\/secrets\.env/);
    assert.equal(await sh(0, "ls /srv/web/releases"), before);
    for (const [index] of f.fleet.hosts.entries()) await sh(index, "mkdir -p /srv/web/shared/config && echo SECRET=1 > /srv/web/shared/config/secrets.env");
    const fixed = await run("deploy", "web");
    assert.equal(fixed.code, 0, fixed.stdout);
    assert.equal(await sh(2, "cat /srv/web/current/config/secrets.env"), "SECRET=1");
  });

  it("stops at check when a host cannot be reached: no lock, no release, no host changed", async () => {
    const refused = `ssh://root@${f.fleet.hosts[1]!.address}:2222`;
    const [primary, ...others] = f.fleet.hosts;
    writeAppFile(f.root, "web", f.webApp("", JSON.stringify([{ target: primary!.target, primary: true }, ...others.map((h) => h.target), refused])));
    const before = await sh(0, "ls /srv/web/releases; readlink /srv/web/current");
    const result = await run("deploy", "web");
    assert.equal(result.code, 1);
    assert.match(result.stdout, /check FAILED on root@\S+:2222: cannot connect: connection refused/);
    assert.match(result.stdout, /deploy of web FAILED: check failed on root@\S+:2222$/m);
    assert.doesNotMatch(result.stdout, /^lock/m, "the lock was not even tried");
    assert.equal(await sh(0, "ls /srv/web/releases; readlink /srv/web/current"), before);
  });

  it("takes, shows and frees a manual lock; a deploy meanwhile is refused naming the holder, and only the holder or --force frees it", async () => {
    writeAppFile(f.root, "web", webApp());
    const taken = await run("deploy", "lock", "acquire", "web", "-m", "database maintenance");
    assert.equal(taken.code, 0, taken.stderr);
    const status = await run("deploy", "lock", "status", "web");
    assert.match(status.stdout, /web is locked on root@\S+ by \S+ \(pid \d+\) since .*a manual lock, "database maintenance"/);
    const refused = await run("deploy", "web");
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /locked on root@\S+ by .*"database maintenance"/);
    process.env.SOUS_DEPLOY_USER = "someone-else";
    const notMine = await run("deploy", "lock", "release", "web");
    assert.equal(notMine.code, 1);
    assert.match(notMine.stderr, /not your manual lock .* --force/);
    const forced = await run("deploy", "lock", "release", "web", "--force");
    delete process.env.SOUS_DEPLOY_USER;
    assert.equal(forced.code, 0, forced.stderr);
    assert.match((await run("deploy", "lock", "status", "web")).stdout, /web is not locked/);
    assert.equal((await run("deploy", "web")).code, 0);
  });
});

describe("sous deploy through the background SSH process (--persist)", { skip }, () => {
  it("a first deploy connects itself and leaves its hosts' connections to a background process; a redeploy and a rollback within the time reuse them; --persist 0 connects afresh; the process stops on SIGTERM", async () => {
    // Each restart (deploy and rollback) appends the SSH connection it ran on (client address and port: a new connection has a new port).
    writeAppFile(f.root, "web", webApp(`restart: async ({ run }) => { await run(["sh", "-c", "echo $SSH_CONNECTION >> /srv/web/shared/connections"]); },`));
    await sh(0, "rm -f /srv/web/shared/connections");
    const pidFile = join(f.home, "ssh", "persist.sock.pid");
    const connections = async () => (await sh(0, "cat /srv/web/shared/connections")).split("\n");
    try {
      assert.equal((await run("deploy", "web", "--persist", "30")).code, 0);
      for (let waited = 0; !existsSync(pidFile) && waited < 5000; waited += 50) await new Promise((r) => setTimeout(r, 50));
      assert.ok(existsSync(pidFile), "the first deploy started the background process, which records its PID");
      f.repo.release("v-persist");
      const redeploy = await run("deploy", "web", "--persist", "30");
      assert.equal(redeploy.code, 0, redeploy.stdout + redeploy.stderr);
      const back = await run("deploy", "rollback", "web", "--persist", "30");
      assert.equal(back.code, 0, back.stdout + back.stderr);
      assert.match((await run("deploy", "lock", "status", "web", "--persist", "30")).stdout, /web is not locked/);
      const [own, ...kept] = await connections();
      assert.equal(kept.length, 2);
      assert.equal(new Set(kept).size, 1, `one connection for the redeploy and the rollback: ${kept.join(", ")}`);
      assert.notEqual(kept[0], own, "the first deploy's own connection was closed with it");
      const direct = await run("deploy", "rollback", "web", "--to", /deploy of web release (\d{14})/.exec(redeploy.stdout)![1]!, "--persist", "0");
      assert.equal(direct.code, 0, direct.stdout + direct.stderr);
      const after = await connections();
      assert.equal(after.length, 4, direct.stdout);
      assert.notEqual(after.at(-1), kept[0], "--persist 0 makes its own connection");
    } finally {
      if (existsSync(pidFile)) process.kill(Number(readFileSync(pidFile, "utf8")), "SIGTERM");
    }
    for (let waited = 0; existsSync(pidFile) && waited < 5000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    assert.ok(!existsSync(pidFile), "SIGTERM stops it and removes its PID file");
  });
});

describe("the README's apps/web.ts", () => {
  it("type-checks as an app and plans as written", async () => {
    const readme = readFileSync(join(dirname(fileURLToPath(import.meta.url)), "..", "..", "README.md"), "utf8");
    const example = /```ts\n(\/\/ apps\/web\.ts\n[\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(example, "the README has an apps/web.ts example");
    const dir = scratch("sous-deploy-readme-");
    writeAppFile(dir, "web", example);
    mkdirSync(join(dir, "inventory"));
    writeFileSync(join(dir, "inventory", "web.txt"), "# web servers\nssh://deploy@web3\nssh://deploy@web4\n");
    const plan = await sous("deploy", "web", "--dry-run", "--repo", dir);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /deploy@web1 +app,db +\(primary: app,db\)/);
    assert.match(plan.stdout, /deploy@web4 +app,web/);
    assert.match(plan.stdout, /hook build: assets \(once, copies public\/assets\)/);
    assert.match(plan.stdout, /migrate: migrations once, on deploy@web1/);
    assert.match(plan.stdout, /Batches:\n {2}1\. deploy@web1, deploy@web2\n {2}2\. deploy@web3, deploy@web4\n/);
    const staging = await sous("deploy", "web", "--dry-run", "--repo", dir, "--stage", "staging");
    assert.match(staging.stdout, /deploy web \(stage staging\) develop of .* on 1 host/);
    // And through the type checker, as an editor sees it: clean, and a wrong role is caught.
    const { checkRepository } = await import("../../src/run/check.js");
    assert.deepEqual((await checkRepository(dir)).problems, []);
    writeAppFile(dir, "web", example.replace('roles: ["app", "db"]', 'roles: ["app", "database"]'));
    const { problems } = await checkRepository(dir);
    assert.equal(problems.length, 1, JSON.stringify(problems));
    assert.match(problems[0]!.message, /"database"/);
  });
});

describe("sous deploy init", () => {
  it("writes apps/APP.ts with the repository, hosts and path given, which plans and type-checks as written; never over an existing one", async () => {
    const dir = scratch("sous-deploy-init-");
    const made = await sous("deploy", "init", "shop", "--repo", dir, "--repository", "git://git.example.com/shop.git", "--host", "ssh://deploy@shop1", "ssh://deploy@shop2", "--deploy-to", "/srv/shop-live");
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stdout, /Created .*apps\/shop\.ts \(and .*tsconfig\.json, .*\.gitignore, for your editor\)\n[\s\S]*sous deploy check shop/);
    assert.ok((JSON.parse(readFileSync(join(dir, "tsconfig.json"), "utf8").replace(/^\/\/.*\n/gm, "")) as { include: string[] }).include.includes("apps/**/*.ts"), "the editor's project holds the apps");
    const plan = await sous("deploy", "shop", "--dry-run", "--repo", dir);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /deploy shop main of git:\/\/git\.example\.com\/shop\.git to \/srv\/shop-live on 2 hosts/);
    assert.match(plan.stdout, /link: link shared\/log, shared\/tmp/);
    const { checkRepository } = await import("../../src/run/check.js");
    assert.deepEqual((await checkRepository(dir)).problems, []);
    const before = readFileSync(join(dir, "apps", "shop.ts"), "utf8");
    const again = await sous("deploy", "init", "shop", "--repo", dir);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /apps\/shop\.ts exists already/);
    assert.equal(readFileSync(join(dir, "apps", "shop.ts"), "utf8"), before, "the existing file is left as it was");
    const relative = await sous("deploy", "init", "other", "--repo", dir, "--deploy-to", "srv/other");
    assert.equal(relative.code, 2);
    assert.match(relative.stderr, /--deploy-to must be an absolute path/);
  });
});

describe("sous deploy interrupted", { skip }, () => {
  const bin = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "bin", "sous.js");
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`on ${signal} during the build stops, removes the new release, switches no host and frees the lock`, async () => {
      // The build waits for a file that never comes: only the signal ends it.
      writeAppFile(f.root, "web", webApp(`build: async ({ run }) => { await run(["sh", "-c", "for i in $(seq 40); do [ -e /srv/web/shared/never ] && exit 0; sleep 0.05; done; exit 1"]); },`));
      const before = await Promise.all(f.hosts.map((_, index) => sh(index, "readlink /srv/web/current")));
      const child = spawn(process.execPath, [bin, "deploy", "web", "--json", "--repo", f.root, ...fleetSsh(f.fleet)], { env: process.env, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let sent = false;
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString("utf8");
        if (!sent && stdout.includes('"type":"phase:start","phase":"build"')) {
          sent = true;
          setTimeout(() => child.kill(signal), 200);
        }
      });
      const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
      assert.equal(code, 130, stdout.slice(-2000));
      const finish = JSON.parse(stdout.trim().split("\n").at(-1)!) as { type: string; result: { ok: boolean; release: string; hosts: Array<{ outcome: string }> } };
      assert.equal(finish.type, "run:finish");
      assert.equal(finish.result.ok, false);
      assert.deepEqual(await Promise.all(f.hosts.map((_, index) => sh(index, "readlink /srv/web/current"))), before, "no host switched");
      for (const [index] of f.hosts.entries()) assert.equal(await sh(index, `test -e /srv/web/releases/${finish.result.release} && echo kept || echo removed`), "removed");
      assert.match(await sh(0, "tail -1 /srv/web/revisions.log"), /"outcome":"(interrupted|failed)"/);
      assert.match((await run("deploy", "lock", "status", "web")).stdout, /web is not locked/);
    });
  }
});

describe("sous deploy with a server", { skip }, () => {
  let server: RunningServer;
  before(async () => {
    if (skip) return;
    server = await startServer({ dataDir: serverDir, port: 0 });
    const created = await sous("org", "create", "acme", "--server-url", server.url, "--server-key", server.adminKeyFile!);
    assert.equal(created.code, 0, created.stderr);
  });
  after(async () => server?.close());

  it("finds its hosts by a search query and records every deploy, shown by sous deploy history", async () => {
    const { readConfigFile } = await import("../../src/client/config.js");
    const config = readConfigFile();
    const client = new SousClient({ serverUrl: config.server_url!, org: config.org!, client: config.client!, privateKeyFile: config.key! });
    for (const [index, host] of f.fleet.hosts.entries()) await client.saveNode({ name: `web${index}`, chef_environment: "_default", run_list: [], automatic: { ipaddress: host.address } });
    writeAppFile(
      f.root,
      "searched",
      `import { app } from "sous";\nexport default app({ repository: ${JSON.stringify(f.git.url(f.repo.name))}, hosts: [{ search: "name:web*", roles: ["app"] }], deployTo: "/srv/searched" });\n`,
    );
    const deployed = await run("deploy", "searched");
    assert.equal(deployed.code, 0, deployed.stdout + deployed.stderr);
    assert.match(deployed.stdout, /done on 3 hosts/);
    assert.match(deployed.stdout, /recorded on the server as searched-default-deploy-/);
    writeFileSync(join(f.root, "apps", "searched.ts"), `import { app } from "sous";\nexport default app({ repository: ${JSON.stringify(f.git.url(f.repo.name))}, hosts: [{ search: "name:web*" }], deployTo: "/srv/searched", build: async ({ run }) => { await run(["false"]); } });\n`);
    assert.equal((await run("deploy", "searched")).code, 1);
    const history = await run("deploy", "history", "searched");
    assert.equal(history.code, 0, history.stderr);
    const lines = history.stdout.trim().split("\n");
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, /deploy +FAILED +\d{14} +[0-9a-f]{12} +\S+ +3 hosts \(3 failed\)/, "newest first");
    assert.match(lines[1]!, /deploy +ok +\d{14} +[0-9a-f]{12} +\S+ +3 hosts +\d/);
  });
});
