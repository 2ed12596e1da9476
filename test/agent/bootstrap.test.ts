// The fleet loop on three disposable machines (real systemd and sshd, no network beyond their
// bridge), as a new user runs it: a server on this machine, `sous bootstrap` of the three hosts
// in one command (the agent copied, each node registered with its own key made on it, its first
// run streamed here, the agent's service started); the services then report on their interval;
// a change to the role reaches every node at its next run; bootstrapping again changes nothing
// and --force re-keys; with the server stopped for three intervals the agents converge from
// their caches and every report of those runs arrives after.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { scratch } from "../helpers.js";
import { CACHE_DIR, machinesUnavailable, type MachineSet, useMachineSet } from "../support/machine.js";
import { type AgentFixture, runSous, startAgentFixture } from "./fixture.js";

const skip = machinesUnavailable() ?? false;
const machineSet = useMachineSet(3);
const INTERVAL = 3;

describe("sous bootstrap and the agent service on three disposable machines", { skip }, () => {
  let set: MachineSet;
  let fixture: AgentFixture;
  let ssh: string[];
  const work = scratch("sous-bootstrap-");

  before(async () => {
    set = await machineSet();
    fixture = await startAgentFixture({ host: set.gateway });
    await fixture.uploadHello("1.0.0");
    await fixture.uploadCookbook("extra", 'export default recipe(({ node, resources: { file } }) => {\n  file("/etc/extra.txt", { content: `extra on ${node.name}\\n` });\n});');
    await fixture.admin.request("PUT", fixture.admin.orgPath("roles", "web"), { body: { name: "web", run_list: ["recipe[hello]"] } });
    ssh = ["-k", set.keyFile, "--known-hosts", set.knownHostsFile, "--server-url", fixture.server.url];
  });
  after(async () => {
    await fixture?.stop();
  });

  const bootstrap = (...args: string[]) => runSous(["bootstrap", ...args, ...ssh], { SOUS_AGENT_BUNDLE_CACHE: join(CACHE_DIR, "agent-bundle") });
  const counts = async () => Promise.all(set.machines.map(async (machine) => (await fixture.reports(hostnameOf(machine))).length));
  const hostnameOf = (machine: MachineSet["machines"][number]) => machine.run(["hostname"]).trim();
  async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) {
        // What the agents said, for whoever reads the failure.
        const journals = set.machines.map((machine) => `--- ${machine.name}\n${machine.try(["journalctl", "-u", "sous-agent.service", "-n", "25", "--no-pager"]).stdout}`);
        throw new Error(`timed out waiting for ${what}\n${journals.join("\n")}`);
      }
      await sleep(250);
    }
  }

  test("bootstraps three bare hosts in one command: agent copied, nodes registered and converged, services running", async () => {
    const attributes = join(work, "attrs.json");
    writeFileSync(attributes, JSON.stringify({ hello: { path: "/etc/hello.txt", greeting: "welcome" } }));
    const result = await bootstrap(...set.machines.map((machine) => `root@${machine.address}`), "--run-list", "role[web]", "-j", attributes, "--interval", String(INTERVAL), "--splay", "0");
    assert.equal(result.code, 0, result.stdout + result.stderr);
    for (const machine of set.machines) {
      const name = hostnameOf(machine);
      // The first run's output, streamed with the host's name in front.
      assert.match(result.stdout, new RegExp(`root@${machine.address.replace(/\./g, "\\.")}: +↻ file\\[/etc/hello\\.txt\\] created`));
      assert.match(result.stdout, new RegExp(`root@${machine.address.replace(/\./g, "\\.")} +bootstrapped as node ${name}: first run converged; agent service active`));
      assert.equal(machine.run(["cat", "/etc/hello.txt"]), `welcome from ${name}\n`);
      assert.equal(machine.run(["systemctl", "is-active", "sous-agent.service"]).trim(), "active");
      assert.equal(machine.run(["systemctl", "is-enabled", "sous-agent.service"]).trim(), "enabled");
      // The key was made on the node: 0600 root, and the server holds its public half.
      assert.equal(machine.run(["stat", "-c", "%a %U", "/etc/sous/client.pem", "/var/lib/sous/cache", "/var/lib/sous/queue"]), "600 root\n700 root\n700 root\n");
      const client = await fixture.admin.get<{ public_key: string }>(fixture.admin.orgPath("clients", name));
      const publicOnNode = createPublicKey(createPrivateKey(readFileSync(machine.path("/etc/sous/client.pem"), "utf8"))).export({ type: "spki", format: "pem" }).toString();
      assert.equal(client.public_key, publicOnNode);
    }
    assert.match(result.stdout, /3 bootstrapped, 0 already bootstrapped, 0 failed/);
  });

  test("the services report on their interval, and a role's new recipe reaches every node at its next run", async () => {
    const before = await counts();
    await until("two more reports from every node", async () => (await counts()).every((count, index) => count >= before[index]! + 2), 60_000);
    await fixture.admin.request("PUT", fixture.admin.orgPath("roles", "web"), { body: { name: "web", run_list: ["recipe[hello]", "recipe[extra]"] } });
    await until("extra on every node", async () => set.machines.every((machine) => machine.try(["cat", "/etc/extra.txt"]).stdout === `extra on ${hostnameOf(machine)}\n`), 30_000);
  });

  test("bootstrapping a node again changes nothing; --force gives it a new key and it keeps reporting", async () => {
    const [first] = set.machines;
    const digest = () => createHash("sha256").update(readFileSync(first!.path("/etc/sous/client.pem"))).digest("hex");
    const key = digest();
    const again = await bootstrap(`root@${first!.address}`, "--run-list", "role[web]");
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, new RegExp(`already bootstrapped as node ${hostnameOf(first!)} \\(server ${fixture.server.url.replace(/\./g, "\\.")}, org acme\\); nothing changed`));
    assert.match(again.stdout, /0 bootstrapped, 1 already bootstrapped, 0 failed/);
    assert.equal(digest(), key);

    const forced = await bootstrap(`root@${first!.address}`, "--force");
    assert.equal(forced.code, 0, forced.stdout + forced.stderr);
    assert.match(forced.stdout, /re-keying node/);
    assert.notEqual(digest(), key, "--force kept the old key");
    const name = hostnameOf(first!);
    const count = (await fixture.reports(name)).length;
    await until("a report signed with the new key", async () => (await fixture.reports(name)).length > count, 30_000);
  });

  test("with the server stopped for three intervals the agents converge from their caches; their reports arrive once it is back", async () => {
    const names = set.machines.map(hostnameOf);
    const port = Number(new URL(fixture.server.url).port);
    await fixture.server.close();
    const stoppedAt = Date.now();
    // Three intervals at least, and until every agent has queued three runs of its own
    // (on a loaded machine an interval's run can start late).
    await sleep(3 * INTERVAL * 1000);
    const queuedSince = (machine: MachineSet["machines"][number]) => {
      try {
        return readdirSync(machine.path("/var/lib/sous/queue")).filter((name) => /^\d{15}-.*\.json$/.test(name) && Number(name.slice(0, 15)) > stoppedAt).length;
      } catch {
        return 0;
      }
    };
    await until("three queued runs on every node while the server is down", async () => set.machines.every((machine) => queuedSince(machine) >= 3), 90_000);
    const { startServer } = await import("../../src/server/server.js");
    fixture.server = await startServer({ dataDir: join(fixture.home, "server"), port, host: set.gateway });
    await until(
      "three cached reports from every node",
      async () => (await Promise.all(names.map((name) => fixture.reports(name)))).every((reports) => reports.filter((report) => report.status === "cached" && Date.parse(report.started_at) > stoppedAt).length >= 3),
      60_000,
    );
    for (const name of names) {
      const reports = await fixture.reports(name);
      assert.equal(new Set(reports.map((report) => report.id)).size, reports.length, `${name}: a report was stored twice`);
    }
    for (const machine of set.machines) assert.equal(machine.run(["systemctl", "is-active", "sous-agent.service"]).trim(), "active");
  });
});
