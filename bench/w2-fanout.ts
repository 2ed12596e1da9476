/**
 * Benchmark W2 (shared/WORKLOADS.md): fan-out over SSH to a fleet of N hosts on this machine
 * (test/fleet: one sshd per network namespace, private /srv), Sous and Ansible in the same run.
 *
 *   npm run bench:w2 -- [--sizes 20,50] [--runs 3] [--ansible-runs 1] [--ansible-timeout 900] [--no-ansible] [--steps a,b] [--json FILE]
 *
 * Per fleet size N, each measured from process start to exit (what a user waits for):
 *   (a) `uname -a` on every host: `sous exec 'uname -a'` vs `ansible all -m command -f N`;
 *   (b) converge 30 files + 5 directories on every host (first run on clean hosts, then the
 *       no-op run, checked to change nothing): `sous converge` vs `ansible-playbook -f N`.
 * Sous runs with --concurrency N; Ansible with forks = N, pipelining on and no fact gathering
 * (its fastest usual settings). Ansible is CPU-bound here (a Python process per task per host
 * on 2 cores), so it runs fewer times and each run is capped by --ansible-timeout.
 */
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type Fleet, startFleet } from "../test/fleet/fleet.js";
import { writeW2Repository } from "../test/push/repository.js";

const project = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const GNU_TIME = "/usr/bin/time";
const FILES = 30;
const DIRECTORIES = 5;

const { values: args } = parseArgs({
  options: {
    sizes: { type: "string", default: "20,50" },
    runs: { type: "string", default: "3" },
    "ansible-runs": { type: "string", default: "1" },
    "ansible-timeout": { type: "string", default: "900" },
    "no-ansible": { type: "boolean", default: false },
    steps: { type: "string", default: "a,b" },
    json: { type: "string" },
  },
});
const sizes = args.sizes.split(",").map(Number);
const runs = Number(args.runs);
const ansibleRuns = Number(args["ansible-runs"]);
const ansibleTimeoutMs = Number(args["ansible-timeout"]) * 1000;
const steps = new Set(args.steps.split(","));

interface Timed {
  seconds: number;
  /** User + system CPU seconds of the command and its children on the workstation side (GNU time). */
  cpuSeconds: number;
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

let usageCounter = 0;
let scratchDir = "";

function timed(command: string, argv: string[], env: Record<string, string> = {}, timeoutMs = 3_600_000): Promise<Timed> {
  const usage = join(scratchDir, `usage-${++usageCounter}`);
  return new Promise((done) => {
    const started = performance.now();
    const child = spawn(GNU_TIME, ["-f", "%U %S", "-o", usage, "--", command, ...argv], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      const [user, system] = existsSync(usage) ? readFileSync(usage, "utf8").trim().split("\n").pop()!.split(" ").map(Number) : [NaN, NaN];
      done({ seconds: (performance.now() - started) / 1000, cpuSeconds: user! + system!, code, stdout, stderr, timedOut });
    });
  });
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

function must(label: string, result: Timed, check: (r: Timed) => string | undefined = () => undefined): number {
  const problem = result.timedOut ? "timed out" : result.code !== 0 ? `exit code ${result.code}` : check(result);
  if (problem) throw new Error(`${label}: ${problem}\n${result.stdout.slice(-3000)}\n${result.stderr.slice(-3000)}`);
  return result.seconds;
}

function sousUpdated(stdout: string): number[] {
  return stdout
    .split("\n")
    .filter((line) => line.startsWith('{"type":"host:finish"'))
    .map((line) => (JSON.parse(line) as { counts?: { updated: number } }).counts?.updated ?? -1);
}

function ansibleChanged(stdout: string): number[] {
  return [...stdout.matchAll(/changed=(\d+)/g)].map((m) => Number(m[1]));
}

function ansibleFiles(dir: string, fleet: Fleet): { inventory: string; playbook: string; env: Record<string, string> } {
  const inventory = join(dir, "inventory.ini");
  writeFileSync(
    inventory,
    [
      "[fleet]",
      ...fleet.hosts.map((h) => h.address),
      "[fleet:vars]",
      "ansible_user=root",
      `ansible_ssh_private_key_file=${fleet.keyFile}`,
      `ansible_ssh_common_args='-o UserKnownHostsFile=${fleet.knownHostsFile} -o StrictHostKeyChecking=yes'`,
      "ansible_python_interpreter=/usr/bin/python3",
      "",
    ].join("\n"),
  );
  const playbook = join(dir, "w2.yml");
  writeFileSync(
    playbook,
    `- hosts: fleet
  gather_facts: false
  tasks:
    - name: directories
      ansible.builtin.file:
        path: "/srv/w2/d{{ item }}"
        state: directory
        mode: "0755"
      loop: "{{ range(0, ${DIRECTORIES}) | list }}"
    - name: files
      ansible.builtin.copy:
        dest: "/srv/w2/d{{ item % ${DIRECTORIES} }}/f{{ item }}.conf"
        content: "index = {{ item }}\\nhost = {{ inventory_hostname }}\\n"
        mode: "0644"
      loop: "{{ range(0, ${FILES}) | list }}"
`,
  );
  return {
    inventory,
    playbook,
    env: { ANSIBLE_PIPELINING: "True", ANSIBLE_HOST_KEY_CHECKING: "True", ANSIBLE_SSH_CONTROL_PATH_DIR: join(dir, "cp"), ANSIBLE_LOCAL_TEMP: join(dir, "tmp"), ANSIBLE_NOCOLOR: "1" },
  };
}

interface Series {
  unameSeconds: number[];
  firstSeconds: number[];
  noopSeconds: number[];
  /** CPU seconds on the workstation side, same order. */
  unameCpu: number[];
  firstCpu: number[];
  noopCpu: number[];
}

interface SizeResult {
  hosts: number;
  sous: Series;
  ansible?: Series & { timedOut: string[] };
}

const series = (): Series => ({ unameSeconds: [], firstSeconds: [], noopSeconds: [], unameCpu: [], firstCpu: [], noopCpu: [] });

/**
 * Copies the built Sous (bin/, dist/, package.json; node_modules linked) into scratch: other
 * engineers rebuild dist/ in this shared checkout, and that must not change what is measured.
 */
function snapshotSous(dir: string): string {
  const install = join(dir, "install");
  for (const part of ["bin", "dist", "package.json"]) cpSync(join(project, part), join(install, part), { recursive: true });
  symlinkSync(join(project, "node_modules"), join(install, "node_modules"));
  return install;
}

async function benchSize(n: number): Promise<SizeResult> {
  const dir = mkdtempSync(join(tmpdir(), `sous-w2-${n}-`));
  scratchDir = dir;
  const install = snapshotSous(dir);
  const fleet = await startFleet({ count: n });
  try {
    const repo = writeW2Repository(join(dir, "repo"), { files: FILES, directories: DIRECTORIES });
    const targets = fleet.hosts.map((h) => h.target);
    const ssh = ["-k", fleet.keyFile, "--known-hosts", fleet.knownHostsFile, "-c", String(n)];
    const sous = (argv: string[]) => timed(process.execPath, [join(install, "bin", "sous.js"), ...argv]);
    const clean = async () => must("clean /srv/w2", await sous(["exec", "rm -rf /srv/w2", ...ssh, ...targets]));
    const result: SizeResult = { hosts: n, sous: series() };
    const ansible = args["no-ansible"] ? undefined : ansibleFiles(dir, fleet);
    if (ansible) result.ansible = { ...series(), timedOut: [] };

    for (let round = 0; round < runs; round++) {
      const took: string[] = [];
      if (steps.has("a")) {
        // (a) uname -a on all hosts.
        const uname = await sous(["exec", "uname -a", ...ssh, ...targets]);
        result.sous.unameCpu.push(uname.cpuSeconds);
        result.sous.unameSeconds.push(must("sous exec uname -a", uname, (r) => ((r.stdout.match(/\| Linux fleet-/g) ?? []).length === n ? undefined : "not every host answered")));
        took.push(`uname ${uname.seconds.toFixed(2)} s`);
      }
      if (steps.has("b")) {
        // (b) first run on clean hosts, then the no-op run.
        await clean();
        const first = await sous(["converge", "--repo", repo, "--json", ...ssh, ...targets]);
        result.sous.firstCpu.push(first.cpuSeconds);
        result.sous.firstSeconds.push(must("sous converge (first)", first, (r) => (sousUpdated(r.stdout).every((u) => u === FILES + DIRECTORIES) ? undefined : "not every host changed everything")));
        const noop = await sous(["converge", "--repo", repo, "--json", ...ssh, ...targets]);
        result.sous.noopCpu.push(noop.cpuSeconds);
        result.sous.noopSeconds.push(must("sous converge (no-op)", noop, (r) => (sousUpdated(r.stdout).length === n && sousUpdated(r.stdout).every((u) => u === 0) ? undefined : "the no-op run changed something")));
        took.push(`first ${first.seconds.toFixed(2)} s, no-op ${noop.seconds.toFixed(2)} s`);
      }
      process.stderr.write(`  N=${n} sous round ${round + 1}: ${took.join(", ")}\n`);

      if (ansible && round < ansibleRuns) {
        const a = result.ansible!;
        const run = async (label: string, argv: string[], into: number[], cpu: number[], check?: (r: Timed) => string | undefined) => {
          const r = await timed(argv[0]!, argv.slice(1), ansible.env, ansibleTimeoutMs);
          cpu.push(r.cpuSeconds);
          if (r.timedOut) {
            a.timedOut.push(label);
            into.push(ansibleTimeoutMs / 1000);
          } else into.push(must(label, r, check));
          process.stderr.write(`  N=${n} ansible ${label}: ${r.timedOut ? `> ${ansibleTimeoutMs / 1000}` : r.seconds.toFixed(2)} s\n`);
        };
        if (steps.has("a")) await run("uname", ["ansible", "fleet", "-i", ansible.inventory, "-f", String(n), "-m", "ansible.builtin.command", "-a", "uname -a"], a.unameSeconds, a.unameCpu);
        if (steps.has("b")) {
          await clean();
          await run("first", ["ansible-playbook", "-i", ansible.inventory, "-f", String(n), ansible.playbook], a.firstSeconds, a.firstCpu);
          await run("no-op", ["ansible-playbook", "-i", ansible.inventory, "-f", String(n), ansible.playbook], a.noopSeconds, a.noopCpu, (r) => (ansibleChanged(r.stdout).every((c) => c === 0) ? undefined : "the no-op run changed something"));
        }
      }
    }
    return result;
  } finally {
    fleet.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// Ctrl-C or a kill still runs the fleet's exit handler, which removes its namespaces and processes.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, () => process.exit(130));

const results: SizeResult[] = [];
process.stderr.write(`W2 on ${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(2)}; sizes ${sizes.join(", ")}; Sous runs ${runs}, Ansible runs ${args["no-ansible"] ? 0 : ansibleRuns}\n`);
for (const n of sizes) results.push(await benchSize(n));

const fmt = (values: number[]) => (values.length ? `${median(values).toFixed(2)} s` : "-");
const ratio = (ansible: number[] | undefined, sous: number[]) => (ansible?.length && sous.length ? `${(median(ansible) / median(sous)).toFixed(1)}×` : "-");
console.log("\nW2 fan-out over SSH: medians of wall time (and of workstation CPU time); ratio = Ansible / Sous");
console.log("| N | step | Sous | Ansible (forks = N) | ratio (wall) | ratio (CPU) |");
console.log("|---|---|---|---|---|---|");
for (const r of results) {
  const rows: Array<[string, "uname" | "first" | "noop"]> = [
    ["(a) uname -a", "uname"],
    ["(b) first converge", "first"],
    ["(b) no-op converge", "noop"],
  ];
  for (const [label, key] of rows) {
    const wall = `${key}Seconds` as const;
    const cpu = `${key}Cpu` as const;
    const capped = r.ansible?.timedOut.includes(key === "noop" ? "no-op" : key) ? " (capped)" : "";
    const ansibleText = r.ansible ? `${fmt(r.ansible[wall])} (CPU ${fmt(r.ansible[cpu])})${capped}` : "-";
    console.log(`| ${r.hosts} | ${label} | ${fmt(r.sous[wall])} (CPU ${fmt(r.sous[cpu])}) | ${ansibleText} | ${ratio(r.ansible?.[wall], r.sous[wall])} | ${ratio(r.ansible?.[cpu], r.sous[cpu])} |`);
  }
}
if (args.json) writeFileSync(args.json, JSON.stringify({ cpus: cpus().length, results }, null, 2));
