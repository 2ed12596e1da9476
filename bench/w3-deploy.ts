/**
 * Benchmark W3 (shared/WORKLOADS.md): deploy an application from git to 10 hosts of the SSH
 * fleet (test/fleet) in the Capistrano layout, then a new commit, then roll back: `sous deploy`
 * against Capistrano 3 (Debian's `capistrano`) in the same run, on the same hosts and the same
 * repository (served by git daemon on the fleet's gateway).
 *
 *   npm run bench:w3 -- [--hosts 10] [--runs 3] [--json FILE]
 *
 * Each step is timed from process start to exit, what a user waits for. Each run deploys to
 * fresh paths (/srv/sous-N, /srv/cap-N), so "first deploy" clones the mirror on every host.
 * Both keep 5 releases and link shared/log; no build hooks (what is measured is the tool).
 *
 * Sous runs as a user runs it: its SSH connections kept by its background process (--persist,
 * 60 s by default, as OpenSSH's ControlPersist), started by the first deploy of each run (it
 * is stopped before each run, so that first deploy pays for starting it and for every
 * connection) and reused by the redeploy and the rollback. So that the figures say what that is worth, Sous also runs with
 * `--persist 0` (every command makes its own 10 connections) on paths of its own
 * (/srv/sous-direct-N), in the same runs.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { makeAppRepository, startGitServer, writeAppFile } from "../test/deploy/support.js";
import { startFleet } from "../test/fleet/fleet.js";

const project = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values: args } = parseArgs({ options: { hosts: { type: "string", default: "10" }, runs: { type: "string", default: "3" }, json: { type: "string" } } });
const hostCount = Number(args.hosts);
const runs = Number(args.runs);

interface Timed {
  seconds: number;
  code: number | null;
  output: string;
}

function timed(command: string, argv: string[], cwd: string, env: Record<string, string> = {}): Promise<Timed> {
  return new Promise((done) => {
    const started = performance.now();
    const child = spawn(command, argv, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr.on("data", (c: Buffer) => (output += c.toString()));
    child.on("close", (code) => done({ seconds: (performance.now() - started) / 1000, code, output }));
  });
}

function must(label: string, result: Timed): number {
  if (result.code !== 0) throw new Error(`${label}: exit code ${result.code}\n${result.output.slice(-4000)}`);
  return result.seconds;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

const STEPS = ["first deploy", "redeploy", "rollback"] as const;
type Step = (typeof STEPS)[number];
const TOOLS = ["sous", "sous --persist 0", "capistrano"] as const;
type Tool = (typeof TOOLS)[number];

// The peer is Debian's capistrano; say so before building a fleet for nothing.
if (spawnSync("sh", ["-c", "command -v cap"]).status !== 0) throw new Error("bench W3 compares with Capistrano 3, which is not installed: apt-get install capistrano");
const fleet = await startFleet({ count: hostCount });
const dir = mkdtempSync(join(tmpdir(), "sous-bench-w3-"));

/** Stops Sous's background SSH process (SIGTERM; it removes its PID file when gone). */
async function stopPersist(): Promise<void> {
  const pidFile = join(dir, "home", "ssh", "persist.sock.pid");
  if (!existsSync(pidFile)) return;
  try {
    process.kill(Number(readFileSync(pidFile, "utf8")), "SIGTERM");
  } catch {
    return;
  }
  for (let waited = 0; existsSync(pidFile) && waited < 5000; waited += 20) await new Promise((r) => setTimeout(r, 20));
}
const git = await startGitServer(dir, fleet.hosts[0]!.address.replace(/\.\d+$/, ".254"));
try {
  const repo = makeAppRepository(dir);
  const url = git.url(repo.name);
  const sousRoot = join(dir, "infra");
  const capRoot = join(dir, "cap");
  mkdirSync(join(capRoot, "config", "deploy"), { recursive: true });
  writeFileSync(join(capRoot, "Capfile"), `require "capistrano/setup"\nrequire "capistrano/deploy"\nrequire "capistrano/scm/git"\ninstall_plugin Capistrano::SCM::Git\n`);
  writeFileSync(
    join(capRoot, "config", "deploy", "production.rb"),
    `${fleet.hosts.map((h) => `server "${h.address}", user: "root", roles: %w[app]`).join("\n")}\nset :ssh_options, { keys: [${JSON.stringify(fleet.keyFile)}], keys_only: true, user_known_hosts_file: ${JSON.stringify(fleet.knownHostsFile)}, verify_host_key: :always }\n`,
  );
  const sousHome = join(dir, "home");
  const sous = (...argv: string[]) => timed(process.execPath, [join(project, "bin", "sous.js"), ...argv, "--repo", sousRoot, "-k", fleet.keyFile, "--known-hosts", fleet.knownHostsFile, "--no-record"], dir, { SOUS_HOME: sousHome, SOUS_SSH_PERSIST: "60" });
  const cap = (...argv: string[]) => timed("cap", ["production", ...argv], capRoot);
  const figures = Object.fromEntries(TOOLS.map((tool) => [tool, { "first deploy": [], redeploy: [], rollback: [] }])) as unknown as Record<Tool, Record<Step, number[]>>;
  const appFile = (name: string, deployTo: string) =>
    writeAppFile(sousRoot, name, `import { app } from "sous";\nexport default app({ repository: ${JSON.stringify(url)}, hosts: ${JSON.stringify(fleet.hosts.map((h) => h.target))}, deployTo: ${JSON.stringify(deployTo)}, linkedDirs: ["log"], keepReleases: 5 });\n`);
  for (let run = 1; run <= runs; run++) {
    await stopPersist();
    appFile("web", `/srv/sous-${run}`);
    appFile("direct", `/srv/sous-direct-${run}`);
    writeFileSync(join(capRoot, "config", "deploy.rb"), `lock "~> 3.17"\nset :application, "web"\nset :repo_url, ${JSON.stringify(url)}\nset :branch, "main"\nset :deploy_to, "/srv/cap-${run}"\nset :keep_releases, 5\nappend :linked_dirs, "log"\nset :format, :airbrussh\nset :log_level, :warn\n`);
    // The same commits for both: a first one, then a new one for the redeploy.
    repo.release(`v${run}.0`);
    const step = async (name: Step, argv: Record<Tool, string[]>) => {
      figures.sous[name].push(must(`sous ${name}`, await sous(...argv.sous)));
      figures["sous --persist 0"][name].push(must(`sous --persist 0 ${name}`, await sous(...argv["sous --persist 0"], "--persist", "0")));
      figures.capistrano[name].push(must(`cap ${name}`, await cap(...argv.capistrano)));
    };
    await step("first deploy", { sous: ["deploy", "web"], "sous --persist 0": ["deploy", "direct"], capistrano: ["deploy"] });
    repo.release(`v${run}.1`);
    await step("redeploy", { sous: ["deploy", "web"], "sous --persist 0": ["deploy", "direct"], capistrano: ["deploy"] });
    await step("rollback", { sous: ["deploy", "rollback", "web"], "sous --persist 0": ["deploy", "rollback", "direct"], capistrano: ["deploy:rollback"] });
    process.stderr.write(`run ${run}/${runs}: ${STEPS.map((s) => `${s} ${TOOLS.map((t) => `${t} ${figures[t][s].at(-1)!.toFixed(2)} s`).join(", ")}`).join("; ")}\n`);
  }
  const rows = STEPS.map((step) => {
    const s = median(figures.sous[step]);
    const direct = median(figures["sous --persist 0"][step]);
    const c = median(figures.capistrano[step]);
    return { step, sous: s, sousDirect: direct, capistrano: c, ratio: c / s, ratioDirect: c / direct };
  });
  const header = `W3 on ${hostCount} hosts, ${runs} runs (medians), ${cpus().length} cores, load ${loadavg()[0]!.toFixed(2)}`;
  const table = rows.map((r) => `| ${r.step} | ${r.sous.toFixed(2)} s | ${r.sousDirect.toFixed(2)} s | ${r.capistrano.toFixed(2)} s | ${r.ratio.toFixed(1)}x | ${r.ratioDirect.toFixed(1)}x |`).join("\n");
  process.stdout.write(`${header}\n\n| step | sous | sous --persist 0 | capistrano | capistrano / sous | capistrano / sous --persist 0 |\n|---|---|---|---|---|---|\n${table}\n`);
  const target = (step: Step) => rows.find((r) => r.step === step)!.ratio >= 5;
  process.stdout.write(`\ntarget (redeploy and rollback at least 5x faster than Capistrano): redeploy ${target("redeploy") ? "met" : "NOT MET"}, rollback ${target("rollback") ? "met" : "NOT MET"}\n`);
  if (args.json) writeFileSync(args.json, `${JSON.stringify({ hosts: hostCount, runs, rows, figures }, null, 2)}\n`);
} finally {
  await stopPersist();
  await git.stop();
  fleet.stop();
  rmSync(dir, { recursive: true, force: true });
}
