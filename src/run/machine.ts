/**
 * Named disposable Debian machines on this machine (`sous machine up|list|ssh|down`), each with
 * systemd, sshd and an address of its own (loopback range, nothing reaches the real network),
 * kept until `down`. The machine module is imported when a command runs.
 */
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../core/errors.js";

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

async function machines() {
  const module = await import("../machine/machines.js");
  const unavailable = module.machinesUnavailable();
  if (unavailable) throw new UsageError(`${unavailable}; sous machine needs root, systemd-container, debootstrap and openssh-client`);
  return module;
}

/** The SSH files that reach a kept machine's set. */
function sshFiles(setDir: string): { key: string; knownHosts: string; inventory: string } {
  return { key: join(setDir, "ssh", "client_key"), knownHosts: join(setDir, "known_hosts"), inventory: join(setDir, "inventory") };
}

/** The names machines will be booted under: `names`, else machine-N not yet taken, `count` of them. Throws on a bad or taken name. */
export async function machineNames(names: readonly string[], count: string | undefined): Promise<string[]> {
  const m = await machines();
  const wanted = names.length || Number(count ?? 1);
  if (!Number.isInteger(wanted) || wanted < 1 || wanted > 30) throw new UsageError(`a number of machines from 1 to 30, got ${count}`);
  const taken = new Set(m.keptMachines().map((r) => r.hostname ?? r.name));
  const hostnames = [...names];
  for (let n = 1; hostnames.length < wanted; n++) if (!taken.has(`machine-${n}`)) hostnames.push(`machine-${n}`);
  for (const name of hostnames) {
    if (!NAME.test(name)) throw new UsageError(`machine name ${JSON.stringify(name)}: lower case letters, digits and -`);
    if (taken.has(name)) throw new UsageError(`a machine named ${name} is already up (sous machine list; sous machine down ${name})`);
  }
  if (new Set(hostnames).size !== hostnames.length) throw new UsageError("each machine needs its own name");
  return hostnames;
}

/** Boots machines under these names, kept until {@link stopMachines}. */
export async function bootMachines(hostnames: readonly string[]) {
  const m = await machines();
  mkdirSync(join(m.CACHE_DIR, "machine-sets"), { recursive: true });
  const dir = mkdtempSync(join(m.CACHE_DIR, "machine-sets", "up-"));
  return m.bootMachineSet(hostnames.length, { keep: true, dir, hostnames: [...hostnames] });
}

/** A kept machine: its name, targets and the SSH files that reach it. */
export interface MachineRow {
  name: string;
  target?: string;
  nsenter?: string;
  key?: string;
  knownHosts?: string;
  inventory?: string;
}

/** The kept machines with their targets. */
export async function listMachines(): Promise<MachineRow[]> {
  const { keptMachines } = await machines();
  return keptMachines().map((record) => ({
    name: record.hostname ?? record.name,
    ...(record.address ? { target: `ssh://root@${record.address}` } : {}),
    ...(record.pid ? { nsenter: `nsenter://${record.pid}` } : {}),
    ...(record.setDir ? sshFiles(record.setDir) : {}),
  }));
}

/** The ssh arguments that run `command` (a shell when empty) on a kept machine as root, with its set's key and known_hosts. */
export async function machineSshArguments(name: string, command: readonly string[]): Promise<string[]> {
  const { keptMachines } = await machines();
  const record = keptMachines().find((r) => r.hostname === name || r.name === name);
  if (!record) throw new UsageError(`no machine ${name} is up (sous machine list)`);
  if (!record.address || !record.setDir) throw new UsageError(`${name} has no SSH address; reach it with nsenter -t ${record.pid} -a`);
  const files = sshFiles(record.setDir);
  if (!existsSync(files.key)) throw new UsageError(`${name}'s key ${files.key} is gone; take the machine down and up again`);
  return ["-i", files.key, "-o", `UserKnownHostsFile=${files.knownHosts}`, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", ...(command.length ? [] : ["-t"]), `root@${record.address}`, ...command];
}

/** Stops kept machines (all when `names` is empty) and removes everything they used; returns how many stopped. */
export async function stopMachines(names: readonly string[]): Promise<number> {
  const { keptMachines, stopKeptMachines } = await machines();
  if (names.length) {
    const known = new Set(keptMachines().flatMap((r) => [r.hostname, r.name]));
    const unknown = names.filter((n) => !known.has(n));
    if (unknown.length) throw new UsageError(`no machine ${unknown.join(", ")} is up (sous machine list)`);
  }
  return stopKeptMachines(names.length ? names : undefined);
}
