/**
 * Disposable Debian machines with a real systemd and sshd, on this machine: for
 * `sous machine up|list|ssh|down`, `sous test --machine`, and the tests of services,
 * hostnames, sysctls and mounts that must never touch the machine running them.
 *
 * A base root is made once with `debootstrap --variant=minbase` into a cache directory (kept
 * across runs), then each machine boots it with `systemd-nspawn --boot --volatile=overlay`:
 * the base stays read-only under a tmpfs that vanishes with the machine. Each machine has its
 * own network namespace (only loopback, or a bridge with loopback-range addresses for a
 * machine set), its own hostname and mounts. Each machine is recorded on disk with the
 * process that owns it: machines left by a process that died are removed by the next boot;
 * kept machines (owner 0) stay until `stopKeptMachines`.
 *
 * A machine set (`bootMachineSet`) boots many machines at once on a bridge, each with its own
 * 127.0.N.x address and sshd started by its systemd, with a host key, root's key, known_hosts
 * and an inventory made for the set: push and bootstrap targets.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { SousError } from "../core/errors.js";
import { NsenterHost } from "../host/nsenter.js";
import { type BridgeNetwork, createBridgeNetwork, listening } from "./network.js";
import { makeSshKeys } from "./ssh-keys.js";

/** Where the base root and the records of running machines are kept. */
export const CACHE_DIR = process.env.SOUS_TEST_CACHE ?? "/var/tmp/sous-test-cache";
const PACKAGES = ["systemd", "systemd-sysv", "dbus", "iproute2", "procps", "openssh-server"];
/** Bumped whenever what goes into the base changes, so that an old cache is rebuilt. */
const BASE_VERSION = `bookworm-minbase-3:${PACKAGES.join(",")}`;
// A new folder per version: machines of a test run still using the previous base keep their lower layer.
const BASE_DIR = join(CACHE_DIR, "debian-bookworm-systemd-3");
/**
 * Inotify instances a booted machine holds as root (its systemd 3, logind 1): the kernel counts
 * them against root's limit on this machine (fs.inotify.max_user_instances, 128 by default),
 * with no namespace of their own; past it, systemd inside stalls while booting.
 */
const INOTIFY_PER_MACHINE = 4;
const INOTIFY_ADVICE = "stop machines left running (sous machine down), or raise the limit (sysctl fs.inotify.max_user_instances=1024)";
/** Inside a machine, where its SSH keys are bound (read-only); without them its sshd does not start. */
const SSH_DIR = "/etc/sous-test/ssh";
const MARKER = ".sous-test-base";
const MACHINES_DIR = join(CACHE_DIR, "machines");
const SETS_DIR = join(CACHE_DIR, "machine-sets");
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
  /** The processes of the machine named `comm`, by their PIDs as seen from here (e.g. to kill them as a crash would). */
  pids(comm: string): number[];
}

interface MachineState extends Machine {
  record: MachineRecord;
  stopped: boolean;
}

// Included before Debian's own settings, so these win (sshd keeps the first value it reads).
const SSHD_CONFIG = [
  `HostKey ${SSH_DIR}/host_key`,
  `AuthorizedKeysFile ${SSH_DIR}/authorized_keys`,
  "PermitRootLogin prohibit-password",
  "PasswordAuthentication no",
  "KbdInteractiveAuthentication no",
  "UsePAM no",
  "UseDNS no",
  "MaxStartups 100",
  "",
].join("\n");

function sh(argv: readonly string[], input?: string): string {
  const result = spawnSync(argv[0]!, argv.slice(1), { input, encoding: "utf8", env: { ...process.env, LC_ALL: "C" } });
  if (result.status !== 0) throw new SousError("machine", `${argv.join(" ")} failed (${result.status ?? result.signal}): ${result.stderr}${result.error ? String(result.error) : ""}`);
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
    if (code !== 0) throw new SousError("machine", `debootstrap of the test machine base failed (${code}):\n${output.slice(-4000)}`);
    // A name of its own, not this machine's; no getty on a console nobody reads, and no password
    // agents watching for prompts nobody answers (each path unit holds one of the inotify
    // instances that all machines share with this machine's root: see INOTIFY_PER_MACHINE).
    writeFileSync(join(building, "etc/hostname"), "sous-machine\n");
    writeFileSync(join(building, "etc/hosts"), "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    for (const unit of ["console-getty.service", "getty@.service", "systemd-ask-password-console.path", "systemd-ask-password-wall.path"]) {
      const link = join(building, "etc/systemd/system", unit);
      rmSync(link, { force: true });
      execFileSync("ln", ["-s", "/dev/null", link]);
    }
    // Keys come per machine set from the test (bound at SSH_DIR), never the ones made at install time,
    // which every machine would share with every other set.
    for (const entry of readdirSync(join(building, "etc/ssh"))) if (entry.startsWith("ssh_host_")) rmSync(join(building, "etc/ssh", entry));
    writeFileSync(join(building, "etc/ssh/sshd_config.d/sous-test.conf"), SSHD_CONFIG);
    mkdirSync(join(building, "etc/systemd/system/ssh.service.d"), { recursive: true });
    writeFileSync(join(building, "etc/systemd/system/ssh.service.d/sous-test.conf"), `[Unit]\nConditionPathExists=${SSH_DIR}/host_key\n`);
    writeFileSync(join(building, MARKER), BASE_VERSION);
    renameSync(building, BASE_DIR);
    removeOutdatedBases();
    return BASE_DIR;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Removes bases of earlier versions, unless a machine (maybe booted from one) is running. */
function removeOutdatedBases(): void {
  if (readRecords().length > 0) return;
  const prefix = "debian-bookworm-systemd";
  for (const entry of readdirSync(CACHE_DIR)) {
    const path = join(CACHE_DIR, entry);
    if (entry.startsWith(prefix) && path !== BASE_DIR && !/\.(lock|build-\d+)$/.test(entry)) spawnSync("rm", ["-rf", "--one-file-system", path]);
  }
}

function nsenterArgv(pid: number, argv: readonly string[]): string[] {
  return ["nsenter", `--target=${pid}`, "--all", "--root", "--wdns=/", "--", "env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "HOME=/root", ...argv];
}

/** What is kept on disk about a running machine, so that another process can remove it. */
export interface MachineRecord {
  /** The test process that owns it; 0 for machines kept by the machines script. */
  owner: number;
  nspawn: number;
  pid?: number;
  name: string;
  /** The bridge of its machine set, removed with it. */
  bridge?: string;
  /** Its machine set's folder (keys, known_hosts), removed with it. */
  setDir?: string;
  /** Its address on its set's bridge, and its hostname. */
  address?: string;
  hostname?: string;
}

/** The machines running now, as recorded. */
export function readRecords(): MachineRecord[] {
  if (!existsSync(MACHINES_DIR)) return [];
  const records: MachineRecord[] = [];
  for (const entry of readdirSync(MACHINES_DIR)) {
    if (!entry.endsWith(".json")) continue;
    try {
      records.push(JSON.parse(readFileSync(join(MACHINES_DIR, entry), "utf8")) as MachineRecord);
    } catch {
      // Being written, or half-removed.
    }
  }
  return records;
}

/** Removes machines whose test process died before its cleanup ran. */
function removeStaleMachines(): void {
  for (const record of readRecords()) {
    if (record.owner === 0 || alive(record.owner)) continue;
    // Only processes that are still what the record says: a pid may have been reused since.
    const init = runningAs(record.pid, "systemd") ? record.pid : runningAs(record.nspawn, "systemd-nspawn") ? descendant(record.nspawn, "systemd") : undefined;
    if (init !== undefined) kill(init);
    if (runningAs(record.nspawn, "systemd-nspawn")) kill(record.nspawn);
    removeLeftovers(record);
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

/** The processes named `comm` below `root` (breadth first, at most `limit`), as seen from here. */
function descendants(root: number, comm: string, limit = Infinity): number[] {
  const queue = [root];
  const found: number[] = [];
  while (queue.length > 0 && found.length < limit) {
    const pid = queue.shift()!;
    if (pid !== root && commOf(pid) === comm) found.push(pid);
    try {
      queue.push(...readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number));
    } catch {
      // Exited meanwhile.
    }
  }
  return found;
}

/** The first process named `comm` below `root`, as seen from here. */
export function descendant(root: number, comm: string): number | undefined {
  return descendants(root, comm, 1)[0];
}

function removeLeftovers(record: Pick<MachineRecord, "name" | "bridge" | "setDir">): void {
  spawnSync("ip", ["netns", "delete", record.name]);
  if (record.bridge) spawnSync("ip", ["link", "delete", record.bridge]);
  if (record.setDir) rmSync(record.setDir, { recursive: true, force: true });
  rmSync(`/run/systemd/nspawn/propagate/${record.name}`, { recursive: true, force: true });
  rmSync(join(MACHINES_DIR, `${record.name}.json`), { force: true });
  rmSync(join(MACHINES_DIR, `${record.name}.log`), { force: true });
}

/** Whether `pid` is a live process (not a zombie) named `comm`: a recorded pid may have been reused since. */
function runningAs(pid: number | undefined, comm: string): pid is number {
  if (pid === undefined || pid <= 0) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // pid (comm) state ...: the name may hold spaces and parentheses, the state follows the last ')'.
    return stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")) === comm && stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return false;
  }
}

/** Resolves true once `pid` is no longer a live `comm`, or false after `timeoutMs`. */
async function gone(pid: number, comm: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (runningAs(pid, comm)) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

/**
 * Stops a machine: a clean poweroff (when `clean`), then SIGKILL to its init if it does not
 * stop in time, which ends every process of its PID namespace. Killing nspawn alone would
 * leave the container running without it, so nspawn is only killed once its init is gone.
 */
async function stopRecorded(record: MachineRecord, clean: boolean): Promise<void> {
  const init = runningAs(record.pid, "systemd") ? record.pid : runningAs(record.nspawn, "systemd-nspawn") ? descendant(record.nspawn, "systemd") : undefined;
  if (init !== undefined) {
    if (clean) {
      const [program, ...args] = nsenterArgv(init, ["systemctl", "poweroff", "--no-block"]);
      spawnSync(program!, args, { stdio: "ignore", timeout: 10_000, killSignal: "SIGKILL" });
    }
    if (!clean || !(await gone(init, "systemd", 30_000))) {
      kill(init);
      await gone(init, "systemd", 10_000);
    }
  }
  if (runningAs(record.nspawn, "systemd-nspawn") && !(await gone(record.nspawn, "systemd-nspawn", 10_000))) {
    kill(record.nspawn);
    await gone(record.nspawn, "systemd-nspawn", 5_000);
  }
  removeLeftovers(record);
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>, detail: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new SousError("machine", `test machine: ${what} did not happen within ${timeoutMs / 1000} s\n${detail()}`);
    await sleep(100);
  }
}

/**
 * Runs argv without blocking this process (machines boot side by side); never throws. After
 * `timeoutMs` it gives up (status null) even if a process left inside the machine still
 * holds the output pipes: killing nsenter does not end what it started there.
 */
function runAsync(argv: readonly string[], timeoutMs: number): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let settled = false;
    const finish = (status: number | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    };
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      finish(null);
    }, timeoutMs);
    child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", (error) => {
      stderr += String(error);
      finish(null);
    });
    child.on("close", finish);
  });
}

/** Root's inotify instances in use now: the inotify descriptors of processes running as root. */
function rootInotifyInstances(): number {
  let count = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!/^Uid:\s+0\s/m.test(readFileSync(`/proc/${entry}/status`, "utf8"))) continue;
      for (const fd of readdirSync(`/proc/${entry}/fd`)) {
        try {
          if (readlinkSync(`/proc/${entry}/fd/${fd}`) === "anon_inode:inotify") count++;
        } catch {
          // Closed meanwhile.
        }
      }
    } catch {
      // The process ended while we looked.
    }
  }
  return count;
}

/** Why `count` more machines would not boot for lack of inotify instances, or undefined. */
function inotifyShortage(count: number): string | undefined {
  const limit = Number(readFileSync("/proc/sys/fs/inotify/max_user_instances", "utf8"));
  const used = rootInotifyInstances();
  if (used + count * INOTIFY_PER_MACHINE <= limit) return undefined;
  return `${count} machines need about ${count * INOTIFY_PER_MACHINE} inotify instances and root has ${Math.max(0, limit - used)} left of ${limit} (fs.inotify.max_user_instances): boot at most ${Math.max(0, Math.floor((limit - used) / INOTIFY_PER_MACHINE))}, ${INOTIFY_ADVICE}.`;
}

/** What is known to stop machines from booting, found in a machine's journal, with what to do about it. */
function bootTrouble(machine: Machine): string {
  const journal = machine.try(["journalctl", "-b", "--no-pager", "-q"]).stdout;
  if (!/inotify.*Too many open files/.test(journal)) return "";
  const limit = readFileSync("/proc/sys/fs/inotify/max_user_instances", "utf8").trim();
  // Every machine's systemd, journald and logind take several; all count against root's limit on this machine.
  return `systemd inside ran out of inotify instances: the kernel allows ${limit} per user (fs.inotify.max_user_instances), and each machine takes about ${INOTIFY_PER_MACHINE}. Boot fewer machines at once, ${INOTIFY_ADVICE}.\n`;
}

/** How a machine boots. */
export interface MachineOptions {
  /**
   * A network namespace made beforehand (see test/fleet/network.ts) to boot in; its name is
   * the machine's. Default: a new namespace with loopback only.
   */
  netns?: string;
  /** Folders of this machine bound read-only into the machine: path here → path inside. */
  bindReadOnly?: Readonly<Record<string, string>>;
  /** Keep the machine when this process exits (the machines script); stop it with `stopKeptMachines`. */
  keep?: boolean;
  /** Recorded with the machine, removed with it: its set's bridge and folder. */
  set?: { bridge: string; dir: string };
  /** Also wait for its sshd to listen on this address. */
  sshAddress?: string;
  /** Its hostname (default: the base's, `sous-machine`). */
  hostname?: string;
}

/**
 * Boots a disposable machine; the caller stops it (`stopMachine`). On failure, whatever was
 * started is removed before the error is thrown.
 */
export async function bootMachine(options: MachineOptions = {}): Promise<Machine> {
  removeStaleMachines();
  const base = await ensureBaseRoot();
  const name = options.netns ?? `sous-m-${randomBytes(4).toString("hex")}`;
  mkdirSync(MACHINES_DIR, { recursive: true });
  const record: MachineRecord = {
    owner: options.keep ? 0 : process.pid,
    nspawn: 0,
    name,
    ...(options.set ? { bridge: options.set.bridge, setDir: options.set.dir } : {}),
    ...(options.sshAddress ? { address: options.sshAddress } : {}),
    ...(options.hostname ? { hostname: options.hostname } : {}),
  };
  const logFile = join(MACHINES_DIR, `${name}.log`);
  const logText = () => {
    try {
      return readFileSync(logFile, "utf8").slice(-4000);
    } catch {
      return "";
    }
  };
  let nspawn: ChildProcess | undefined;
  try {
    if (!options.netns) {
      sh(["ip", "netns", "add", name]);
      sh(["ip", "-n", name, "link", "set", "lo", "up"]);
    }
    const log = openSync(logFile, "w");
    const binds = Object.entries(options.bindReadOnly ?? {}).map(([outside, inside]) => `--bind-ro=${outside}:${inside}`);
    nspawn = spawn(
      "systemd-nspawn",
      ["--quiet", "--boot", "--volatile=overlay", `--directory=${base}`, `--machine=${name}`, "--register=no", "--keep-unit", `--network-namespace-path=/run/netns/${name}`, "--console=passive", ...binds],
      // Its own process group: a kept machine must not get the script's terminal signals.
      { stdio: ["ignore", log, log], detached: options.keep === true },
    );
    closeSync(log);
    if (options.keep) nspawn.unref();
    record.nspawn = nspawn.pid!;
    const write = () => writeFileSync(join(MACHINES_DIR, `${name}.json`), JSON.stringify(record));
    write();
    const nspawnExited = () => nspawn!.exitCode !== null || nspawn!.signalCode !== null;
    const failIfExited = () => {
      if (nspawnExited()) throw new SousError("machine", `systemd-nspawn exited with ${nspawn!.exitCode ?? nspawn!.signalCode}:\n${logText()}`);
    };

    const pid = await waitFor("systemd starting", 30_000, () => {
      failIfExited();
      return descendant(nspawn!.pid!, "systemd");
    }, logText);
    record.pid = pid;
    write();

    const machine: MachineState = {
      name,
      pid,
      host: new NsenterHost(pid, `machine:${name}`),
      record,
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
      pids: (comm) => descendants(pid, comm).concat(commOf(pid) === comm ? [pid] : []),
    };

    // One waiting `systemctl` per machine instead of a poll: twenty machines booting at once
    // on two cores would otherwise spend their time starting pollers.
    await waitFor("systemd's control socket appearing", 60_000, () => {
      failIfExited();
      return existsSync(join(`/proc/${pid}/root`, "run/systemd/private")) || undefined;
    }, logText);
    const state = await waitFor("systemd reaching running or degraded", 90_000, async () => {
      failIfExited();
      // The in-machine timeout ends systemctl itself; the outer one is a backstop.
      const result = await runAsync(nsenterArgv(pid, ["timeout", "--signal=KILL", "30", "systemctl", "is-system-running", "--wait"]), 35_000);
      const status = result.stdout.trim();
      return status === "running" || status === "degraded" ? status : undefined;
    }, () => `${machine.try(["systemctl", "--failed", "--no-pager"]).stdout}\n${bootTrouble(machine)}${logText()}`);
    if (options.sshAddress) {
      const address = options.sshAddress;
      await waitFor(`sshd listening on ${address}`, 30_000, () => {
        failIfExited();
        return listening(pid, address) || undefined;
      }, () => `systemd is ${state}\n${machine.try(["systemctl", "status", "--no-pager", "ssh"]).stdout}\n${logText()}`);
    }
    // nspawn mounts /proc/sys read-only; the machine's net.* keys belong to its own network
    // namespace, so making them writable inside it cannot reach this machine's.
    // A hostname of its own, so that a set's machines are different nodes (facts give the node name).
    const script = 'mount --bind /proc/sys/net /proc/sys/net && mount -o remount,bind,rw /proc/sys/net && if [ -n "$1" ]; then echo "$1" > /etc/hostname && hostname "$1" && printf "%s\\t%s\\n" "$2" "$1" >> /etc/hosts; fi';
    const setup = await runAsync(nsenterArgv(pid, ["timeout", "--signal=KILL", "30", "sh", "-c", script, "setup", options.hostname ?? "", options.sshAddress ?? "127.0.1.1"]), 35_000);
    if (setup.status !== 0) throw new SousError("machine", `test machine: setting it up failed: ${setup.stderr}`);
    return machine;
  } catch (error) {
    // The set's bridge and folder outlive one machine that failed: the set removes them.
    await stopRecorded({ ...record, bridge: undefined, setDir: undefined }, false);
    throw error;
  }
}

/** Powers the machine off (killing it if it does not stop in time) and removes its namespace. */
export async function stopMachine(machine: Machine): Promise<void> {
  const state = machine as MachineState;
  if (state.stopped) return;
  state.stopped = true;
  await stopRecorded(state.record, true);
}

/** A machine of a set, reachable over SSH. */
export interface SshMachine extends Machine {
  address: string;
  /** `ssh://root@ADDRESS`. */
  target: string;
}

/** Machines on one bridge, each with sshd on its own address, root's key and host key known. */
export interface MachineSet {
  machines: SshMachine[];
  /** Root's private key (ed25519, no passphrase), authorized on every machine. */
  keyFile: string;
  /** Every machine's address with the set's host key. */
  knownHostsFile: string;
  /** A Sous inventory file: one `ssh://root@ADDRESS` per line. */
  inventoryFile: string;
  /** This machine's address on the set's bridge: what the machines reach it as. */
  gateway: string;
  /** The set's folder (keys, known_hosts, inventory). */
  dir: string;
  /** Stops every machine and removes the network and the folder; safe to call twice. */
  stop(): Promise<void>;
}

/** Why machines with sshd cannot boot here, or undefined when they can. */
export function machinesUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "disposable machines need root (namespaces, systemd-nspawn)";
  for (const tool of ["/usr/bin/systemd-nspawn", "/usr/sbin/debootstrap", "/usr/bin/ssh-keygen"]) if (!existsSync(tool)) return `disposable machines need ${tool} (Debian packages systemd-container, debootstrap, openssh-client)`;
  return undefined;
}

/**
 * Boots `count` machines at once on a new bridge (127.0.N.1 to .count), each running sshd
 * (started by its systemd) with one host key and root's authorized key made for the set.
 * `bindReadOnly` is bound into every machine. The set's files go to `dir` (default: a new
 * folder in the cache), removed with the set. On failure, everything made is removed.
 */
export async function bootMachineSet(count: number, options: { bindReadOnly?: Readonly<Record<string, string>>; keep?: boolean; dir?: string; hostnames?: readonly string[] } = {}): Promise<MachineSet> {
  removeStaleMachines();
  const trouble = inotifyShortage(count);
  if (trouble) throw new SousError("machine", trouble);
  await ensureBaseRoot();
  mkdirSync(options.dir ?? SETS_DIR, { recursive: true });
  const dir = options.dir ?? mkdtempSync(join(SETS_DIR, "set-"));
  let network: BridgeNetwork;
  try {
    network = createBridgeNetwork(count, (subnet, i) => `sous-m${subnet}-${i}`);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const booted: Machine[] = [];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(booted.map((machine) => stopMachine(machine)));
    network.remove();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const sshDir = join(dir, "ssh");
    mkdirSync(sshDir, { mode: 0o755 });
    const { hostKey, keyFile } = makeSshKeys(sshDir, `sous-machines-${network.subnet}`);
    writeFileSync(join(dir, "known_hosts"), network.hosts.map((h) => `${h.address} ${hostKey}\n`).join(""));
    writeFileSync(join(dir, "inventory"), network.hosts.map((h) => `ssh://root@${h.address}\n`).join(""));
    const results = await Promise.allSettled(
      network.hosts.map(async ({ netns, address }, index) => {
        const machine = await bootMachine({
          netns,
          hostname: options.hostnames?.[index] ?? `machine-${index + 1}`,
          keep: options.keep,
          sshAddress: address,
          bindReadOnly: { ...options.bindReadOnly, [sshDir]: SSH_DIR },
          set: { bridge: network.bridge, dir },
        });
        booted.push(machine);
        return Object.assign(machine, { address, target: `ssh://root@${address}` }) as SshMachine;
      }),
    );
    const failure = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failure) throw failure.reason;
    const machines = results.map((r) => (r as PromiseFulfilledResult<SshMachine>).value);
    return { machines, keyFile, knownHostsFile: join(dir, "known_hosts"), inventoryFile: join(dir, "inventory"), gateway: network.gateway, dir, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Machines kept running (by `sous machine up`, the machines script, `sous test --machine --keep`), with their sets' folders. */
export function keptMachines(): MachineRecord[] {
  return readRecords().filter((r) => r.owner === 0);
}

/**
 * Stops kept machines (all, or those whose hostname or name is given) and removes what they
 * used; a set's bridge and folder go with the last of its machines. Returns how many stopped.
 */
export async function stopKeptMachines(names?: readonly string[]): Promise<number> {
  const kept = keptMachines();
  const chosen = names ? kept.filter((r) => names.includes(r.hostname ?? "") || names.includes(r.name)) : kept;
  const staying = kept.filter((r) => !chosen.includes(r));
  await Promise.all(
    chosen.map((record) => {
      const shared = staying.some((other) => other.setDir !== undefined && other.setDir === record.setDir);
      return stopRecorded(shared ? { ...record, bridge: undefined, setDir: undefined } : record, true);
    }),
  );
  return chosen.length;
}
