/**
 * Benchmark W5 (shared/WORKLOADS.md): gather this machine's facts with Sous and with Chef's
 * ohai (Debian package `ohai`) in the same run; print medians, peak memory, the ratio against
 * issue 3's target (at least 20× faster), and the values of the keys both report.
 *
 *   npm run bench:w5 -- [--runs 10] [--ohai-runs 5] [--json FILE]
 *
 * Rounds interleave the tools so that load from other work on the machine hits all of them.
 * Measured, each from process start to exit unless said otherwise:
 *   - `ohai` (the command a Chef user runs; also what chef-client runs in-process at start);
 *   - `sous facts` (node bin/sous.js facts: the CLI, JSON on stdout);
 *   - `node` loading only the facts module (what `sous facts` costs once the CLI loads only
 *     the command it runs);
 *   - the facts shell script alone (`sh -c`: what a push target pays, no Node there);
 *   - in-process: `gatherFacts()` inside a running Node, and ohai's `all_plugins` inside a
 *     running Ruby (what a converge run pays once its runtime is up).
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { gatherFacts } from "../src/facts/gather.js";
import { compareWithOhai, formatComparison } from "../src/facts/ohai.js";
import { FACTS_SCRIPT } from "../src/facts/script.js";
import { LocalHost } from "../src/host/local.js";

const project = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const GNU_TIME = "/usr/bin/time";
const TARGET_RATIO = 20;

const { values: flags } = parseArgs({
  options: {
    runs: { type: "string", default: "10" },
    "ohai-runs": { type: "string", default: "5" },
    json: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (flags.help) {
  process.stdout.write("Usage: npm run bench:w5 -- [--runs N] [--ohai-runs N] [--json FILE]\n");
  process.exit(0);
}
const runs = Math.max(1, Number(flags.runs));
const ohaiRuns = Math.max(1, Number(flags["ohai-runs"]));

/** One timed process: wall seconds from start to exit, CPU seconds, peak RSS. */
interface Sample {
  seconds: number;
  cpuSeconds: number;
  peakMB: number;
}

/** Runs a command under GNU time; throws when it fails or prints nothing. */
function timed(argv: string[]): Sample {
  const result = spawnSync(GNU_TIME, ["-f", "@@time %e %U %S %M", ...argv], { cwd: tmpdir(), encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  const line = /@@time (\S+) (\S+) (\S+) (\d+)/.exec(result.stderr);
  if (result.status !== 0 || !line || result.stdout.length === 0) throw new Error(`${argv.join(" ")} failed (${result.status}):\n${result.stderr.slice(-2000)}`);
  return { seconds: Number(line[1]), cpuSeconds: Number(line[2]) + Number(line[3]), peakMB: Number(line[4]) / 1024 };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

if (!existsSync(GNU_TIME)) throw new Error("GNU time (/usr/bin/time, Debian package `time`) is needed for peak memory");
if (spawnSync("sh", ["-c", "command -v ohai"]).status !== 0) throw new Error("ohai is not installed: apt-get install ohai");
if (!existsSync(join(project, "dist/cli/main.js"))) throw new Error("run `npm run build` first (npm run bench:w5 does)");

const minimalEntry = `import { gatherFacts } from ${JSON.stringify(join(project, "dist/facts/gather.js"))};
import { LocalHost } from ${JSON.stringify(join(project, "dist/host/local.js"))};
process.stdout.write(JSON.stringify(await gatherFacts(new LocalHost())));`;
const ohaiInProcess = `require "ohai"
system = Ohai::System.new
started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
system.all_plugins
puts Process.clock_gettime(Process::CLOCK_MONOTONIC) - started`;

const tools: Array<{ name: string; runs: number; argv: string[] }> = [
  { name: "ohai", runs: ohaiRuns, argv: ["ohai"] },
  { name: "sous facts (CLI)", runs, argv: [process.execPath, join(project, "bin/sous.js"), "facts"] },
  { name: "sous facts (node + facts module only)", runs, argv: [process.execPath, "--input-type=module", "-e", minimalEntry] },
  { name: "facts script alone (sh)", runs, argv: ["/bin/sh", "-c", FACTS_SCRIPT] },
];
const samples = new Map<string, Sample[]>(tools.map((tool) => [tool.name, []]));
const inProcess = { sous: [] as number[], ohai: [] as number[] };
const host = new LocalHost();

process.stdout.write(`W5 facts: ${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(2)).join(" ")}; ${runs} runs of Sous, ${ohaiRuns} of ohai, interleaved\n`);
await gatherFacts(host); // warms the file cache and the module graph, as a running converge would have them
for (let round = 0; round < Math.max(runs, ohaiRuns); round++) {
  for (const tool of tools) if (round < tool.runs) samples.get(tool.name)!.push(timed(tool.argv));
  if (round < runs) {
    const started = performance.now();
    await gatherFacts(host);
    inProcess.sous.push((performance.now() - started) / 1000);
  }
  if (round < ohaiRuns) {
    const ruby = spawnSync("ruby", ["-e", ohaiInProcess], { cwd: tmpdir(), encoding: "utf8" });
    if (ruby.status === 0) inProcess.ohai.push(Number(ruby.stdout.trim().split("\n").pop()));
  }
  process.stdout.write(".");
}
process.stdout.write("\n\n");

const rows = tools.map((tool) => {
  const list = samples.get(tool.name)!;
  return { name: tool.name, runs: list.length, seconds: median(list.map((s) => s.seconds)), cpuSeconds: median(list.map((s) => s.cpuSeconds)), peakMB: Math.max(...list.map((s) => s.peakMB)) };
});
const ohaiRow = rows[0]!;
const width = Math.max(...rows.map((r) => r.name.length));
// CPU time moves less than wall time when other work shares the machine, so both ratios are shown.
process.stdout.write(`${"process (start to exit)".padEnd(width)}  runs  median s  cpu s  peak MB  ohai ÷ this (wall)  (cpu)\n`);
for (const row of rows) {
  process.stdout.write(`${row.name.padEnd(width)}  ${String(row.runs).padStart(4)}  ${row.seconds.toFixed(3).padStart(8)}  ${row.cpuSeconds.toFixed(3).padStart(5)}  ${row.peakMB.toFixed(1).padStart(7)}  ${(ohaiRow.seconds / row.seconds).toFixed(1).padStart(17)}×  ${(ohaiRow.cpuSeconds / row.cpuSeconds).toFixed(1).padStart(5)}×\n`);
}
const sousInProcess = median(inProcess.sous);
const ohaiInProcessMedian = inProcess.ohai.length ? median(inProcess.ohai) : Number.NaN;
process.stdout.write(`\nin-process (runtime already up): gatherFacts ${(sousInProcess * 1000).toFixed(1)} ms, ohai all_plugins ${(ohaiInProcessMedian * 1000).toFixed(0)} ms: ${(ohaiInProcessMedian / sousInProcess).toFixed(1)}×\n`);

// Values: Sous before and after one ohai run, so a value that moved meanwhile is not called a difference.
const started = Date.now();
const before = await gatherFacts(host);
const ohaiOutput = spawnSync("ohai", [], { cwd: tmpdir(), encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
const after = await gatherFacts(host);
let pid1EnvironReadable = true;
try {
  readFileSync("/proc/1/environ");
} catch {
  pid1EnvironReadable = false;
}
const comparison = compareWithOhai(before, JSON.parse(ohaiOutput.stdout) as Record<string, unknown>, { elapsedSeconds: (Date.now() - started) / 1000, sousAfter: after, pid1EnvironReadable });
process.stdout.write(`\nvalues of the keys both report:\n${formatComparison(comparison)}`);

const cliRatio = ohaiRow.seconds / rows[1]!.seconds;
const minimalRatio = ohaiRow.seconds / rows[2]!.seconds;
const inProcessRatio = ohaiInProcessMedian / sousInProcess;
const unexplained = comparison.filter((row) => row.status === "different" || row.status === "only-ohai").length;
process.stdout.write(
  `\ntarget: at least ${TARGET_RATIO}× faster than ohai with the same values\n` +
    `  sous facts CLI:               ${cliRatio.toFixed(1)}× ${cliRatio >= TARGET_RATIO ? "met" : "NOT met"}\n` +
    `  node + facts module:          ${minimalRatio.toFixed(1)}× ${minimalRatio >= TARGET_RATIO ? "met" : "NOT met"}\n` +
    `  in-process (gather vs plugins): ${inProcessRatio.toFixed(1)}× ${inProcessRatio >= TARGET_RATIO ? "met" : "NOT met"}\n` +
    `  values: ${unexplained === 0 ? "same (differences, if any, explained above)" : `${unexplained} unexplained difference(s)`}\n`,
);
if (flags.json) writeFileSync(flags.json, `${JSON.stringify({ rows, inProcess: { sousSeconds: sousInProcess, ohaiSeconds: ohaiInProcessMedian }, comparison, load: loadavg() }, null, 2)}\n`);
process.exitCode = unexplained === 0 ? 0 : 1;
