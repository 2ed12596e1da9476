// `sous ssh QUERY COMMAND` on real sshd hosts (the test fleet), the nodes found by a real server
// on 127.0.0.1 port 0: addresses from attributes, output per node, exit codes summarized.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { SousClient } from "../../src/client/api.js";
import { type Fleet, fleetUnavailable, useFleet } from "../fleet/index.js";
import { scratch, sous } from "../helpers.js";
import { backends, createOrg, startTestServer } from "../server/helpers.js";

const skip = fleetUnavailable() ?? false;
const startedFleet = useFleet(4);
process.env.SOUS_HOME = scratch("sous-home-");
const keys = scratch("sous-keys-");

describe("sous ssh", { skip }, () => {
  let fleet: Fleet;
  let ctx: Awaited<ReturnType<typeof startTestServer>>;
  let admin: SousClient;
  let args: string[];
  before(async () => {
    fleet = await startedFleet();
    ctx = await startTestServer(backends[0]!);
    let adminKeys;
    ({ admin, adminKeys } = await createOrg(ctx.server.url, ctx.serverAdmin, "acme"));
    const keyFile = join(keys, "alice.pem");
    writeFileSync(keyFile, adminKeys.privateKey, { mode: 0o600 });
    args = ["--server-url", ctx.server.url, "--org", "acme", "--client", "alice", "--key", keyFile, "-i", fleet.keyFile, "--known-hosts", fleet.knownHostsFile];
    // web1-web3 by ipaddress; db1 has only an fqdn; lost1 has no address at all.
    for (let i = 0; i < 3; i++) await admin.saveNode({ name: `web${i + 1}`, run_list: ["role[web]"], automatic: { ipaddress: fleet.hosts[i]!.address, fqdn: "wrong.invalid", custom: { addr: fleet.hosts[i]!.address } } });
    await admin.saveNode({ name: "db1", run_list: ["role[db]"], automatic: { fqdn: fleet.hosts[3]!.address } });
    await admin.saveNode({ name: "lost1", run_list: ["role[db]"], automatic: {} });
  });
  after(async () => ctx?.cleanup());

  it("runs the command on every node the search returns, each line prefixed with the node", async () => {
    const run = await sous("ssh", "role:web", "hostname; echo to-stderr >&2", ...args);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    for (let i = 0; i < 3; i++) {
      assert.match(run.stdout, new RegExp(`^web${i + 1} \\| ${fleet.hosts[i]!.name}$`, "m"));
      assert.match(run.stdout, new RegExp(`^web${i + 1} ! to-stderr$`, "m"));
    }
    assert.match(run.stdout, /3 nodes: 3 exit 0\n$/);
    // fqdn when there is no ipaddress; -a names another attribute.
    const db = await sous("ssh", "name:db1", "hostname", ...args);
    assert.match(db.stdout, new RegExp(`^db1 \\| ${fleet.hosts[3]!.name}$`, "m"));
    // -k is the identity as for sous exec (-i, knife's spelling, above).
    const custom = await sous("ssh", "name:web2", "hostname", "-a", "custom.addr", ...args.map((arg) => (arg === "-i" ? "-k" : arg)));
    assert.match(custom.stdout, new RegExp(`^web2 \\| ${fleet.hosts[1]!.name}$`, "m"));
  });

  it("summarizes exit codes, groups output per node, and fails when any node fails", async () => {
    const run = await sous("ssh", "role:web OR role:db", `h=$(hostname); echo "on $h"; [ "$h" != ${fleet.hosts[1]!.name} ] || exit 3`, "--group", ...args);
    assert.equal(run.code, 1);
    assert.match(run.stdout, new RegExp(`=== web1 \\(exit 0\\)\\non ${fleet.hosts[0]!.name}\\n`));
    assert.match(run.stdout, new RegExp(`=== web2 \\(exit 3\\)\\non ${fleet.hosts[1]!.name}\\n`));
    assert.match(run.stdout, /=== lost1 \(FAILED: no address: the node has no ipaddress or fqdn attribute\)/);
    assert.match(run.stdout, /\n5 nodes: 3 exit 0, 1 failed \(lost1\), 1 exit 3 \(web2\)\n$/);
    assert.match(run.stderr, /sous: 2 of 5 nodes failed: lost1 \(FAILED: no address.*\), web2 \(exit 3\)/);
    const json = await sous("ssh", "role:web", "exit 0", "--json", ...args);
    const rows = json.stdout.trimEnd().split("\n").map((line) => JSON.parse(line) as { node: string; ok: boolean; exitCode: number; address: string });
    assert.deepEqual(rows.map((row) => [row.node, row.ok, row.exitCode]).sort(), [["web1", true, 0], ["web2", true, 0], ["web3", true, 0]]);
    assert.equal(rows.find((row) => row.node === "web1")!.address, fleet.hosts[0]!.address);
  });

  it("--exit-on-error starts no node after the first failure", async () => {
    const run = await sous("ssh", "role:web", `[ "$(hostname)" != ${fleet.hosts[0]!.name} ] || exit 1; touch /tmp/ran`, "--exit-on-error", "-C", "1", ...args);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /web1 \| exit 1\n/);
    assert.match(run.stdout, /3 nodes: 1 exit 1 \(web1\), 2 skipped \(--exit-on-error\) \(web2, web3\)/);
    const ran = await sous("ssh", "role:web", "test -e /tmp/ran", ...args);
    assert.match(ran.stdout, /3 nodes: 3 exit 1 \(web1, web2, web3\)/);
    const none = await sous("ssh", "role:nothing", "true", ...args);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no nodes match role:nothing/);
  });
});
