// Bounded load test of the server (issue 17): many concurrent clients saving nodes, searching and
// running partial searches against a real `node bin/sous.js server` process, for a fixed time.
//   npm run bench:load                                 300 clients for 20 s on SQLite
//   npm run bench:load -- --seconds 180                the full run (issue 17: 180 s)
//   npm run bench:load -- --clients 100 --nodes 500    other sizes
//   npm run bench:load -- --backend postgres           on SOUS_TEST_POSTGRES_URL (a throwaway schema)
// Prints requests per kind, errors, p50/p99 latencies and the server's memory (RSS before, peak,
// and after the load, once idle). Exits 1 when any request failed.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pg from "pg";
import { SousClient } from "../src/client/api.js";
import { generateKeyPair } from "../src/protocol/signing.js";

const args = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1]! : fallback;
};
const SECONDS = Number(flag("seconds", "20"));
const CLIENTS = Number(flag("clients", "300"));
const NODES = Number(flag("nodes", "1000"));
const BACKEND = flag("backend", "sqlite");
const ROOT = resolve(import.meta.dirname, "..");

if (!(SECONDS > 0 && SECONDS <= 3600) || !(CLIENTS > 0 && CLIENTS <= 2000) || !(NODES > 0 && NODES <= 100_000)) {
  throw new Error("--seconds 1-3600, --clients 1-2000, --nodes 1-100000");
}

function memoryMb(pid: number, field: "VmRSS" | "VmHWM"): number {
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
}

function node(i: number, round: number): Record<string, unknown> {
  return {
    name: `load${i}`,
    run_list: [i % 3 === 0 ? "role[db]" : "role[web]"],
    automatic: { platform: "debian", ipaddress: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, memory: { free: `${100_000 + ((i * 7919 + round) % 900_000)}kB` }, uptime_seconds: round },
  };
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), "sous-load-"));
  const schema = `sous_load_${process.pid}`;
  let database: string | undefined;
  if (BACKEND === "postgres") {
    const url = process.env.SOUS_TEST_POSTGRES_URL;
    if (!url) throw new Error('--backend postgres needs SOUS_TEST_POSTGRES_URL (eval "$(bash scripts/ci-postgres.sh)")');
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`CREATE SCHEMA ${schema}`);
    await client.end();
    database = `${url}${url.includes("?") ? "&" : "?"}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  }
  const server = spawn(process.execPath, [join(ROOT, "bin/sous.js"), "server", "--data-dir", dataDir, "--listen", "127.0.0.1:0", ...(database ? ["--database", database] : [])], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const url = await new Promise<string>((resolveUrl, reject) => {
      server.stdout!.on("data", (data) => {
        const match = /listening on (\S+)/.exec(String(data));
        if (match) resolveUrl(match[1]!);
      });
      server.once("exit", (code) => reject(new Error(`the server exited with ${code}`)));
    });
    const serverAdmin = new SousClient({ serverUrl: url, client: "server:admin", privateKeyFile: join(dataDir, "server-admin.pem") });
    const keys = generateKeyPair();
    await serverAdmin.request("POST", "/api/v1/orgs", { body: { name: "load", admin: { name: "alice", public_key: keys.publicKey } } });
    const setup = new SousClient({ serverUrl: url, org: "load", client: "alice", privateKey: keys.privateKey });
    for (const role of ["web", "db"]) await setup.request("PUT", setup.orgPath("roles", role), { body: { name: role, run_list: [`recipe[${role}]`] } });
    for (let start = 0; start < NODES; start += 50) {
      await Promise.all(Array.from({ length: Math.min(50, NODES - start) }, (_, k) => setup.request("PUT", setup.orgPath("nodes", `load${start + k}`), { body: node(start + k, 0) })));
    }
    const before = memoryMb(server.pid!, "VmRSS");
    process.stderr.write(`load: ${NODES} nodes on ${BACKEND}; ${CLIENTS} clients for ${SECONDS} s (server ${before.toFixed(0)} MB)\n`);

    const latencies: Record<"save" | "search" | "partial", number[]> = { save: [], search: [], partial: [] };
    const errors: string[] = [];
    const stopAt = Date.now() + SECONDS * 1000;
    const worker = async (index: number): Promise<void> => {
      // One client (one keep-alive connection) per simulated agent or script.
      const client = new SousClient({ serverUrl: url, org: "load", client: "alice", privateKey: keys.privateKey, timeoutMs: 60_000 });
      for (let round = 1; Date.now() < stopAt; round++) {
        const kind = (["save", "search", "partial"] as const)[(index + round) % 3]!;
        const started = performance.now();
        try {
          if (kind === "save") {
            const i = (index * 7 + round) % NODES;
            await client.request("PUT", client.orgPath("nodes", `load${i}`), { body: node(i, round) });
          } else if (kind === "search") {
            await client.search("node", round % 2 ? "role:web AND platform:debian" : "recipe:db", { rows: 50 });
          } else {
            await client.search("node", "role:db OR role:web", { rows: 100, partial: { ip: ["ipaddress"], free: ["memory", "free"] } });
          }
          latencies[kind].push(performance.now() - started);
        } catch (error) {
          errors.push(`${kind}: ${(error as Error).message}`);
        }
      }
    };
    const started = Date.now();
    await Promise.all(Array.from({ length: CLIENTS }, (_, index) => worker(index)));
    const elapsed = (Date.now() - started) / 1000;
    const peak = memoryMb(server.pid!, "VmHWM");
    await new Promise((resolveWait) => setTimeout(resolveWait, 5000));
    const after = memoryMb(server.pid!, "VmRSS");

    const total = Object.values(latencies).reduce((sum, list) => sum + list.length, 0);
    console.log(`${BACKEND}, ${CLIENTS} clients, ${elapsed.toFixed(0)} s, ${NODES} nodes, load average ${loadavg()[0]!.toFixed(1)}: ${total} requests (${(total / elapsed).toFixed(0)}/s), ${errors.length} errors`);
    for (const [kind, list] of Object.entries(latencies)) {
      const sorted = [...list].sort((a, b) => a - b);
      console.log(`  ${kind.padEnd(8)} ${String(list.length).padStart(7)}  p50 ${percentile(sorted, 50).toFixed(0)} ms  p99 ${percentile(sorted, 99).toFixed(0)} ms`);
    }
    console.log(`  server memory: ${before.toFixed(0)} MB before, ${peak.toFixed(0)} MB peak, ${after.toFixed(0)} MB 5 s after`);
    for (const error of [...new Set(errors)].slice(0, 10)) console.log(`  error: ${error}`);
    process.exitCode = errors.length > 0 ? 1 : 0;
  } finally {
    server.kill("SIGTERM");
    await new Promise((resolveExit) => (server.exitCode === null ? server.once("exit", resolveExit) : resolveExit(undefined)));
    rmSync(dataDir, { recursive: true, force: true });
    if (BACKEND === "postgres") {
      const client = new pg.Client({ connectionString: process.env.SOUS_TEST_POSTGRES_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    }
  }
}

await main();
