/**
 * Disposable machines for tests: the product's machines (src/machine) with what tests add,
 * removal in an `after` hook of the calling scope (also when a test fails), a digest of
 * paths inside a machine, and a process tree without systemd inside one.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { NsenterHost } from "../../src/host/nsenter.js";
import { bootMachine as bootBare, bootMachineSet, descendant, type Machine as BareMachine, type MachineOptions, type MachineSet as BareSet, stopMachine, type SshMachine as BareSshMachine } from "../../src/machine/machines.js";
import { treeDigest } from "../helpers.js";

export { CACHE_DIR, ensureBaseRoot, keptMachines, machinesUnavailable, stopKeptMachines, stopMachine, type MachineOptions } from "../../src/machine/machines.js";

/** A booted disposable machine, with test helpers. */
export interface Machine extends BareMachine {
  /** A digest of the trees at these paths inside the machine (names, modes, owners, contents). */
  digest(...paths: string[]): string;
  /**
   * A process tree inside the machine with its own hostname, PIDs and an empty /run, and no
   * systemd: how a plain container looks. Removed at the end of the calling test.
   */
  withoutSystemd(): Promise<{ host: NsenterHost; pid: number }>;
}

/** A machine of a set, reachable over SSH, with test helpers. */
export type SshMachine = BareSshMachine & Machine;

/** A machine set whose machines have test helpers. */
export type MachineSet = Omit<BareSet, "machines"> & { machines: SshMachine[] };

function withHelpers<M extends BareMachine>(machine: M): M & Machine {
  return Object.assign(machine, {
    digest: (...paths: string[]) => paths.map((inside) => (existsSync(join(`/proc/${machine.pid}/root`, inside)) ? treeDigest(join(`/proc/${machine.pid}/root`, inside)) : "-")).join(","),
    async withoutSystemd() {
      const script = "mount -t tmpfs sous-run /run && exec sleep infinity";
      const argv = ["nsenter", `--target=${machine.pid}`, "--all", "--root", "--wdns=/", "--", "env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "HOME=/root", "unshare", "--uts", "--mount", "--pid", "--fork", "--mount-proc", "--propagation=private", "sh", "-c", script];
      const box = spawn(argv[0]!, argv.slice(1), { stdio: "ignore" });
      const deadline = Date.now() + 10_000;
      let boxPid: number | undefined;
      while ((boxPid = descendant(box.pid!, "sleep")) === undefined) {
        if (Date.now() > deadline) throw new Error("test machine: the box did not start within 10 s");
        await sleep(100);
      }
      const pid = boxPid;
      after(() => {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // Gone already.
        }
      });
      return { host: new NsenterHost(pid, `${machine.name}:box`), pid };
    },
  });
}

/** Boots a disposable machine with test helpers; the caller stops it (`stopMachine`). */
export async function bootMachine(options: MachineOptions = {}): Promise<Machine> {
  return withHelpers(await bootBare(options));
}

/**
 * Boots a disposable machine and registers its removal in an `after` hook of the current
 * scope: call it at a test file's top level (`const machine = await startMachine()`) or in a
 * test; in a `before` hook, the removal would run as soon as the hook ends.
 */
export async function startMachine(options: Omit<MachineOptions, "keep"> = {}): Promise<Machine> {
  // Registered before booting: a failed boot cleans up after itself, a booted machine here.
  const started: { machine?: Machine } = {};
  after(async () => {
    if (started.machine) await stopMachine(started.machine);
  });
  started.machine = await bootMachine(options);
  return started.machine;
}

/** A machine set for node:test files: booted on first use, removed after the file's tests (also when they fail). */
export function useMachineSet(count: number, options: { bindReadOnly?: Readonly<Record<string, string>> } = {}): () => Promise<MachineSet> {
  let starting: Promise<MachineSet> | undefined;
  after(async () => (await starting?.catch(() => undefined))?.stop());
  return () =>
    (starting ??= bootMachineSet(count, options).then((set) => {
      set.machines.forEach((machine) => withHelpers(machine));
      return set as unknown as MachineSet;
    }));
}
