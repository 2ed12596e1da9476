/**
 * Disposable Debian machines with a real systemd, for tests of services, hostnames, sysctls
 * and mounts that must never touch the machine running the tests.
 *
 * A base root is made once with `debootstrap --variant=minbase` into a cache directory (kept
 * across test files and runs), then each machine boots it with `systemd-nspawn --boot
 * --volatile=overlay`: the base stays read-only under a tmpfs that vanishes with the machine.
 * Each machine has its own network namespace (only loopback), its own hostname and mounts.
 * `startMachine` registers the machine's removal in an `after` hook of the calling scope, so it
 * goes away also when a test fails; machines left by a test process that died are removed by
 * the next `startMachine`.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { after } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { NsenterHost } from "../../src/host/nsenter.js";
import { treeDigest } from "../helpers.js";

/** Where the base root and the records of running machines are kept. */
export const CACHE_DIR = process.env.SOUS_TEST_CACHE ?? "/var/tmp/sous-test-cache";
const PACKAGES = ["systemd", "systemd-sysv", "dbus", "iproute2", "procps"];
/** Bumped whenever what goes into the base changes, so that an old cache is rebuilt. */
const BASE_VERSION = `bookworm-minbase-1:${PACKAGES.join(",")}`;
const BASE_DIR = join(CACHE_DIR, "debian-bookworm-systemd");
const MARKER = ".sous-test-base";
const MACHINES_DIR = join(CACHE_DIR, "machines");
const MIRROR = process.env.SOUS_TEST_DEBIAN_MIRROR ?? "http://deb.debian.org/debian";

/** A booted disposable machine. */
export interface Machine {
  /** Its name (also the name of its network namespace). */
  readonly name: string;
  /** Its systemd (PID 1 inside), as seen from this machine. */
  readonly pid: number;
  /** The machine as a Sous host. */
  readonly host: NsenterHost;
  /** Runs argv inside the machine and returns its standard output; throws with stderr on failure. */
  run(argv: readonly string[], input?: string): string;
  /** Runs argv inside the machine; returns exit status and output, never throws. */
  try(argv: readonly string[]): { status: number | null; stdout: string; stderr: string };
  /** The path on this machine of a path inside it (no link resolution: for test checks). */
  path(inside: string): string;
  /** A digest of the trees at these paths inside the machine (names, modes, owners, contents). */
  digest(...paths: string[]): string;
  /**
   * A process tree inside the machine with its own hostname, PIDs and an empty /run, and no
   * systemd: how a plain container looks. Removed at the end of the calling test.
   */
  withoutSystemd(): Promise<{ host: NsenterHost; pid: number }>;
}

interface MachineState extends Machine {
  nspawn: ChildProcess;
  log: string[];
  stopped: boolean;
}

function sh(argv: readonly string[], input?: string): string {
  const result = spawnSync(argv[0]!, argv.slice(1), { input, encoding: "utf8", env: { ...process.env, LC_ALL: "C" } });
  if (result.status !== 0) throw new Error(`${argv.join(" ")} failed (${result.status ?? result.signal}): ${result.stderr}${result.error ? String(result.error) : ""}`);
  return result.stdout;
}

function alive(pid: number): boolean {
  return pid > 0 && existsSync(`/proc/${pid}`);
}

function baseIsValid(): boolean {
  try {
    return readFileSync(join(BASE_DIR, MARKER), "utf8") === BASE_VERSION && existsSync(join(BASE_DIR, "usr/lib/systemd/systemd"));
  } catch {
    return false;
  }
}

/**
 * The base root: built by debootstrap when the cache has none (about a minute, network to
 * Debian's mirror needed), reused otherwise. Safe when several test processes ask at once.
 */
export async function ensureBaseRoot(): Promise<string> {
  if (baseIsValid()) return BASE_DIR;
  mkdirSync(CACHE_DIR, { recursive: true });
  const lock = `${BASE_DIR}.lock`;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, "pid"), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      let owner = 0;
      try {
        owner = Number(readFileSync(join(lock, "pid"), "utf8"));
      } catch {
        // The owner is between mkdir and writing its pid: wait.
      }
      if (owner > 0 && !alive(owner)) rmSync(lock, { recursive: true, force: true });
      else await sleep(500);
      if (baseIsValid()) return BASE_DIR;
    }
  }
  try {
    if (baseIsValid()) return BASE_DIR;
    const building = `${BASE_DIR}.build-${process.pid}`;
    for (const stale of [building, BASE_DIR]) if (existsSync(stale)) sh(["rm", "-rf", "--one-file-system", stale]);
    const debootstrap = spawn("debootstrap", ["--variant=minbase", `--include=${PACKAGES.join(",")}`, "bookworm", building, MIRROR], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    debootstrap.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    debootstrap.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => debootstrap.on("close", resolve));
    if (code !== 0) throw new Error(`debootstrap of the test machine base failed (${code}):\n${output.slice(-4000)}`);
    // A name of its own, not this machine's; no getty on a console nobody reads.
    writeFileSync(join(building, "etc/hostname"), "sous-machine\n");
    writeFileSync(join(building, "etc/hosts"), "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    for (const unit of ["console-getty.service", "getty@.service"]) {
      const link = join(building, "etc/systemd/system", unit);
      rmSync(link, { force: true });
      execFileSync("ln", ["-s", "/dev/null", link]);
    }
    writeFileSync(join(building, MARKER), BASE_VERSION);
    renameSync(building, BASE_DIR);
    return BASE_DIR;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function nsenterArgv(pid: number, argv: readonly string[]): string[] {
  return ["nsenter", `--target=${pid}`, "--all", "--root", "--wdns=/", "--", "env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "HOME=/root", ...argv];
}

/** Removes machines whose test process died before its cleanup ran. */
function removeStaleMachines(): void {
  if (!existsSync(MACHINES_DIR)) return;
  for (const entry of readdirSync(MACHINES_DIR)) {
    let record: { owner: number; nspawn: number; pid?: number; name: string };
    try {
      record = JSON.parse(readFileSync(join(MACHINES_DIR, entry), "utf8"));
    } catch {
      continue;
    }
    if (alive(record.owner)) continue;
    // Only processes that are still what the record says: a pid may have been reused since.
    if (record.pid !== undefined && commOf(record.pid) === "systemd") kill(record.pid);
    if (commOf(record.nspawn) === "systemd-nspawn") kill(record.nspawn);
    removeLeftovers(record.name);
  }
}

function commOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return undefined;
  }
}

function kill(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Gone in the meantime.
  }
}

/** The first process named `comm` below `root` (breadth first), as seen from here. */
function descendant(root: number, comm: string): number | undefined {
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    if (pid !== root && commOf(pid) === comm) return pid;
    try {
      queue.push(...readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number));
    } catch {
      // Exited meanwhile.
    }
  }
  return undefined;
}

function removeLeftovers(name: string): void {
  spawnSync("ip", ["netns", "delete", name]);
  rmSync(`/run/systemd/nspawn/propagate/${name}`, { recursive: true, force: true });
  rmSync(join(MACHINES_DIR, `${name}.json`), { force: true });
}

/**
 * Stops a machine the hard way: SIGKILL to its init ends every process of its PID namespace
 * (killing nspawn alone would leave the container running); then nspawn exits by itself.
 */
async function forceStop(name: string, nspawn: ChildProcess | undefined, pid: number | undefined): Promise<void> {
  if (nspawn && nspawn.exitCode === null && nspawn.signalCode === null) {
    const exited = new Promise((resolve) => nspawn.once("exit", resolve));
    if (pid !== undefined) kill(pid);
    else nspawn.kill("SIGKILL");
    const timer = setTimeout(() => nspawn.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }
  removeLeftovers(name);
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => T | undefined, detail: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`test machine: ${what} did not happen within ${timeoutMs / 1000} s\n${detail()}`);
    await sleep(100);
  }
}

/**
 * Boots a disposable machine and registers its removal in an `after` hook of the current
 * scope: call it at a test file's top level (`const machine = await startMachine()`) or in a
 * test; in a `before` hook, the removal would run as soon as the hook ends.
 */
export async function startMachine(): Promise<Machine> {
  removeStaleMachines();
  const base = await ensureBaseRoot();
  const name = `sous-m-${randomBytes(4).toString("hex")}`;
  sh(["ip", "netns", "add", name]);
  // Filled in as the machine comes up: the after hook removes whatever exists by then.
  const started: { nspawn?: ChildProcess; pid?: number; machine?: MachineState } = {};
  after(async () => {
    if (started.machine) await stopMachine(started.machine);
    else await forceStop(name, started.nspawn, started.pid);
  });
  sh(["ip", "-n", name, "link", "set", "lo", "up"]);
  const log: string[] = [];
  const nspawn = spawn(
    "systemd-nspawn",
    ["--quiet", "--boot", "--volatile=overlay", `--directory=${base}`, `--machine=${name}`, "--register=no", "--keep-unit", `--network-namespace-path=/run/netns/${name}`, "--console=passive"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  started.nspawn = nspawn;
  nspawn.stdout!.on("data", (chunk: Buffer) => log.push(chunk.toString()));
  nspawn.stderr!.on("data", (chunk: Buffer) => log.push(chunk.toString()));
  const record = (pid?: number) => writeFileSync(join(MACHINES_DIR, `${name}.json`), JSON.stringify({ owner: process.pid, nspawn: nspawn.pid, pid, name }));
  mkdirSync(MACHINES_DIR, { recursive: true });
  record();
  const logText = () => log.join("").slice(-4000);

  const pid = await waitFor("systemd starting", 30_000, () => {
    if (nspawn.exitCode !== null) throw new Error(`systemd-nspawn exited with ${nspawn.exitCode}:\n${logText()}`);
    let children: string[] = [];
    try {
      children = readFileSync(`/proc/${nspawn.pid}/task/${nspawn.pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
    } catch {
      return undefined;
    }
    return children.map(Number).find((child) => {
      try {
        return readFileSync(`/proc/${child}/comm`, "utf8").trim() === "systemd";
      } catch {
        return false;
      }
    });
  }, logText);
  started.pid = pid;
  record(pid);

  const machine: MachineState = {
    name,
    pid,
    host: new NsenterHost(pid, `machine:${name}`),
    nspawn,
    log,
    stopped: false,
    run(argv, input) {
      return sh(nsenterArgv(pid, argv), input);
    },
    try(argv) {
      const [program, ...args] = nsenterArgv(pid, argv);
      const result = spawnSync(program!, args, { encoding: "utf8" });
      return { status: result.status, stdout: result.stdout, stderr: result.stderr };
    },
    path: (inside) => join(`/proc/${pid}/root`, inside),
    async withoutSystemd() {
      const script = "mount -t tmpfs sous-run /run && exec sleep infinity";
      const [program, ...args] = nsenterArgv(pid, ["unshare", "--uts", "--mount", "--pid", "--fork", "--mount-proc", "--propagation=private", "sh", "-c", script]);
      const box = spawn(program!, args, { stdio: "ignore" });
      const boxPid = await waitFor("the box starting", 10_000, () => descendant(box.pid!, "sleep"), () => "");
      after(() => kill(boxPid));
      return { host: new NsenterHost(boxPid, `${name}:box`), pid: boxPid };
    },
    digest: (...paths) => paths.map((inside) => (existsSync(join(`/proc/${pid}/root`, inside)) ? treeDigest(join(`/proc/${pid}/root`, inside)) : "-")).join(","),
  };
  started.machine = machine;

  await waitFor(
    "systemd reaching running or degraded",
    90_000,
    () => {
      if (nspawn.exitCode !== null) throw new Error(`systemd-nspawn exited with ${nspawn.exitCode}:\n${logText()}`);
      const status = machine.try(["systemctl", "is-system-running"]).stdout.trim();
      return status === "running" || status === "degraded" ? status : undefined;
    },
    () => `${machine.try(["systemctl", "--failed", "--no-pager"]).stdout}\n${logText()}`,
  );
  // nspawn mounts /proc/sys read-only; the machine's net.* keys belong to its own network
  // namespace, so making them writable inside it cannot reach this machine's.
  machine.run(["sh", "-c", "mount --bind /proc/sys/net /proc/sys/net && mount -o remount,bind,rw /proc/sys/net"]);
  return machine;
}

/** Powers the machine off (killing it if it does not stop in time) and removes its namespace. */
export async function stopMachine(machine: Machine): Promise<void> {
  const state = machine as MachineState;
  if (state.stopped) return;
  state.stopped = true;
  const { nspawn } = state;
  if (nspawn.exitCode === null && nspawn.signalCode === null) {
    const exited = new Promise((resolve) => nspawn.once("exit", resolve));
    state.try(["systemctl", "poweroff", "--no-block"]);
    const timer = setTimeout(() => kill(state.pid), 30_000);
    await exited;
    clearTimeout(timer);
  }
  await forceStop(state.name, nspawn, state.pid);
}
