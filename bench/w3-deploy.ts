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
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
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

const fleet = await startFleet({ count: hostCount });
const dir = mkdtempSync(join(tmpdir(), "sous-bench-w3-"));
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
  const sous = (...argv: string[]) => timed(process.execPath, [join(project, "bin", "sous.js"), ...argv, "--repo", sousRoot, "-k", fleet.keyFile, "--known-hosts", fleet.knownHostsFile, "--no-record"], dir, { SOUS_HOME: join(dir, "home") });
  const cap = (...argv: string[]) => timed("cap", ["production", ...argv], capRoot);
  const figures: Record<"sous" | "capistrano", Record<Step, number[]>> = {
    sous: { "first deploy": [], redeploy: [], rollback: [] },
    capistrano: { "first deploy": [], redeploy: [], rollback: [] },
  };
  for (let run = 1; run <= runs; run++) {
    writeAppFile(sousRoot, "web", `import { app } from "sous";\nexport default app({ repository: ${JSON.stringify(url)}, hosts: ${JSON.stringify(fleet.hosts.map((h) => h.target))}, deployTo: "/srv/sous-${run}", linkedDirs: ["log"], keepReleases: 5 });\n`);
    writeFileSync(join(capRoot, "config", "deploy.rb"), `lock "~> 3.17"\nset :application, "web"\nset :repo_url, ${JSON.stringify(url)}\nset :branch, "main"\nset :deploy_to, "/srv/cap-${run}"\nset :keep_releases, 5\nappend :linked_dirs, "log"\nset :format, :airbrussh\nset :log_level, :warn\n`);
    // The same commits for both: a first one, then a new one for the redeploy.
    repo.release(`v${run}.0`);
    figures.sous["first deploy"].push(must("sous first deploy", await sous("deploy", "web")));
    figures.capistrano["first deploy"].push(must("cap first deploy", await cap("deploy")));
    repo.release(`v${run}.1`);
    figures.sous.redeploy.push(must("sous redeploy", await sous("deploy", "web")));
    figures.capistrano.redeploy.push(must("cap redeploy", await cap("deploy")));
    figures.sous.rollback.push(must("sous rollback", await sous("deploy", "rollback", "web")));
    figures.capistrano.rollback.push(must("cap rollback", await cap("deploy:rollback")));
    process.stderr.write(`run ${run}/${runs}: ${STEPS.map((s) => `${s} sous ${figures.sous[s].at(-1)!.toFixed(2)} s, cap ${figures.capistrano[s].at(-1)!.toFixed(2)} s`).join("; ")}\n`);
  }
  const rows = STEPS.map((step) => {
    const s = median(figures.sous[step]);
    const c = median(figures.capistrano[step]);
    return { step, sous: s, capistrano: c, ratio: c / s };
  });
  const header = `W3 on ${hostCount} hosts, ${runs} runs (medians), ${cpus().length} cores, load ${loadavg()[0]!.toFixed(2)}`;
  process.stdout.write(`${header}\n\n| step | sous | capistrano | capistrano / sous |\n|---|---|---|---|\n${rows.map((r) => `| ${r.step} | ${r.sous.toFixed(2)} s | ${r.capistrano.toFixed(2)} s | ${r.ratio.toFixed(1)}x |`).join("\n")}\n`);
  if (args.json) writeFileSync(args.json, `${JSON.stringify({ hosts: hostCount, runs, rows, figures }, null, 2)}\n`);
} finally {
  await git.stop();
  fleet.stop();
  rmSync(dir, { recursive: true, force: true });
}
