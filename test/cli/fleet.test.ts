// The fleet's commands as a user runs them, against a real server on 127.0.0.1 port 0 (SQLite):
// `sous runs`, `sous runs show`, `sous node status`, and `sous converge --query` with agents
// (simulated here by the nodes' own signed clients long-polling, as the agent does) answering.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { SousClient } from "../../src/client/api.js";
import { generateKeyPair } from "../../src/protocol/signing.js";
import { scratch, sous } from "../helpers.js";
import { backends, createOrg, runReportBody, startTestServer } from "../server/helpers.js";

process.env.SOUS_HOME = scratch("sous-home-");
const keys = scratch("sous-keys-");

/** What the CLI tests post: a diff with content already redacted by the engine. */
function report(node: string, overrides: Record<string, unknown> = {}, ago = 0): Record<string, unknown> {
  return runReportBody(node, { environment: "production", resources: [{ id: "template[/etc/web.conf]", action: "create", status: "updated", changes: [{ property: "content", from: "(sensitive value hidden)", to: "(sensitive value hidden)" }], diff: "--- /etc/web.conf\n+++ /etc/web.conf\n-port 80\n+port 8080\n", location: "/srv/repo/cookbooks/web/recipes/default.ts:12" }], ...overrides }, ago);
}

describe("sous runs, sous node status and sous converge --query", () => {
  let ctx: Awaited<ReturnType<typeof startTestServer>>;
  let admin: SousClient;
  const nodes: Record<string, SousClient> = {};
  let flags: string[];
  before(async () => {
    ctx = await startTestServer(backends[0]!);
    let adminKeys;
    ({ admin, adminKeys } = await createOrg(ctx.server.url, ctx.serverAdmin, "acme"));
    const keyFile = join(keys, "alice.pem");
    writeFileSync(keyFile, adminKeys.privateKey, { mode: 0o600 });
    flags = ["--server-url", ctx.server.url, "--org", "acme", "--client", "alice", "--key", keyFile];
    Object.assign(process.env, { SOUS_SERVER_URL: ctx.server.url, SOUS_ORG: "acme", SOUS_CLIENT: "alice", SOUS_KEY: keyFile });
    await admin.request("POST", admin.orgPath("roles"), { body: { name: "web", run_list: [] } });
    for (const name of ["web1", "web2", "web3", "db1"]) {
      const keys = generateKeyPair();
      await admin.request("POST", admin.orgPath("clients"), { body: { name, public_key: keys.publicKey } });
      nodes[name] = new SousClient({ serverUrl: ctx.server.url, org: "acme", client: name, privateKey: keys.privateKey, timeoutMs: 70_000 });
      await admin.saveNode({ name, run_list: name.startsWith("web") ? ["role[web]"] : ["recipe[db]"] });
    }
  });
  after(async () => ctx?.cleanup());

  test("sous runs lists runs newest first; sous runs show gives the changes, the diff and the failure with its command and output", async () => {
    const failure = { resource: "execute[migrate]", location: "/srv/repo/cookbooks/web/recipes/default.ts:30", command: "/usr/bin/migrate --all", exit_code: 3, output: "table users is locked\n", message: "execute[migrate] exited with code 3" };
    const ok = report("web1", {}, 120);
    const bad = report("web1", { status: "failed", failure, totals: { resources: 12, updated: 1, skipped: 0, failed: 1 }, resources: [...(report("web1").resources as unknown[]), { id: "execute[migrate]", action: "run", status: "failed", location: failure.location }] }, 60);
    for (const body of [ok, bad]) await nodes.web1!.request("POST", nodes.web1!.orgPath("reports"), { body });
    const listed = await sous("runs", "web1", ...flags);
    assert.equal(listed.code, 0, listed.stderr);
    const lines = listed.stdout.trimEnd().split("\n");
    assert.match(lines[0]!, /^ENDED \(UTC\)\s+NODE\s+STATUS\s+UPDATED\s+RESOURCES\s+TOOK\s+ID\s+FAILURE$/);
    assert.match(lines[1]!, new RegExp(`web1\\s+failed\\s+1\\s+12\\s+2\\.0 s\\s+${bad.id}\\s+execute\\[migrate\\]: execute\\[migrate\\] exited with code 3`));
    assert.match(lines[2]!, new RegExp(`web1\\s+success\\s+1\\s+12\\s+2\\.0 s\\s+${ok.id}`));
    const json = JSON.parse((await sous("runs", "--json", "--limit", "1", ...flags)).stdout) as Array<{ id: string }>;
    assert.deepEqual(json.map((r) => r.id), [bad.id]);

    const shown = await sous("runs", "show", String(bad.id), ...flags);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, new RegExp(`^Run ${bad.id} on web1: failed`));
    assert.match(shown.stdout, /run list {4}recipe\[web::default\]/);
    assert.match(shown.stdout, /cookbooks {3}web 1\.2\.0/);
    assert.match(shown.stdout, /↻ template\[\/etc\/web\.conf\] \(create\) at \/srv\/repo\/cookbooks\/web\/recipes\/default\.ts:12\n {4}content: "\(sensitive value hidden\)" → "\(sensitive value hidden\)"\n {4}--- \/etc\/web\.conf\n {4}\+\+\+ \/etc\/web\.conf\n {4}-port 80\n {4}\+port 8080/);
    assert.match(shown.stdout, /Failure: execute\[migrate\] exited with code 3\n {2}resource {4}execute\[migrate\]\n {2}declared at \/srv\/repo\/cookbooks\/web\/recipes\/default\.ts:30\n {2}command {5}\/usr\/bin\/migrate --all\n {2}exit code {3}3\n {2}output:\n {4}table users is locked/);
    const shownJson = JSON.parse((await sous("runs", "show", String(bad.id), "--json", ...flags)).stdout) as { failure: unknown };
    assert.deepEqual(shownJson.failure, failure);
    const missing = await sous("runs", "show", randomUUID(), ...flags);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /run report '.*' does not exist/);
  });

  test("sous node status shows each node's last check-in and flags the ones that missed two intervals", async () => {
    await nodes.db1!.request("POST", nodes.db1!.orgPath("reports"), { body: report("db1", { totals: { resources: 3, updated: 2, skipped: 0, failed: 0 } }, 7200) });
    const status = await sous("node", "status", ...flags);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /db1\s+\S+ \S+ \(2 h ago\)\s+success\s+2\s+MISSING: no report for over 60 min/);
    assert.match(status.stdout, /web1\s+\S+ \S+ \(\d+ s ago\)\s+failed\s+1\n/);
    assert.match(status.stdout, /web2\s+never reported/);
    assert.match(status.stdout, /4 nodes: 1 missing, 1 failed last run, 2 never reported/);
    // A longer interval: db1 is not missing; a query narrows the nodes.
    const narrowed = JSON.parse((await sous("node", "status", "name:db1", "--interval", "86400", "--json", ...flags)).stdout) as { nodes: Array<{ name: string; missing: boolean; updated: number }> };
    assert.deepEqual(narrowed.nodes.map((n) => [n.name, n.missing, n.updated]), [["db1", false, 2]]);
    const bad = await sous("node", "status", "role:(web", ...flags);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /position/);
  });

  test("sous converge --query: each node's report as it arrives; exit 1 when one failed or did not answer", async () => {
    // The agents of web1 and web2 answer; web3's agent is down.
    const agent = async (name: string, status: "success" | "failed") => {
      const client = nodes[name]!;
      const pending = await client.request<{ id: string }>("GET", `${client.orgPath("nodes", name, "run-requests")}?wait=20`);
      if (pending.status !== 200) return;
      const failure = status === "failed" ? { failure: { resource: "service[nginx]", location: "/srv/repo/cookbooks/web/recipes/default.ts:40", message: "service[nginx] failed to start" } } : {};
      await client.request("POST", client.orgPath("reports"), { body: report(name, { status, run_request: pending.body.id, ...failure }) });
    };
    const agents = [agent("web1", "success"), agent("web2", "failed")];
    const run = await sous("converge", "--query", "role:web", "--timeout", "4");
    await Promise.all(agents);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /^Asked 3 nodes to converge now \(role:web\); waiting up to 4 s for their reports\n/);
    assert.match(run.stdout, /web1 {2}converged, 1 updated of 12, 2\.0 s\n/);
    assert.match(run.stdout, /web2 {2}FAILED {2}service\[nginx\]: service\[nginx\] failed to start \(\/srv\/repo\/cookbooks\/web\/recipes\/default\.ts:40\) {2}\[sous runs show [0-9a-f-]{36}\]\n/);
    assert.match(run.stdout, /web3 {2}NO ANSWER within 4 s/);
    assert.match(run.stdout, /1 converged, 1 failed, 1 did not answer\n$/);

    // Every node answers: exit 0. web3 first answers the request it missed while it was down.
    const answer = async (name: string, wait: number): Promise<boolean> => {
      const client = nodes[name]!;
      const pending = await client.request<{ id: string }>("GET", `${client.orgPath("nodes", name, "run-requests")}?wait=${wait}`);
      if (pending.status !== 200) return false;
      await client.request("POST", client.orgPath("reports"), { body: report(name, { run_request: pending.body.id }) });
      return true;
    };
    assert.equal(await answer("web3", 0), true);
    assert.equal(await answer("web3", 0), false);
    const answered = ["web1", "web2", "web3"].map((name) => answer(name, 20));
    const result = await sous("converge", "--query", "role:web", "--timeout", "20", "--json");
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const events = result.stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as { type: string; node?: string; silent?: string[] });
    assert.equal(events[0]!.type, "request");
    assert.deepEqual(events.filter((e) => e.type === "report").map((e) => e.node).sort(), ["web1", "web2", "web3"]);
    assert.deepEqual(events.at(-1), { ...events.at(-1), type: "finish", failed: [], silent: [] });
    assert.deepEqual(await Promise.all(answered), [true, true, true]);

    const none = await sous("converge", "--query", "role:nothing");
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no nodes match role:nothing/);
    assert.equal((await sous("converge", "--query", "role:web", "ssh://root@127.0.0.1")).code, 2);
  });
});
