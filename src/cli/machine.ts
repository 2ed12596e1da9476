/**
 * `sous machine up|list|ssh|down`: named disposable Debian machines on this machine, each
 * with systemd, sshd and an address of its own (loopback range, nothing reaches the real
 * network), kept until `down`: push and bootstrap targets for demos and for trying recipes.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../core/errors.js";
import type { Output } from "./converge.js";

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

async function machines() {
  const module = await import("../machine/machines.js");
  const unavailable = module.machinesUnavailable();
  if (unavailable) throw new UsageError(`${unavailable}; sous machine needs root, systemd-container, debootstrap and openssh-client`);
  return module;
}

/** The SSH options that reach a kept machine's set. */
function sshFiles(setDir: string): { key: string; knownHosts: string; inventory: string } {
  return { key: join(setDir, "ssh", "client_key"), knownHosts: join(setDir, "known_hosts"), inventory: join(setDir, "inventory") };
}

/** `sous machine up [NAME...] [-n COUNT]`: boots machines named NAME (or machine-1...), kept until `down`. */
export async function machineUp(names: readonly string[], options: { count?: string }, output: Output): Promise<number> {
  const m = await machines();
  const count = names.length || Number(options.count ?? 1);
  if (!Number.isInteger(count) || count < 1 || count > 30) throw new UsageError(`a number of machines from 1 to 30, got ${options.count}`);
  const kept = m.keptMachines();
  const taken = new Set(kept.map((r) => r.hostname ?? r.name));
  const hostnames = [...names];
  for (let n = 1; hostnames.length < count; n++) if (!taken.has(`machine-${n}`)) hostnames.push(`machine-${n}`);
  for (const name of hostnames) {
    if (!NAME.test(name)) throw new UsageError(`machine name ${JSON.stringify(name)}: lower case letters, digits and -`);
    if (taken.has(name)) throw new UsageError(`a machine named ${name} is already up (sous machine list; sous machine down ${name})`);
  }
  if (new Set(hostnames).size !== hostnames.length) throw new UsageError("each machine needs its own name");
  output.stdout(`Booting ${hostnames.join(", ")} (the first time, the Debian base is made with debootstrap: about a minute)...\n`);
  const started = performance.now();
  mkdirSync(join(m.CACHE_DIR, "machine-sets"), { recursive: true });
  const dir = mkdtempSync(join(m.CACHE_DIR, "machine-sets", "up-"));
  const set = await m.bootMachineSet(hostnames.length, { keep: true, dir, hostnames });
  output.stdout(`Up in ${((performance.now() - started) / 1000).toFixed(1)} s:\n`);
  for (const [i, machine] of set.machines.entries()) output.stdout(`  ${hostnames[i]!.padEnd(14)} ${machine.target.padEnd(24)} nsenter://${machine.pid}\n`);
  output.stdout(
    [
      "",
      `SSH key ${set.keyFile}, known_hosts ${set.knownHostsFile}, inventory ${set.inventoryFile}`,
      `  sous machine ssh ${hostnames[0]}                 # a shell on it`,
      `  sous converge nsenter://${set.machines[0]!.pid}         # converge it through its namespaces`,
      `  sous converge -k ${set.keyFile} --known-hosts ${set.knownHostsFile} -i ${set.inventoryFile}   # all of them over SSH`,
      `  sous machine down                       # stop them all and remove what they used`,
      "",
    ].join("\n"),
  );
  return 0;
}

/** `sous machine list`: the kept machines with their targets. */
export async function machineList(options: { json?: boolean }, output: Output): Promise<number> {
  const { keptMachines } = await machines();
  const rows = keptMachines().map((record) => ({
    name: record.hostname ?? record.name,
    ...(record.address ? { target: `ssh://root@${record.address}` } : {}),
    ...(record.pid ? { nsenter: `nsenter://${record.pid}` } : {}),
    ...(record.setDir ? sshFiles(record.setDir) : {}),
  }));
  if (options.json) output.stdout(`${JSON.stringify(rows, null, 2)}\n`);
  else if (rows.length === 0) output.stdout("No machines are up (sous machine up).\n");
  else for (const row of rows) output.stdout(`${row.name.padEnd(14)} ${(row.target ?? "").padEnd(24)} ${row.nsenter ?? ""}\n`);
  return 0;
}

/** `sous machine ssh NAME [COMMAND...]`: ssh into a kept machine as root, with its set's key and known_hosts. */
export async function machineSsh(name: string, command: readonly string[], output: Output): Promise<number> {
  const { keptMachines } = await machines();
  const record = keptMachines().find((r) => r.hostname === name || r.name === name);
  if (!record) throw new UsageError(`no machine ${name} is up (sous machine list)`);
  if (!record.address || !record.setDir) throw new UsageError(`${name} has no SSH address; reach it with nsenter -t ${record.pid} -a`);
  const files = sshFiles(record.setDir);
  if (!existsSync(files.key)) throw new UsageError(`${name}'s key ${files.key} is gone; take the machine down and up again`);
  const result = spawnSync("ssh", ["-i", files.key, "-o", `UserKnownHostsFile=${files.knownHosts}`, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", ...(command.length ? [] : ["-t"]), `root@${record.address}`, ...command], { stdio: "inherit" });
  if (result.error) {
    output.stderr(`sous: ssh: ${result.error.message} (Debian package openssh-client)\n`);
    return 2;
  }
  return result.status ?? 1;
}

/** `sous machine down [NAME...]`: stops kept machines (all by default) and removes everything they used. */
export async function machineDown(names: readonly string[], output: Output): Promise<number> {
  const { keptMachines, stopKeptMachines } = await machines();
  if (names.length) {
    const known = new Set(keptMachines().flatMap((r) => [r.hostname, r.name]));
    const unknown = names.filter((n) => !known.has(n));
    if (unknown.length) throw new UsageError(`no machine ${unknown.join(", ")} is up (sous machine list)`);
  }
  const stopped = await stopKeptMachines(names.length ? names : undefined);
  output.stdout(stopped ? `Stopped ${stopped} machine${stopped === 1 ? "" : "s"}.\n` : "No machines were up.\n");
  return 0;
}
