// Push mode with a server configured: each host's run report lands on the server, where
// `sous runs` and `sous node status` show it as they show an agent's.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Fleet, fleetUnavailable, useFleet } from "../fleet/index.js";
import { scratch, sous } from "../helpers.js";
import { backends, createOrg, startTestServer } from "../server/helpers.js";
import { cookbook, writeRepo } from "../cookbook/repo.js";
import { writeW2Repository } from "./repository.js";

const skip = fleetUnavailable() ?? false;
const startedFleet = useFleet(2);
process.env.SOUS_HOME = scratch("sous-home-");
const keys = scratch("sous-keys-");
const repo = scratch("sous-push-reports-");

describe("push mode sends run reports to the configured server", { skip }, () => {
  let fleet: Fleet;
  let ctx: Awaited<ReturnType<typeof startTestServer>>;
  before(async () => {
    fleet = await startedFleet();
    ctx = await startTestServer(backends[0]!);
    const { adminKeys } = await createOrg(ctx.server.url, ctx.serverAdmin, "acme");
    const keyFile = join(keys, "alice.pem");
    writeFileSync(keyFile, adminKeys.privateKey, { mode: 0o600 });
    Object.assign(process.env, { SOUS_SERVER_URL: ctx.server.url, SOUS_ORG: "acme", SOUS_CLIENT: "alice", SOUS_KEY: keyFile });
    writeW2Repository(repo, { files: 3, directories: 1 });
  });
  after(async () => {
    for (const name of ["SOUS_SERVER_URL", "SOUS_ORG", "SOUS_CLIENT", "SOUS_KEY"]) delete process.env[name];
    await ctx?.cleanup();
  });

  it("a report per host on each run; none for a dry run or with --no-server-reports", async () => {
    const ssh = ["-k", fleet.keyFile, "--known-hosts", fleet.knownHostsFile, ...fleet.hosts.map((host) => host.target)];
    const first = await sous("converge", "--repo", repo, ...ssh);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.match(first.stderr, new RegExp(`2 run reports sent to ${ctx.server.url.replace(/[.]/g, "\\.")}`));
    const runs = JSON.parse((await sous("runs", "--json")).stdout) as Array<{ node: string; status: string; totals: { updated: number; resources: number } }>;
    assert.deepEqual(runs.map((run) => [run.status, run.totals.updated, run.totals.resources]), [["success", 4, 4], ["success", 4, 4]]);
    const nodes = runs.map((run) => run.node).sort();
    assert.deepEqual(nodes, fleet.hosts.map((host) => host.name).sort());
    const second = await sous("converge", "--repo", repo, ...ssh);
    assert.equal(second.code, 0);
    const shown = await sous("runs", nodes[0]!, "--json");
    assert.deepEqual((JSON.parse(shown.stdout) as Array<{ totals: { updated: number } }>).map((run) => run.totals.updated), [0, 4]);
    const report = JSON.parse((await sous("runs", "show", (JSON.parse(shown.stdout) as Array<{ id: string }>)[1]!.id, "--json")).stdout) as { run_list: string[]; cookbooks: Record<string, string>; resources: Array<{ id: string; location: string }> };
    assert.deepEqual(report.run_list, ["recipe[w2::default]"]);
    assert.deepEqual(report.cookbooks, { w2: "1.0.0" });
    assert.match(report.resources[0]!.location, /cookbooks\/w2\/recipes\/default\.ts:\d+$/);
    await sous("converge", "--repo", repo, "--dry-run", ...ssh);
    await sous("converge", "--repo", repo, "--no-server-reports", ...ssh);
    assert.equal((JSON.parse((await sous("runs", "--json", "--limit", "100")).stdout) as unknown[]).length, 4);
  });

  it("recipes pushed to a host search the repository's nodes/ folder", async () => {
    const lb = writeRepo({
      ...cookbook("lb", {
        recipes: {
          default: `import { recipe } from "sous";
export default recipe(({ search, resources: { file } }) => {
  const apps = search<{ ip: string }>("node", "role:app", { keys: { ip: ["ipaddress"] } });
  file("/srv/lb.conf", { content: apps.map((app) => \`server \${app.ip}\\n\`).join("") });
});
`,
        },
      }),
      "sous.config.ts": `import { config } from "sous";\nexport default config({ runList: ["recipe[lb]"] });\n`,
    });
    mkdirSync(join(lb, "nodes"));
    for (const [name, ip] of [["app1", "10.1.0.1"], ["app2", "10.1.0.2"]]) writeFileSync(join(lb, "nodes", `${name}.json`), JSON.stringify({ name, run_list: ["role[app]"], automatic: { ipaddress: ip } }));
    const target = fleet.hosts[0]!.target;
    const ssh = ["-k", fleet.keyFile, "--known-hosts", fleet.knownHostsFile];
    const pushed = await sous("converge", "--repo", lb, "--no-server-reports", ...ssh, target);
    assert.equal(pushed.code, 0, pushed.stdout + pushed.stderr);
    const shown = await sous("exec", "cat /srv/lb.conf", "--persist", "0", ...ssh, target);
    assert.match(shown.stdout, /\| server 10\.1\.0\.1\n.*\| server 10\.1\.0\.2\n/);
  });
});
