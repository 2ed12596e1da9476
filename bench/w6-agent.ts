// W6 (shared/WORKLOADS.md): the agent loop.
//   npm run bench:w6                          both parts
//   npm run bench:w6 -- --runs 10             no-op runs timed per mode (default 10)
//   npm run bench:w6 -- --agents 200 --seconds 20 --concurrency 20
// Part 1: one agent's no-op run (`sous agent --once`: facts, the node, its environment and
// role, the resolved cookbooks from the cache, converge, node save, report) against a server
// on this machine, CPU and wall, beside a local `sous converge` of the same run list from the
// same cookbook. Part 2: N simulated agents (one process, N node identities, each with its own
// key) checking in as fast as a bounded number of them at once can: the requests an agent's
// run makes (node, environment, role, cookbook versions, node save, report), runs per second
// sustained, p99 per request kind, the server's CPU per run (its process's /proc counters), and
// store growth per 1,000 reports. The server runs as its own process (`node bin/sous.js server`).
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { readAgentConfig } from "../src/agent/config.js";
import { registerNode } from "../src/agent/register.js";
import { SousClient } from "../src/client/api.js";
import { generateKeyPair } from "../src/protocol/signing.js";
import { gatherBasicFacts } from "../src/facts/basic.js";
import { LocalHost } from "../src/host/local.js";
import { runReportToServerReport } from "../src/run/report/server-report.js";

const args = process.argv.slice(2);
const flag = (name: string, fallback: number): number => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const RUNS = flag("runs", 10);
const AGENTS = flag("agents", 200);
const SECONDS = flag("seconds", 20);
const CONCURRENCY = flag("concurrency", 20);
const FILES = 50;
const ROOT = resolve(import.meta.dirname, "..");
const SOUS = join(ROOT, "bin", "sous.js");
const work = mkdtempSync(join(tmpdir(), "sous-w6-"));
const env: NodeJS.ProcessEnv = { ...process.env, SOUS_HOME: join(work, "home"), NO_COLOR: "1" };
for (const name of ["SOUS_SERVER_URL", "SOUS_ORG", "SOUS_CLIENT", "SOUS_KEY"]) delete env[name];

function sous(...argv: string[]): string {
  return execFileSync(process.execPath, [SOUS, ...argv], { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

async function freePort(): Promise<number> {
  return new Promise((done) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => done(port));
    });
  });
}

/** user+system seconds of a process from /proc (clock ticks of 100 Hz). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Runs a command under GNU time: wall seconds and user+system CPU seconds (with its children). */
function timed(argv: string[]): { wall: number; cpu: number } {
  const out = join(work, "time.txt");
  execFileSync("/usr/bin/time", ["-o", out, "-f", "%e %U %S", process.execPath, ...argv], { env, stdio: ["ignore", "ignore", "pipe"] });
  const [wall, user, system] = readFileSync(out, "utf8").trim().split("\n").pop()!.split(" ").map(Number);
  return { wall: wall!, cpu: user! + system! };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.ceil((p / 100) * values.length) - 1)]!;
const spread = (values: number[]) => `${median(values).toFixed(3)} (${Math.min(...values).toFixed(3)}-${Math.max(...values).toFixed(3)})`;

let server: ChildProcess | undefined;
try {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dataDir = join(work, "home", "server");
  server = spawn(process.execPath, [SOUS, "server", "--listen", `127.0.0.1:${port}`], { env, stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((ready, fail) => {
    server!.stdout!.on("data", (chunk: Buffer) => chunk.toString().includes("listening") && ready());
    server!.on("exit", (code) => fail(new Error(`the server exited (${code})`)));
  });
  sous("org", "create", "acme", "--server-url", url);
  const admin = new SousClient({ serverUrl: url, org: "acme", client: "admin", privateKeyFile: join(work, "home", "acme", "admin.pem") });

  // One cookbook of FILES managed files, in a repository for the local run and on the server for the agent.
  const repo = join(work, "repo");
  const cookbook = join(repo, "cookbooks", "w6");
  mkdirSync(join(cookbook, "recipes"), { recursive: true });
  writeFileSync(join(cookbook, "package.json"), JSON.stringify({ name: "w6", version: "1.0.0", private: true }));
  writeFileSync(join(cookbook, "attributes.ts"), `import { attributes } from "sous";\nexport default attributes({ w6: { dir: "/tmp/w6", files: ${FILES} } });\n`);
  writeFileSync(
    join(cookbook, "recipes", "default.ts"),
    `import { recipe } from "sous";\nexport default recipe(({ node, resources: { directory, file } }) => {\n  const w6 = node.attributes.w6 as { dir: string; files: number };\n  directory(w6.dir, { mode: "0755" });\n  for (let i = 0; i < w6.files; i++) file(\`\${w6.dir}/file-\${i}.conf\`, { content: \`file \${i} of \${node.name}\\n\`, mode: "0644" });\n});\n`,
  );
  mkdirSync(join(repo, "roles"));
  writeFileSync(join(repo, "roles", "w6.json"), JSON.stringify({ name: "w6", run_list: ["recipe[w6]"] }));
  sous("cookbook", "upload", cookbook, "--server-url", url);
  await admin.request("PUT", admin.orgPath("roles", "w6"), { body: { name: "w6", run_list: ["recipe[w6]"] } });

  // ---- part 1: one agent's no-op run beside a local converge ----
  const target = join(work, "target");
  const agentTarget = join(work, "agent-target");
  const attrs = join(work, "attrs.json");
  writeFileSync(attrs, JSON.stringify({ w6: { dir: target } }));
  await admin.request("PUT", admin.orgPath("nodes", "w6-agent"), { body: { name: "w6-agent", run_list: ["role[w6]"], normal: { w6: { dir: agentTarget } } } });
  const agentConfig = join(work, "agent.json");
  writeFileSync(agentConfig, JSON.stringify({ server_url: url, org: "acme", node_name: "w6-agent", client_key: join(work, "agent.pem"), state_dir: join(work, "agent-state") }));
  const { body: token } = await admin.request<{ token: string }>("POST", admin.orgPath("bootstrap-tokens"), { body: {} });
  await registerNode(readAgentConfig(agentConfig), { token: token.token });
  const agentRun = [SOUS, "agent", "--once", "--config", agentConfig];
  const localRun = [SOUS, "converge", "--repo", repo, "-r", "role[w6]", "-N", "w6-local", "-j", attrs, "--backup-dir", join(work, "backup"), "--report", join(work, "local-report.json")];
  // First runs create the files and fill the caches (compile, cookbook files); the timed ones change nothing.
  timed(agentRun);
  timed(localRun);
  const agent: { wall: number[]; cpu: number[] } = { wall: [], cpu: [] };
  const local: { wall: number[]; cpu: number[] } = { wall: [], cpu: [] };
  const serverCpuBefore = cpuSeconds(server.pid!);
  for (let i = 0; i < RUNS; i++) {
    const a = timed(agentRun);
    agent.wall.push(a.wall);
    agent.cpu.push(a.cpu);
    const l = timed(localRun);
    local.wall.push(l.wall);
    local.cpu.push(l.cpu);
  }
  const serverCpuPerAgentRun = (cpuSeconds(server.pid!) - serverCpuBefore) / RUNS;
  const lastReport = (await admin.get<{ reports: Array<{ totals: { updated: number; resources: number } }> }>(`${admin.orgPath("reports")}?node=w6-agent&limit=1`)).reports[0]!;
  if (lastReport.totals.updated !== 0) throw new Error(`the agent's timed run was not a no-op: ${lastReport.totals.updated} updated`);
  console.log(`W6 part 1: no-op run of ${FILES + 1} resources, ${RUNS} runs each (median (min-max), seconds)`);
  console.log(`  sous agent --once   wall ${spread(agent.wall)}  CPU ${spread(agent.cpu)}  (server CPU per run ${(serverCpuPerAgentRun * 1000).toFixed(1)} ms)`);
  console.log(`  sous converge       wall ${spread(local.wall)}  CPU ${spread(local.cpu)}`);
  console.log(`  agent / local: wall ${(median(agent.wall) / median(local.wall)).toFixed(2)}x, CPU ${(median(agent.cpu) / median(local.cpu)).toFixed(2)}x; agent CPU under 0.5 s: ${median(agent.cpu) < 0.5 ? "met" : "NOT MET"}`);

  // ---- part 2: N simulated agents against the one server ----
  const facts = await gatherBasicFacts(new LocalHost());
  const identities: SousClient[] = [];
  for (let i = 0; i < AGENTS; i++) {
    const name = `sim-${String(i).padStart(4, "0")}`;
    const keys = generateKeyPair();
    const { body: t } = await admin.request<{ token: string }>("POST", admin.orgPath("bootstrap-tokens"), { body: {} });
    const anonymous = new SousClient({ serverUrl: url, org: "acme", client: name });
    await anonymous.request("POST", anonymous.orgPath("clients", "register"), { body: { name, public_key: keys.publicKey, token: t.token }, unsigned: true });
    await admin.request("PUT", admin.orgPath("nodes", name), { body: { name, run_list: ["role[w6]"], normal: { w6: { dir: `/srv/${name}` } } } });
    identities.push(new SousClient({ serverUrl: url, org: "acme", client: name, privateKey: keys.privateKey }));
  }
  const latencies = new Map<string, number[]>();
  const timedRequest = async <T>(kind: string, work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const value = await work();
    (latencies.get(kind) ?? latencies.set(kind, []).get(kind)!).push(performance.now() - started);
    return value;
  };
  const checkIn = async (client: SousClient): Promise<void> => {
    const name = client.options.client;
    const startedAt = new Date();
    const node = await timedRequest("GET node", () => client.request<Record<string, unknown>>("GET", client.orgPath("nodes", name)));
    await timedRequest("GET environment", () => client.get(client.orgPath("environments", "_default")));
    await timedRequest("GET role", () => client.get(client.orgPath("roles", "w6")));
    await timedRequest("POST cookbook_versions", () => client.request("POST", client.orgPath("environments", "_default", "cookbook_versions"), { body: { run_list: ["role[w6]"] } }));
    await timedRequest("PUT node", () => client.saveNode({ ...(node.body as { name: string }), automatic: { ...facts, hostname: name, roles: ["w6"], recipes: ["w6::default"] } }, node.etag));
    const runId = randomUUID();
    const report = runReportToServerReport(
      { runId, node: name, dryRun: false, status: "converged", startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(), counts: { resources: FILES + 1, updated: 0, upToDate: FILES + 1, skipped: 0, failed: 0 }, actions: [] },
      { runList: ["w6::default"], environment: "_default", cookbooks: { w6: "1.0.0" } },
    );
    await timedRequest("POST report", () => client.request("POST", client.orgPath("reports"), { body: report }));
  };
  const storeSize = () => readdirSync(dataDir).filter((file) => file.startsWith("sous.db")).reduce((sum, file) => sum + statSync(join(dataDir, file)).size, 0);
  const sizeBefore = storeSize();
  const cpuBefore = cpuSeconds(server.pid!);
  const started = performance.now();
  let runs = 0;
  let next = 0;
  const deadline = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        const client = identities[next++ % identities.length]!;
        await checkIn(client);
        runs++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const serverCpu = cpuSeconds(server.pid!) - cpuBefore;
  const growth = storeSize() - sizeBefore;
  const rate = runs / elapsed;
  console.log(`W6 part 2: ${AGENTS} simulated agents, ${CONCURRENCY} checking in at once for ${SECONDS} s (6 requests per run)`);
  console.log(`  ${runs} runs in ${elapsed.toFixed(1)} s: ${rate.toFixed(1)} runs/s (${Math.round(rate * 60)} per minute); goal 17 runs/s (30,000 nodes every 30 min): ${rate >= 17 ? "met" : "NOT MET"}, ${(rate / 17).toFixed(1)}x the goal`);
  console.log(`  server CPU ${(serverCpu * 1000 / runs).toFixed(2)} ms per run (${((serverCpu / elapsed) * 100).toFixed(0)}% of one core); at 17 runs/s that is ${((serverCpu / runs) * 17 * 100 / 2).toFixed(0)}% of 2 cores`);
  console.log(`  store growth ${((growth / runs) * 1000 / 1048576).toFixed(2)} MiB per 1,000 runs (reports and node saves; SQLite file and its write-ahead log together, before a checkpoint)`);
  for (const [kind, values] of latencies) console.log(`  ${kind.padEnd(24)} p50 ${percentile(values, 50).toFixed(1)} ms  p99 ${percentile(values, 99).toFixed(1)} ms  (${values.length})`);
  for (const client of identities) client.close();
  admin.close();
} finally {
  server?.kill("SIGTERM");
  await new Promise((done) => setTimeout(done, 500));
  rmSync(work, { recursive: true, force: true });
}
