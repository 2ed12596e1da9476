/**
 * Benchmark W1 (shared/WORKLOADS.md): converge one machine locally with Sous, Puppet 7
 * (`puppet apply`) and Ansible (`ansible-playbook`, `connection: local`) in the same run, and
 * print medians, ratios and peak memory against issue 2's targets.
 *
 *   npm run bench:w1 -- [--sous-runs 10] [--puppet-runs 3] [--ansible-runs 1] [--keep] [--json FILE]
 *
 * Everything each tool reads or writes lives in one scratch directory (HOME included), removed
 * at the end unless --keep is given or a check failed.
 */
import { spawnSync } from "node:child_process";
import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { W1_COUNTS, W1_GREETING, W1_PACKAGES, type W1Shape, changedOnFirstRun, treeSummary, writeAnsiblePlaybook, writePuppetManifest, writeSousRepository } from "./w1-workload.js";

const project = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const GNU_TIME = "/usr/bin/time";

/** One timed command: wall seconds (process start included), CPU seconds, peak RSS, changes it reported. */
interface Sample {
  seconds: number;
  /** User + system CPU time of the command and every child it waited for. */
  cpuSeconds: number;
  peakMB: number;
  changes: number;
}

/** What the benchmark needs to know about one tool. */
interface Tool {
  name: string;
  runs: number;
  /** What a change count means for this tool (Ansible counts tasks, not loop items). */
  unit: string;
  /** The change count a first run must report. */
  firstRunChanges: number;
  /** The converged directory. */
  target: string;
  command(): { argv: string[]; env: Record<string, string> };
  /** Forgets state a fresh machine would not have (reports, backups, temp files). */
  reset(): void;
  /** Reads the number of changes from the finished run; throws if the run failed. */
  changes(exitCode: number, log: string): number;
}

const { values: flags } = parseArgs({
  options: {
    "sous-runs": { type: "string", default: "10" },
    "puppet-runs": { type: "string", default: "3" },
    "ansible-runs": { type: "string", default: "1" },
    keep: { type: "boolean", default: false },
    json: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (flags.help) {
  process.stdout.write("Usage: npm run bench:w1 -- [--sous-runs N] [--puppet-runs N] [--ansible-runs N] [--keep] [--json FILE]\nA peer with 0 runs is left out.\n");
  process.exit(0);
}
const count = (flag: string, value: string | undefined, min: number): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${flag} must be an integer ≥ ${min}, got ${JSON.stringify(value)}`);
  return n;
};
const runs = { sous: count("sous-runs", flags["sous-runs"], 1), puppet: count("puppet-runs", flags["puppet-runs"], 0), ansible: count("ansible-runs", flags["ansible-runs"], 0) };

const scratch = mkdtempSync(join(tmpdir(), "sous-bench-w1-"));
const home = join(scratch, "home");
mkdirSync(home);
// NODE_DISABLE_COMPILE_CACHE=1 passes through, to measure Sous without Node 22's compile cache.
const baseEnv = (): Record<string, string> => ({
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: home,
  LANG: "C.UTF-8",
  TZ: "UTC",
  ...(process.env.NODE_DISABLE_COMPILE_CACHE ? { NODE_DISABLE_COMPILE_CACHE: process.env.NODE_DISABLE_COMPILE_CACHE } : {}),
});

/** The parts of a tool that differ from one tool to the next. */
type ToolParts = Pick<Tool, "command" | "reset" | "changes"> & Partial<Pick<Tool, "unit" | "firstRunChanges">>;

/** A tool converging its own target under scratch/KEY, with W1's resource count by default. */
function defineTool(key: keyof typeof runs, name: string, parts: (dir: string, shape: W1Shape) => ToolParts): Tool {
  const dir = join(scratch, key);
  const shape: W1Shape = { root: join(dir, "target"), ...W1_COUNTS, greeting: W1_GREETING, packages: W1_PACKAGES };
  return { name, runs: runs[key], unit: "resources", firstRunChanges: changedOnFirstRun(shape), target: shape.root, ...parts(dir, shape) };
}

/**
 * Copies the built Sous (bin/, dist/, package.json; node_modules linked) into scratch, so a
 * rebuild of dist/ by someone else during the benchmark cannot change what is measured.
 */
function snapshotSous(dir: string): string {
  const install = join(dir, "install");
  for (const part of ["bin", "dist", "package.json"]) cpSync(join(project, part), join(install, part), { recursive: true });
  symlinkSync(join(project, "node_modules"), join(install, "node_modules"));
  return install;
}

const sousTool = () =>
  defineTool("sous", "sous", (dir, shape) => {
    const install = snapshotSous(dir);
    const attributesFile = writeSousRepository(join(dir, "repo"), shape);
    const report = join(dir, "run-report.json");
    return {
      command: () => ({
        argv: [process.execPath, join(install, "bin/sous.js"), "converge", "--repo", join(dir, "repo"), "-j", attributesFile, "--backup-dir", join(dir, "backup"), "--report", report],
        env: baseEnv(),
      }),
      reset: () => {
        rmSync(join(dir, "backup"), { recursive: true, force: true });
        rmSync(report, { force: true });
      },
      changes: (exitCode, log) => {
        const parsed = existsSync(report) ? (JSON.parse(readFileSync(report, "utf8")) as { status: string; counts?: { updated: number } }) : undefined;
        if (exitCode !== 0 || parsed?.status !== "converged" || !parsed.counts) throw new Error(`sous converge failed (exit ${exitCode}, report status ${parsed?.status ?? "missing"}):\n${log.slice(-2000)}`);
        return parsed.counts.updated;
      },
    };
  });

const puppetTool = () =>
  defineTool("puppet", "puppet apply", (dir, shape) => {
    const { manifest } = writePuppetManifest(dir, shape);
    const state = join(dir, "state");
    return {
      command: () => ({
        // Every directory Puppet writes to is moved into scratch; the code dir holds the module.
        // Debian's Puppet keeps ssldir at /var/lib/puppet/ssl whatever confdir says, and
        // `puppet apply` creates its folders there: it needs its own flag.
        argv: ["puppet", "apply", "--detailed-exitcodes", "--color=false", "--codedir", join(dir, "code"), ...["confdir", "vardir", "logdir", "rundir", "publicdir", "ssldir"].flatMap((name) => [`--${name}`, join(state, name)]), manifest],
        env: baseEnv(),
      }),
      reset: () => rmSync(state, { recursive: true, force: true }),
      changes: (exitCode, log) => {
        // --detailed-exitcodes: 0 nothing changed, 2 changes, 4 or 6 failures.
        if (exitCode !== 0 && exitCode !== 2) throw new Error(`puppet apply failed (exit ${exitCode}):\n${log.slice(-2000)}`);
        const summary = readFileSync(join(state, "publicdir", "last_run_summary.yaml"), "utf8");
        const changed = /^resources:\n(?:[ ]{2}.*\n)*?[ ]{2}changed: (\d+)$/m.exec(summary);
        if (!changed) throw new Error(`puppet apply: no resources.changed in last_run_summary.yaml:\n${summary}`);
        return Number(changed[1]);
      },
    };
  });

const ansibleTool = () =>
  defineTool("ansible", "ansible-playbook", (dir, shape) => {
    const playbook = writeAnsiblePlaybook(dir, shape);
    const temp = join(dir, "tmp");
    writeFileSync(join(dir, "ansible.cfg"), "[defaults]\n");
    return {
      // Ansible's recap counts changed tasks: the 4 looping tasks, whatever their item count
      // (the packages task is "ok": they are installed).
      unit: "tasks",
      firstRunChanges: 4,
      command: () => ({
        argv: ["ansible-playbook", "-i", join(dir, "inventory"), playbook],
        env: {
          ...baseEnv(),
          ANSIBLE_CONFIG: join(dir, "ansible.cfg"),
          ANSIBLE_HOME: join(home, ".ansible"),
          ANSIBLE_LOCAL_TEMP: join(temp, "local"),
          ANSIBLE_REMOTE_TEMP: join(temp, "remote"),
          ANSIBLE_RETRY_FILES_ENABLED: "False",
          // Pipelining sends each module over stdin instead of copying it to a temp dir first:
          // the setting a user tuning Ansible turns on, so the peer runs at its fastest.
          ANSIBLE_PIPELINING: "True",
          ANSIBLE_NOCOLOR: "1",
        },
      }),
      reset: () => rmSync(temp, { recursive: true, force: true }),
      changes: (exitCode, log) => {
        const recap = /localhost\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/.exec(log);
        if (exitCode !== 0 || !recap || recap[2] !== "0" || recap[3] !== "0") throw new Error(`ansible-playbook failed (exit ${exitCode}):\n${log.slice(-2000)}`);
        return Number(recap[1]);
      },
    };
  });

let logCounter = 0;
/** Runs a tool once under GNU time; its output goes to a log file in scratch. */
function runOnce(tool: Tool): Sample {
  const { argv, env } = tool.command();
  const logFile = join(scratch, "logs", `${String(++logCounter).padStart(3, "0")}-${tool.name.replace(/\W+/g, "-")}.log`);
  const usageFile = join(scratch, "logs", "usage");
  mkdirSync(dirname(logFile), { recursive: true });
  const fd = openSync(logFile, "w");
  const started = process.hrtime.bigint();
  const result = spawnSync(GNU_TIME, ["-f", "%M %U %S", "-o", usageFile, "--", ...argv], { cwd: dirname(tool.target), env, stdio: ["ignore", fd, fd] });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  closeSync(fd);
  if (result.error) throw result.error;
  const log = readFileSync(logFile, "utf8");
  // GNU time writes "Command exited with non-zero status N" before the format's line.
  const [peakKB, user, system] = readFileSync(usageFile, "utf8").trim().split("\n").pop()!.split(" ").map(Number);
  return { seconds, cpuSeconds: user! + system!, peakMB: peakKB! / 1024, changes: tool.changes(result.status ?? 128, log) };
}

function freshTarget(tool: Tool): void {
  rmSync(tool.target, { recursive: true, force: true });
  mkdirSync(tool.target, { recursive: true });
  tool.reset();
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

const version = (argv: string[]): string => {
  const result = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", env: baseEnv() });
  return (result.stdout || result.stderr || "?").split("\n")[0]!.trim();
};

function main(): void {
  for (const [argv, what] of [
    [[GNU_TIME, "--version"], "GNU time (Debian package `time`)"],
    ...(runs.puppet ? [[["puppet", "--version"], "puppet (Debian package `puppet`)"]] : []),
    ...(runs.ansible ? [[["ansible-playbook", "--version"], "ansible-playbook (Debian package `ansible-core`)"]] : []),
  ] as [string[], string][]) {
    check(spawnSync(argv[0]!, argv.slice(1), { stdio: "ignore", env: baseEnv() }).status === 0, `${what} is needed: ${argv[0]} did not run`);
  }
  // The packages are declared "installed": the benchmark must never make a tool install one.
  const dpkg = spawnSync("dpkg-query", ["-W", "-f=${db:Status-Status}\\n", ...W1_PACKAGES], { encoding: "utf8" });
  check(dpkg.status === 0 && dpkg.stdout.split("\n").filter((line) => line === "installed").length === W1_PACKAGES.length, `W1's packages must already be installed (${W1_PACKAGES.join(", ")}); dpkg-query said: ${dpkg.stdout}${dpkg.stderr}`);
  check(existsSync(join(project, "dist/cli/main.js")), "dist/ is missing: run `npm run build` first (npm run bench:w1 does)");

  const tools = [sousTool(), ...(runs.puppet ? [puppetTool()] : []), ...(runs.ansible ? [ansibleTool()] : [])];
  const sous = tools[0]!;
  const samples = new Map(tools.map((tool) => [tool.name, { first: [] as Sample[], noop: [] as Sample[] }]));
  const say = (text: string) => process.stdout.write(text);

  const commit = spawnSync("git", ["-C", project, "log", "-1", "--format=%h %s"], { encoding: "utf8" }).stdout.trim();
  say(`W1 benchmark, ${new Date().toISOString()}, scratch ${scratch}\n`);
  say(`Sous: dist/ as built in the checkout (HEAD ${commit || "?"}; the working tree may differ), copied to scratch\n`);
  say(`Machine: ${cpus().length} cores, load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}; node ${process.version}`);
  if (runs.puppet) say(`, puppet ${version(["puppet", "--version"])}`);
  if (runs.ansible) say(`, ${version(["ansible-playbook", "--version"])}`);
  say(`\nWorkload: ${W1_COUNTS.files} files from one template, ${W1_COUNTS.directories} directories, ${W1_COUNTS.links} symbolic links, ${W1_COUNTS.commands} commands guarded by "creates".\n`);
  say(`Plus ${W1_PACKAGES.length} packages already installed (${W1_PACKAGES.join(", ")}): every run must leave them alone.\n\n`);

  // Sous's first converge of a repository compiles its TypeScript; measured once, apart.
  freshTarget(sous);
  const cold = runOnce(sous);
  check(cold.changes === sous.firstRunChanges, `sous cold first run: ${cold.changes} updated, expected ${sous.firstRunChanges}`);
  const reference = treeSummary(sous.target);
  check(reference.split("\n").length === sous.firstRunChanges, "sous left an unexpected tree");
  say(`sous first run with an empty compile cache: ${cold.seconds.toFixed(2)} s, ${cold.peakMB.toFixed(0)} MB\n`);

  const rounds = Math.max(...tools.map((tool) => tool.runs));
  for (let round = 1; round <= rounds; round++) {
    for (const tool of tools.filter((t) => t.runs >= round)) {
      say(`round ${round}/${rounds} ${tool.name}: first run `);
      freshTarget(tool);
      const first = runOnce(tool);
      check(first.changes === tool.firstRunChanges, `${tool.name} first run reported ${first.changes} changed ${tool.unit}, expected ${tool.firstRunChanges}`);
      check(treeSummary(tool.target) === reference, `${tool.name} left a different tree than sous (compare ${sous.target} and ${tool.target}; scratch kept)`);
      say(`${first.seconds.toFixed(2)} s, no-op `);
      const noop = runOnce(tool);
      check(noop.changes === 0, `${tool.name} no-op run reported ${noop.changes} changed ${tool.unit}, expected 0`);
      say(`${noop.seconds.toFixed(2)} s (0 changed)\n`);
      samples.get(tool.name)!.first.push(first);
      samples.get(tool.name)!.noop.push(noop);
    }
  }

  const stats = (xs: Sample[]) => {
    const wall = xs.map((s) => s.seconds);
    return { median: median(wall), min: Math.min(...wall), max: Math.max(...wall), cpu: median(xs.map((s) => s.cpuSeconds)) };
  };
  const rows = tools.map((tool) => {
    const { first, noop } = samples.get(tool.name)!;
    return { tool: tool.name, runs: tool.runs, first: stats(first), noop: stats(noop), peakMB: Math.max(...[...first, ...noop].map((s) => s.peakMB)) };
  });
  const sousRow = rows[0]!;
  const cell = (s: { median: number; min: number; max: number; cpu: number }) => `${s.median.toFixed(2)} (${s.min.toFixed(2)}-${s.max.toFixed(2)}) cpu ${s.cpu.toFixed(2)}`.padEnd(33);
  say("\nWall seconds, median (min-max), and median CPU seconds (user + system, children included):\n");
  say(`${"tool".padEnd(18)}${"runs".padEnd(6)}${"first run".padEnd(34)}${"no-op".padEnd(34)}peak RSS\n`);
  for (const row of rows) say(`${row.tool.padEnd(18)}${String(row.runs).padEnd(6)}${cell(row.first)} ${cell(row.noop)} ${row.peakMB.toFixed(0)} MB\n`);
  say("(peak RSS: the largest single process of any run, as GNU time reports it; Ansible's workers are separate processes)\n");

  const verdicts: { what: string; value: string; target: string; met: boolean; cpuRatio?: string }[] = [];
  // A peer is compared with Sous's runs of the same rounds only: load on a shared machine
  // changes over minutes, and Sous's later rounds ran without that peer beside them.
  const ratio = (peer: Tool, kind: "first" | "noop", target: number) => {
    if (!tools.includes(peer) || peer.runs === 0) return;
    const theirs = stats(samples.get(peer.name)![kind]);
    const ours = stats(samples.get(sous.name)![kind].slice(0, peer.runs));
    const value = theirs.median / ours.median;
    const cpuRatio = `${(theirs.cpu / ours.cpu).toFixed(1)}×`;
    verdicts.push({ what: `${kind === "noop" ? "no-op" : "first run"}: ${peer.name} / sous`, value: `${value.toFixed(1)}×`, target: `≥ ${target}×`, met: value >= target, cpuRatio });
  };
  const ansible = tools.find((t) => t.name === "ansible-playbook");
  const puppet = tools.find((t) => t.name === "puppet apply");
  for (const [peer, noopTarget, firstTarget] of [[ansible, 50, 10], [puppet, 20, 3]] as const) {
    if (!peer) continue;
    ratio(peer, "noop", noopTarget);
    ratio(peer, "first", firstTarget);
  }
  verdicts.push({ what: "sous no-op, process start included", value: `${sousRow.noop.median.toFixed(2)} s`, target: "< 0.4 s", met: sousRow.noop.median < 0.4 });
  verdicts.push({ what: "sous peak memory", value: `${sousRow.peakMB.toFixed(0)} MB`, target: "< 80 MB", met: sousRow.peakMB < 80 });
  say(`\nAgainst issue 2's targets (ratios of wall-time medians over the rounds both tools ran; CPU-time ratio beside):\n`);
  for (const v of verdicts) say(`  ${v.what.padEnd(38)}${v.value.padEnd(10)}target ${v.target.padEnd(9)}${(v.met ? "met" : "NOT MET").padEnd(9)}${v.cpuRatio ? `(CPU ${v.cpuRatio})` : ""}\n`);
  say(`Load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(" ")}\n`);

  if (flags.json) writeFileSync(flags.json, `${JSON.stringify({ date: new Date().toISOString(), workload: W1_COUNTS, sousColdFirstRun: cold, rows, verdicts, samples: Object.fromEntries(samples) }, null, 2)}\n`);
}

try {
  main();
  if (!flags.keep) rmSync(scratch, { recursive: true, force: true });
} catch (error) {
  process.stderr.write(`\nbench w1: ${(error as Error).message}\nScratch kept for inspection: ${scratch}\n`);
  process.exitCode = 1;
}
