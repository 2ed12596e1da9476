// Run reports, node status and run-now requests on a real server on 127.0.0.1 port 0, over SQLite
// and PostgreSQL: what an agent posts, what an administrator reads, who may do which.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { SousClient } from "../../src/client/api.js";
import { generateKeyPair } from "../../src/protocol/signing.js";
import { startServer } from "../../src/server/server.js";
import { backends, createOrg, rejectsWith, runReportBody as report, startTestServer } from "./helpers.js";


for (const backend of backends) {
  describe(`fleet API on ${backend.name}`, { skip: backend.skip ?? false }, () => {
    let ctx: Awaited<ReturnType<typeof startTestServer>>;
    let admin: SousClient;
    let validator: SousClient;
    const nodeClients: Record<string, SousClient> = {};
    before(async () => {
      ctx = await startTestServer(backend);
      ({ admin, validator } = await createOrg(ctx.server.url, ctx.serverAdmin, "acme"));
      await admin.request("POST", admin.orgPath("roles"), { body: { name: "web", run_list: ["recipe[web]"] } });
      for (const name of ["web1", "web2", "db1"]) {
        const keys = generateKeyPair();
        await admin.request("POST", admin.orgPath("clients"), { body: { name, public_key: keys.publicKey } });
        nodeClients[name] = new SousClient({ serverUrl: ctx.server.url, org: "acme", client: name, privateKey: keys.privateKey });
        await admin.saveNode({ name, run_list: name.startsWith("web") ? ["role[web]"] : ["recipe[db]"], automatic: { ipaddress: `10.0.0.${name.length}` } });
      }
    });
    after(async () => ctx?.cleanup());

    test("a node posts its report once: the same run id again is stored once", async () => {
      const web1 = nodeClients.web1!;
      const body = report("web1");
      const first = await web1.request<{ id: string }>("POST", web1.orgPath("reports"), { body });
      assert.equal(first.status, 201);
      assert.equal(first.body.id, body.id);
      const again = await web1.request<{ id: string }>("POST", web1.orgPath("reports"), { body });
      assert.equal(again.status, 200);
      const listed = await admin.get<{ reports: Array<{ id: string }> }>(`${admin.orgPath("reports")}?node=web1`);
      assert.equal(listed.reports.filter((r) => r.id === body.id).length, 1);
      const stored = await admin.get<Record<string, unknown>>(admin.orgPath("reports", String(body.id)));
      assert.deepEqual(stored.resources, body.resources);
      assert.deepEqual(stored.cookbooks, { web: "1.2.0" });
      assert.equal(typeof stored.received_at, "string");
    });

    test("a node's key posts only its own node's reports; the validator none; an administrator any", async () => {
      const stolen = await rejectsWith(nodeClients.web1!.request("POST", nodeClients.web1!.orgPath("reports"), { body: report("db1") }), 403, "forbidden");
      assert.match(stolen.message, /web1.*node 'db1'/);
      await rejectsWith(validator.request("POST", validator.orgPath("reports"), { body: report("web1") }), 403);
      assert.equal((await admin.request("POST", admin.orgPath("reports"), { body: report("db1", {}, 7200) })).status, 201);
      // The same run id cannot be claimed by another node.
      const body = report("web2");
      await nodeClients.web2!.request("POST", nodeClients.web2!.orgPath("reports"), { body });
      await rejectsWith(admin.request("POST", admin.orgPath("reports"), { body: { ...body, node: "web1" } }), 409, "report_id_taken");
      // A server administrator names an organization that does not exist: nothing is stored for it.
      await rejectsWith(ctx.serverAdmin.request("POST", "/api/v1/orgs/nope/reports", { body: report("web1") }), 404, "not_found");
      await rejectsWith(ctx.serverAdmin.request("POST", "/api/v1/orgs/nope/run-requests", { body: { query: "*:*" } }), 404, "not_found");
    });

    test("a bad report is refused naming the field, and nothing is stored", async () => {
      const web1 = nodeClients.web1!;
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ id: "nope" }, /report\.id must be the run's UUID/],
        [{ status: "ok" }, /report\.status must be "success", "failed" or "cached"/],
        [{ ended_at: "yesterday" }, /report\.ended_at must be an ISO 8601 time/],
        [{ totals: { resources: -1 } }, /report\.totals\.resources must be a whole number/],
        [{ resources: [{ id: "file[/x]", action: "create", status: "up-to-date" }] }, /report\.resources\[0\]\.status/],
        [{ status: "failed" }, /report\.failure must be the failure/],
      ];
      for (const [change, message] of cases) {
        const body = report("web1", change);
        const error = await rejectsWith(web1.request("POST", web1.orgPath("reports"), { body }), 400, "invalid_report");
        assert.match(error.message, message);
        if (typeof body.id === "string" && body.id.length === 36) await rejectsWith(admin.get(admin.orgPath("reports", body.id)), 404);
      }
    });

    test("a failed run keeps the resource, file:line, command, exit code and output", async () => {
      const failure = { resource: "execute[migrate]", location: "/repo/cookbooks/web/recipes/default.ts:30", command: "/usr/bin/migrate --all", exit_code: 3, output: "table locked\n", message: "execute[migrate] exited 3" };
      const body = report("web2", { status: "failed", failure, totals: { resources: 5, updated: 0, skipped: 0, failed: 1 } });
      await nodeClients.web2!.request("POST", nodeClients.web2!.orgPath("reports"), { body });
      const stored = await admin.get<{ failure: unknown; status: string }>(admin.orgPath("reports", String(body.id)));
      assert.equal(stored.status, "failed");
      assert.deepEqual(stored.failure, failure);
      const listed = await admin.get<{ reports: Array<{ id: string; failure?: { resource: string } }> }>(`${admin.orgPath("reports")}?node=web2&limit=1`);
      assert.equal(listed.reports[0]!.id, body.id);
      assert.equal(listed.reports[0]!.failure?.resource, "execute[migrate]");
    });

    test("reports list newest first, by node, a page at a time", async () => {
      const web1 = nodeClients.web1!;
      const ids: string[] = [];
      for (const ago of [300, 200, 100]) {
        const body = report("web1", {}, ago);
        ids.push(String(body.id));
        await web1.request("POST", web1.orgPath("reports"), { body });
      }
      const all = await admin.get<{ reports: Array<{ id: string; ended_at: string; node: string }> }>(`${admin.orgPath("reports")}?node=web1&limit=100`);
      const ends = all.reports.map((r) => r.ended_at);
      assert.deepEqual(ends, [...ends].sort().reverse());
      assert.ok(all.reports.every((r) => r.node === "web1"));
      const older = await admin.get<{ reports: Array<{ id: string }> }>(`${admin.orgPath("reports")}?node=web1&limit=2&before=${encodeURIComponent(new Date(Date.now() - 150_000).toISOString())}`);
      assert.deepEqual(older.reports.map((r) => r.id), [ids[1], ids[0]]);
      await rejectsWith(admin.get(`${admin.orgPath("reports")}?limit=0`), 400, "invalid_parameter");
    });

    test("node status: the last check-in, status and updated count; a report sent late from the queue does not go back in time", async () => {
      const db1 = nodeClients.db1!;
      await db1.request("POST", db1.orgPath("reports"), { body: report("db1", { totals: { resources: 7, updated: 4, skipped: 0, failed: 0 } }, 5) });
      await db1.request("POST", db1.orgPath("reports"), { body: report("db1", { status: "cached", queued: true, totals: { resources: 7, updated: 2, skipped: 0, failed: 0 } }, 3600) });
      const status = await admin.get<{ nodes: Array<{ name: string; last_status: string | null; updated: number | null; missing: boolean; never_reported: boolean }> }>(`${admin.orgPath("node-status")}?q=name:db1`);
      assert.deepEqual(status.nodes.map((n) => [n.name, n.last_status, n.updated, n.missing]), [["db1", "success", 4, false]]);
      // Two intervals of 2 s have gone by since db1's run 5 s ago.
      const short = await admin.get<{ nodes: Array<{ name: string; missing: boolean }> }>(`${admin.orgPath("node-status")}?q=name:db1&interval=2`);
      assert.equal(short.nodes[0]!.missing, true);
      await admin.saveNode({ name: "new1" });
      const all = await admin.get<{ nodes: Array<{ name: string; never_reported: boolean }> }>(admin.orgPath("node-status"));
      assert.deepEqual(all.nodes.map((n) => n.name), ["db1", "new1", "web1", "web2"]);
      assert.equal(all.nodes.find((n) => n.name === "new1")!.never_reported, true);
      await rejectsWith(admin.get(`${admin.orgPath("node-status")}?q=${encodeURIComponent("role:(web")}`), 400, "bad_query");
    });

    test("run now: a request names the query's nodes, each node's long-poll answers it until its report arrives", async () => {
      const web1 = nodeClients.web1!;
      const poll = (client: SousClient, wait: number) => client.request<{ id: string } | undefined>("GET", `${client.orgPath("nodes", client.options.client, "run-requests")}?wait=${wait}`);
      assert.equal((await poll(web1, 0)).status, 204);
      // A poll already waiting is answered as soon as the request is made.
      const waiting = poll(web1, 20);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const started = Date.now();
      const created = await admin.request<{ id: string; nodes: string[]; query: string }>("POST", admin.orgPath("run-requests"), { body: { query: "role:web" } });
      assert.equal(created.status, 201);
      assert.deepEqual(created.body.nodes, ["web1", "web2"]);
      const answered = await waiting;
      assert.equal(answered.status, 200);
      assert.equal(answered.body!.id, created.body.id);
      assert.ok(Date.now() - started < 2000, `the waiting poll took ${Date.now() - started} ms`);
      // db1 is not in the query; web1 may not poll for web2.
      assert.equal((await poll(nodeClients.db1!, 0)).status, 204);
      await rejectsWith(web1.request("GET", `${web1.orgPath("nodes", "web2", "run-requests")}?wait=0`), 403);
      await rejectsWith(web1.request("POST", web1.orgPath("run-requests"), { body: { query: "*:*" } }), 403);
      // web1's report answers it: no longer pending for web1, still for web2.
      const body = report("web1", { run_request: created.body.id });
      await web1.request("POST", web1.orgPath("reports"), { body });
      assert.equal((await poll(web1, 0)).status, 204);
      assert.equal((await poll(nodeClients.web2!, 0)).body!.id, created.body.id);
      const state = await admin.get<{ nodes: string[]; reports: Array<{ id: string; node: string; status: string }> }>(admin.orgPath("run-requests", created.body.id));
      assert.deepEqual(state.reports.map((r) => [r.id, r.node, r.status]), [[body.id, "web1", "success"]]);
      await rejectsWith(admin.request("POST", admin.orgPath("run-requests"), { body: { query: "role:(web" } }), 400, "bad_query");
      await rejectsWith(poll(web1, 61), 400, "invalid_parameter");
    });

    test("a request made through another server on the same database wakes the long-poll here", async () => {
      const dataDir = mkdtempSync(join(tmpdir(), "sous-server2-"));
      const second = await startServer({ dataDir, port: 0, location: ctx.location });
      try {
        const web2 = nodeClients.web2!;
        // Answer web2's pending request first, so that the next one is the only one.
        const pending = await web2.request<{ id: string }>("GET", `${web2.orgPath("nodes", "web2", "run-requests")}?wait=0`);
        if (pending.status === 200) await web2.request("POST", web2.orgPath("reports"), { body: report("web2", { run_request: pending.body.id }) });
        const waiting = web2.request<{ id: string }>("GET", `${web2.orgPath("nodes", "web2", "run-requests")}?wait=20`);
        await new Promise((resolve) => setTimeout(resolve, 200));
        const otherAdmin = new SousClient({ ...admin.options, serverUrl: second.url });
        const started = Date.now();
        const created = await otherAdmin.request<{ id: string }>("POST", otherAdmin.orgPath("run-requests"), { body: { query: "name:web2" } });
        const answered = await waiting;
        assert.equal(answered.body.id, created.body.id);
        assert.ok(Date.now() - started < 3000, `woken after ${Date.now() - started} ms`);
      } finally {
        await second.close();
        rmSync(dataDir, { recursive: true, force: true });
      }
    });

    test("reports older than the retention are deleted when the server starts", async () => {
      const web1 = nodeClients.web1!;
      const old = report("web1", {}, 40 * 86400);
      const recent = report("web1", {}, 86400);
      await web1.request("POST", web1.orgPath("reports"), { body: old });
      await web1.request("POST", web1.orgPath("reports"), { body: recent });
      const dataDir = mkdtempSync(join(tmpdir(), "sous-server3-"));
      const second = await startServer({ dataDir, port: 0, location: ctx.location, reportRetentionDays: 30 });
      try {
        await rejectsWith(admin.get(admin.orgPath("reports", String(old.id))), 404);
        assert.equal((await admin.get<{ id: string }>(admin.orgPath("reports", String(recent.id)))).id, recent.id);
      } finally {
        await second.close();
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
}
