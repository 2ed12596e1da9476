// W4 (shared/WORKLOADS.md): the server at scale, on SQLite and on PostgreSQL.
//   npm run bench:w4                       10,000 nodes of ~3 KB, both stores
//   npm run bench:w4 -- --nodes 100000     100,000 nodes
//   npm run bench:w4 -- --big              also 10,000 nodes of ~40 KB
//   npm run bench:w4 -- --backend sqlite   one store only (sqlite | postgres | both)
//   npm run bench:w4 -- --store-cache DIR  keep the loaded SQLite store in DIR and reuse it next time
//                                          (100,000 nodes take minutes to load; saves leave the count as is)
// Nodes are bulk-loaded through the store (loading is not what W4 measures), then the real
// server runs as its own process (`node bin/sous.js server`) and is measured over HTTP with
// signed requests: search p50/p99 per query (partial search), node saves per second while
// searches run, start-up time on the loaded store, memory (RSS and peak).
import { execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pg from "pg";
import { SousClient } from "../src/client/api.js";
import { generateKeyPair } from "../src/protocol/signing.js";
import { normalizeEnvironment, normalizeNode, searchEntry } from "../src/server/objects.js";
import { Store } from "../src/server/store/store.js";
import type { StoreLocation } from "../src/server/store/store.js";
import { prng } from "../test/server/prng.js";

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : undefined;
};
const NODES = Number(flag("nodes") ?? 10_000);
const BIG = args.includes("--big");
const BACKEND = flag("backend") ?? "both";
const RUNS_PER_QUERY = Number(flag("runs") ?? 60);
const SAVE_SECONDS = Number(flag("save-seconds") ?? 10);
const ROWS = Number(flag("rows") ?? 1000);
const ROOT = resolve(import.meta.dirname, "..");
const STORE_CACHE = flag("store-cache");


const CPU_FLAGS = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology cpuid tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm abm 3dnowprefetch".split(" ");

/** A node as an agent reports it: ~3 KB of facts (or ~40 KB with a package list). */
export function makeNode(i: number, big: boolean): Record<string, unknown> {
  const random = prng(i + 1);
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!;
  const name = `node-${String(i).padStart(6, "0")}`;
  const roles = ["base"];
  const r = random();
  if (r < 0.1) roles.push("web");
  else if (r < 0.4) roles.push("app");
  else if (r < 0.45) roles.push("db");
  else if (r < 0.5) roles.push("cache");
  if (random() < 0.01) roles.push("monitoring");
  const platform = random() < 0.6 ? "debian" : random() < 0.75 ? "ubuntu" : "centos";
  const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  const mac = Array.from({ length: 6 }, () => Math.floor(random() * 256).toString(16).padStart(2, "0")).join(":").toUpperCase();
  const cpus = pick([1, 2, 4, 8, 16, 32]);
  const memoryKb = pick([2, 4, 8, 16, 32, 64]) * 1_000_000;
  const release = pick(["6.1.0-13-amd64", "6.1.0-18-amd64", "5.10.0-28-amd64", "5.15.0-91-generic"]);
  const interfaces: Record<string, unknown> = {
    lo: { mtu: "65536", flags: ["LOOPBACK", "UP", "LOWER_UP"], encapsulation: "Loopback", addresses: { "127.0.0.1": { family: "inet", prefixlen: "8", netmask: "255.0.0.0", scope: "Node" } }, state: "unknown" },
    eth0: { type: "eth", number: "0", mtu: "1500", flags: ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"], encapsulation: "Ethernet", addresses: { [ip]: { family: "inet", prefixlen: "16", netmask: "255.255.0.0", broadcast: "10.255.255.255", scope: "Global" }, [mac]: { family: "lladdr" } }, state: "up", routes: [{ destination: "10.0.0.0/16", family: "inet", scope: "link", proto: "kernel", src: ip }] },
  };
  if (random() < 0.2) interfaces.eth1 = { type: "eth", number: "1", mtu: "9000", flags: ["BROADCAST", "UP"], addresses: { [`192.168.${i & 255}.${(i >> 8) & 255}`]: { family: "inet", prefixlen: "24" } }, state: "up" };
  const automatic: Record<string, unknown> = {
    hostname: name,
    fqdn: `${name}.example.com`,
    domain: "example.com",
    ipaddress: ip,
    macaddress: mac,
    os: "linux",
    os_version: release,
    platform,
    platform_family: platform === "centos" ? "rhel" : "debian",
    platform_version: platform === "debian" ? pick(["11.8", "12.4"]) : platform === "ubuntu" ? pick(["20.04", "22.04"]) : "7.9",
    kernel: { name: "Linux", release, version: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 (2023-09-29)", machine: "x86_64", processor: "x86_64", os: "GNU/Linux" },
    cpu: { total: cpus, real: Math.max(1, cpus / 2), cores: cpus, "0": { vendor_id: "GenuineIntel", family: "6", model: "85", model_name: "Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz", mhz: "2499.998", cache_size: "36608 KB", flags: CPU_FLAGS } },
    memory: { total: memoryKb, free: Math.floor(memoryKb * random()), swap: { total: 0, free: 0 }, buffers: 102400, cached: 1048576 },
    network: { default_interface: "eth0", default_gateway: "10.0.0.1", interfaces },
    filesystem: {
      "/dev/vda1": { kb_size: 51474912, kb_used: Math.floor(random() * 5e7), percent_used: `${Math.floor(random() * 100)}%`, mount: "/", fs_type: "ext4", mount_options: ["rw", "relatime", "errors=remount-ro"] },
      "/dev/vdb1": { kb_size: 206293688, kb_used: Math.floor(random() * 2e8), mount: "/srv", fs_type: "xfs", mount_options: ["rw", "noatime"] },
      tmpfs: { kb_size: 1638400, mount: "/run", fs_type: "tmpfs", mount_options: ["rw", "nosuid", "nodev"] },
    },
    dmi: { system: { manufacturer: "Amazon EC2", product_name: "m5.xlarge", serial_number: `ec2${i.toString(16)}` }, bios: { vendor: "Amazon EC2", version: "1.0" } },
    cloud: { provider: "ec2", public_ipv4: null, local_ipv4: ip },
    uptime_seconds: Math.floor(random() * 1e7),
    ohai_time: 1_700_000_000 + i,
    roles,
    recipes: roles.flatMap((role) => [`${role}::default`, ...(role === "web" ? ["nginx::default", "nginx::site"] : [])]),
    chef_packages: { sous: { version: "0.1.0" } },
  };
  if (big) {
    const packages: Record<string, unknown> = {};
    for (let p = 0; p < 600; p++) packages[`package-${p}-${(p * 7919) % 1000}`] = { version: `${p % 9}.${p % 13}.${p % 7}-${p % 3}`, arch: "amd64", publisher: "Debian" };
    automatic.packages = packages;
  }
  return {
    name,
    chef_environment: pick(["production", "production", "staging", "development"]),
    run_list: roles.map((role) => `role[${role}]`),
    normal: { tags: random() < 0.05 ? ["canary"] : [], app: { port: 8080 + (i % 4) } },
    default: {},
    override: {},
    automatic,
    last_run: { status: "success", start: "2026-11-25T10:00:00Z", end: "2026-11-25T10:00:04Z", updated_resources: Math.floor(random() * 5) },
  };
}

const QUERIES: Array<[string, string]> = [
  ["role", "role:web"],
  ["and + numeric range", "platform:debian AND memory_total:[8000000 TO *]"],
  ["wildcard", "ipaddress:10.0.1*"],
  ["nested (full path)", "kernel_release:6.1.0-13-amd64 AND network_interfaces:eth1"],
  ["nested (dotted)", "filesystem./dev/vdb1.fs_type:xfs AND cpu.total:[16 TO *]".replace("/dev/vdb1", "\\/dev\\/vdb1")],
  ["NOT", "role:app AND NOT chef_environment:production"],
  ["exact name", "name:node-000042"],
  ["leaf key + wildcard key", "tags:canary OR *_product_name:m5*"],
];

const PARTIAL = { name: ["name"], ip: ["ipaddress"], platform: ["platform"], kernel: ["kernel", "release"] };

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** CPU time (user + system) a process has used so far, in ms: unlike wall time, barely moved by other load on the machine. */
function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  // utime and stime are fields 14 and 15 of /proc/PID/stat, in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string): number => Number(/(\d+) kB/.exec(status.split("\n").find((line) => line.startsWith(name)) ?? "")?.[1] ?? 0) / 1024;
  return { rss: field("VmRSS:"), peak: field("VmHWM:") };
}

async function startPostgres(): Promise<{ url: string; stop: () => void }> {
  if (process.env.SOUS_TEST_POSTGRES_URL) return { url: process.env.SOUS_TEST_POSTGRES_URL, stop: () => undefined };
  const output = execFileSync("bash", [join(ROOT, "scripts/ci-postgres.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  const url = /SOUS_TEST_POSTGRES_URL=(\S+)/.exec(output)![1]!;
  const data = /SOUS_TEST_POSTGRES_DATA=(\S+)/.exec(output)![1]!;
  const bin = execFileSync("bash", ["-c", "ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1"], { encoding: "utf8" }).trim();
  return { url, stop: () => execFileSync("runuser", ["-u", "postgres", "--", `${bin}/pg_ctl`, "-D", data, "-m", "fast", "stop"], { stdio: "ignore" }) };
}

interface QueryFigures {
  label: string;
  query: string;
  total: number;
  p50: number;
  p99: number;
  cpuMs: number;
}

/** p50/p99 and server CPU of each W4 query, run RUNS_PER_QUERY times after one warm-up run each. */
async function measureQueries(client: SousClient, pid: number): Promise<QueryFigures[]> {
  for (const [, query] of QUERIES) await timedSearch(client, query);
  const queries: QueryFigures[] = [];
  for (const [label, query] of QUERIES) {
    const times: number[] = [];
    let total = 0;
    const cpuBefore = cpuMsOf(pid);
    for (let run = 0; run < RUNS_PER_QUERY; run++) {
      const result = await timedSearch(client, query);
      times.push(result.ms);
      total = result.total;
    }
    times.sort((a, b) => a - b);
    queries.push({ label, query, total, p50: percentile(times, 50), p99: percentile(times, 99), cpuMs: (cpuMsOf(pid) - cpuBefore) / RUNS_PER_QUERY });
  }
  return queries;
}

async function stopServerProcess(child: ChildProcess): Promise<void> {
  child.kill("SIGTERM");
  await new Promise((r) => child.once("exit", r));
}

interface Measured {
  backend: string;
  nodes: number;
  nodeBytes: number;
  loadSeconds: number;
  storeMb: number;
  startMs: number;
  storeAndListenMs: number;
  cliBaselineMs: number;
  queries: QueryFigures[];
  /** The same queries on a server without the search result cache (SQLite; PostgreSQL has none). */
  uncached?: QueryFigures[];
  cpuMsPerSave: number;
  savesPerSecond: number;
  savesUnderLoad: number;
  searchP50UnderLoad: number;
  searchP99UnderLoad: number;
  rssMb: number;
  peakMb: number;
}

export async function load(location: StoreLocation, count: number, big: boolean, adminPublicKey: string): Promise<{ seconds: number; bytes: number }> {
  const store = await Store.open(location);
  const started = performance.now();
  let bytes = 0;
  try {
    await store.createOrg("bench", "W4 bench");
    const client = { name: "bench", public_key: adminPublicKey, admin: true, validator: false };
    await store.put({ org: "bench", kind: "client", name: "bench" }, client, { mode: "create", search: searchEntry("client", client) });
    for (const env of ["_default", "production", "staging", "development"]) {
      const data = normalizeEnvironment({ name: env });
      await store.put({ org: "bench", kind: "environment", name: env }, data, { mode: "create", search: searchEntry("environment", data) });
    }
    const batch = 500;
    for (let start = 0; start < count; start += batch) {
      await store.transaction(async (t) => {
        for (let i = start; i < Math.min(count, start + batch); i++) {
          const node = normalizeNode(makeNode(i, big));
          if (i < 50) bytes += JSON.stringify(node).length;
          await t.put({ org: "bench", kind: "node", name: node.name as string }, node, { mode: "create", search: searchEntry("node", node) });
        }
      });
      process.stderr.write(`\r  loaded ${Math.min(count, start + batch)}/${count}`);
    }
    process.stderr.write("\n");
  } finally {
    await store.close();
  }
  return { seconds: (performance.now() - started) / 1000, bytes: bytes / Math.min(50, count) };
}

async function startServerProcess(dataDir: string, database?: string, extra: string[] = []): Promise<{ child: ChildProcess; url: string; startMs: number; storeAndListenMs: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, [join(ROOT, "bin/sous.js"), "server", "--data-dir", dataDir, "--listen", "127.0.0.1:0", ...(database ? ["--database", database] : []), ...extra], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const url = await new Promise<string>((resolveUrl, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+).*started in \d+ ms/.exec(output);
      if (match) resolveUrl(match[1]!);
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("exit", (code) => reject(new Error(`server exited (${code}): ${output}`)));
    setTimeout(() => reject(new Error(`server did not start in 60 s: ${output}`)), 60_000).unref();
  });
  const startMs = performance.now() - started;
  return { child, url, startMs, storeAndListenMs: Number(/started in (\d+) ms/.exec(output)?.[1] ?? NaN) };
}

/** Wall time of `sous --help` right now: what starting the CLI costs on this machine at this load. */
function cliBaselineMs(): number {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    execFileSync(process.execPath, [join(ROOT, "bin/sous.js"), "--help"], { stdio: "ignore" });
    times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b)[1]!;
}

async function timedSearch(client: SousClient, query: string): Promise<{ ms: number; total: number }> {
  const started = performance.now();
  // The answer is taken as bytes, with the total read from its start: parsing a 1000-row page
  // would cost the load generator, which shares the two cores with the server, ~2 ms a search.
  const { body } = await client.request<Buffer>("POST", `${client.orgPath("search", "node")}?q=${encodeURIComponent(query)}&rows=${ROWS}`, { body: PARTIAL, raw: true });
  const total = /^\{"total":(\d+),/.exec(body.subarray(0, 40).toString("utf8"))?.[1];
  if (total === undefined) throw new Error(`unexpected search answer: ${body.subarray(0, 200).toString("utf8")}`);
  return { ms: performance.now() - started, total: Number(total) };
}

async function measure(backend: "sqlite" | "postgres", count: number, big: boolean, postgresUrl?: string): Promise<Measured> {
  // A cached SQLite store is used in place: the measured saves rewrite existing nodes only.
  const cacheDir = backend === "sqlite" && STORE_CACHE ? resolve(STORE_CACHE, `${count}${big ? "-big" : ""}`) : undefined;
  const cached = cacheDir !== undefined && existsSync(join(cacheDir, "loaded.json"));
  if (cacheDir) mkdirSync(cacheDir, { recursive: true });
  const dataDir = cacheDir ?? mkdtempSync(join(tmpdir(), `sous-w4-${backend}-`));
  const keys = cached ? (JSON.parse(readFileSync(join(cacheDir, "loaded.json"), "utf8")) as { keys: { publicKey: string; privateKey: string } }).keys : generateKeyPair();
  let database: string | undefined;
  let dropDatabase = async (): Promise<void> => undefined;
  if (backend === "postgres") {
    const name = `sous_w4_${Date.now()}`;
    const admin = new pg.Client({ connectionString: postgresUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(postgresUrl!);
    url.pathname = `/${name}`;
    database = url.toString();
    dropDatabase = async () => {
      const again = new pg.Client({ connectionString: postgresUrl });
      await again.connect();
      await again.query(`DROP DATABASE IF EXISTS ${name}`);
      await again.end();
    };
  }
  const location: StoreLocation = database ? { postgresUrl: database } : { sqliteFile: join(dataDir, "sous.db") };
  process.stderr.write(`${backend}: loading ${count} nodes${big ? " (~40 KB each)" : ""}\n`);
  let loaded: { seconds: number; bytes: number };
  if (cached) {
    loaded = (JSON.parse(readFileSync(join(cacheDir, "loaded.json"), "utf8")) as { loaded: typeof loaded }).loaded;
    process.stderr.write(`  reusing the store in ${cacheDir}\n`);
  } else {
    loaded = await load(location, count, big, keys.publicKey);
    if (cacheDir) writeFileSync(join(cacheDir, "loaded.json"), JSON.stringify({ keys, loaded }));
  }
  let storeMb = 0;
  if (backend === "sqlite") {
    for (const file of ["sous.db", "sous.db-wal"]) if (existsSync(join(dataDir, file))) storeMb += statSync(join(dataDir, file)).size / 1024 / 1024;
  } else {
    const client = new pg.Client({ connectionString: database });
    await client.connect();
    storeMb = Number((await client.query("SELECT pg_database_size(current_database()) AS size")).rows[0].size) / 1024 / 1024;
    await client.end();
  }
  let uncached: QueryFigures[] | undefined;
  if (backend === "sqlite") {
    // Every search in full first: what a query costs the first time, or right after a write to a key it depends on.
    const plain = await startServerProcess(dataDir, database, ["--no-search-cache"]);
    try {
      uncached = await measureQueries(new SousClient({ serverUrl: plain.url, org: "bench", client: "bench", privateKey: keys.privateKey }), plain.child.pid!);
    } finally {
      await stopServerProcess(plain.child);
    }
  }
  const server = await startServerProcess(dataDir, database);
  try {
    const client = new SousClient({ serverUrl: server.url, org: "bench", client: "bench", privateKey: keys.privateKey });
    const pid = server.child.pid!;
    const queries = await measureQueries(client, pid);

    // Saves alone, then saves with two search loops running: an agent's end-of-run save changes a few facts.
    const saveLoop = async (deadline: number, worker: number, workers: number): Promise<number> => {
      let saves = 0;
      for (let i = worker; performance.now() < deadline; i += workers) {
        const node = makeNode(i % count, big) as { name: string; automatic: Record<string, unknown>; last_run: Record<string, unknown> };
        node.automatic.ohai_time = Date.now() / 1000;
        node.automatic.uptime_seconds = Math.floor(performance.now());
        node.last_run = { ...node.last_run, end: new Date().toISOString() };
        await client.request("PUT", client.orgPath("nodes", node.name), { body: node });
        saves++;
      }
      return saves;
    };
    const saveWorkers = 16;
    const aloneDeadline = performance.now() + (SAVE_SECONDS / 2) * 1000;
    const cpuBeforeSaves = cpuMsOf(pid);
    const alone = (await Promise.all(Array.from({ length: saveWorkers }, (_, w) => saveLoop(aloneDeadline, w, saveWorkers)))).reduce((a, b) => a + b, 0);
    const savesPerSecond = alone / (SAVE_SECONDS / 2);
    const cpuMsPerSave = (cpuMsOf(pid) - cpuBeforeSaves) / Math.max(1, alone);
    const deadline = performance.now() + SAVE_SECONDS * 1000;
    const searchTimes: number[] = [];
    const searchLoop = async (offset: number): Promise<void> => {
      for (let i = offset; performance.now() < deadline; i++) searchTimes.push((await timedSearch(client, QUERIES[i % QUERIES.length]![1])).ms);
    };
    const [saves] = await Promise.all([
      Promise.all(Array.from({ length: saveWorkers }, (_, w) => saveLoop(deadline, w, saveWorkers))).then((counts) => counts.reduce((a, b) => a + b, 0)),
      searchLoop(0),
      searchLoop(3),
    ]);
    searchTimes.sort((a, b) => a - b);
    const memory = memoryOf(server.child.pid!);
    return {
      backend,
      nodes: count,
      nodeBytes: loaded.bytes,
      loadSeconds: loaded.seconds,
      storeMb,
      startMs: server.startMs,
      storeAndListenMs: server.storeAndListenMs,
      cliBaselineMs: cliBaselineMs(),
      queries,
      ...(uncached ? { uncached } : {}),
      savesPerSecond,
      cpuMsPerSave,
      savesUnderLoad: saves / SAVE_SECONDS,
      searchP50UnderLoad: percentile(searchTimes, 50),
      searchP99UnderLoad: percentile(searchTimes, 99),
      rssMb: memory.rss,
      peakMb: memory.peak,
    };
  } finally {
    await stopServerProcess(server.child);
    await dropDatabase();
    if (!cacheDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

function queryLine(q: QueryFigures): string {
  return `  ${q.label.padEnd(24)} p50 ${q.p50.toFixed(1).padStart(7)} ms  p99 ${q.p99.toFixed(1).padStart(7)} ms  server CPU ${q.cpuMs.toFixed(1).padStart(6)} ms  (${q.total} hits)  ${q.query}`;
}

function report(m: Measured): string {
  const lines = [
    `\n== W4 on ${m.backend}: ${m.nodes.toLocaleString("en")} nodes of ~${(m.nodeBytes / 1024).toFixed(1)} KB (store ${m.storeMb.toFixed(0)} MB, bulk load ${m.loadSeconds.toFixed(1)} s) ==`,
    `server start-up on the loaded store: ${m.startMs.toFixed(0)} ms from spawn to listening, of which ${m.storeAndListenMs.toFixed(0)} ms loading the server code, opening the store and listening (\`sous --help\` alone: ${m.cliBaselineMs.toFixed(0)} ms now)`,
    ...(m.uncached ? [`search without the result cache (--no-search-cache: a query's first run, or its first after a write to a key it depends on), partial results, rows=${ROWS}, ${RUNS_PER_QUERY} runs each:`, ...m.uncached.map(queryLine)] : []),
    `search${m.uncached ? " with the result cache (the default: a repeated query while its keys are unchanged)" : ""}, partial results, rows=${ROWS}, ${RUNS_PER_QUERY} runs each:`,
    ...m.queries.map(queryLine),
    `node saves: server CPU ${m.cpuMsPerSave.toFixed(2)} ms per save (≈ ${(1000 / m.cpuMsPerSave).toFixed(0)} saves/s per core); measured ${m.savesPerSecond.toFixed(0)}/s alone; ${m.savesUnderLoad.toFixed(0)}/s with 2 concurrent search loops (search p50 ${m.searchP50UnderLoad.toFixed(1)} ms, p99 ${m.searchP99UnderLoad.toFixed(1)} ms meanwhile)`,
    `server memory: ${m.rssMb.toFixed(0)} MB RSS now, ${m.peakMb.toFixed(0)} MB peak`,
    `machine load average at the end: ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")} (2 cores: wall times above include waiting for the CPU)`,
  ];
  return lines.join("\n");
}

async function run(): Promise<void> {
  if (!existsSync(join(ROOT, "dist/cli/main.js"))) throw new Error("dist/ is missing: run `npm run build` first (npm run bench:w4 does)");
  const backends: Array<"sqlite" | "postgres"> = BACKEND === "both" ? ["sqlite", "postgres"] : [BACKEND as "sqlite" | "postgres"];
  let postgres: { url: string; stop: () => void } | undefined;
  const results: Measured[] = [];
  try {
    for (const backend of backends) {
      if (backend === "postgres") postgres ??= await startPostgres();
      const m = await measure(backend, NODES, false, postgres?.url);
      process.stdout.write(`${report(m)}\n`);
      results.push(m);
      if (BIG) {
        const b = await measure(backend, Math.min(NODES, 10_000), true, postgres?.url);
        process.stdout.write(`${report(b)}\n`);
        results.push(b);
      }
    }
  } finally {
    postgres?.stop();
  }
  const sqlite = results.find((r) => r.backend === "sqlite" && r.nodeBytes < 10_000);
  const postgresResult = results.find((r) => r.backend === "postgres" && r.nodeBytes < 10_000);
  if (sqlite && postgresResult) {
    const worst = (m: Measured): number => Math.max(...m.queries.map((q) => q.p99));
    process.stdout.write(`\nratios PostgreSQL / SQLite (same run): worst search p99 ${(worst(postgresResult) / worst(sqlite)).toFixed(2)}x, saves/s under search ${(postgresResult.savesUnderLoad / sqlite.savesUnderLoad).toFixed(2)}x\n`);
  }
}

// Runs when executed, not when imported (for profiling the generator or the load).
if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) await run();
