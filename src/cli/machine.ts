/**
 * `sous machine up|list|ssh|down`: named disposable Debian machines on this machine (the service
 * is src/run/machine.ts); this file renders.
 */
import { spawnSync } from "node:child_process";
import { bootMachines, listMachines, machineNames, machineSshArguments, stopMachines } from "../run/machine.js";
import type { Output } from "./converge.js";

/** `sous machine up [NAME...] [-n COUNT]`: boots machines named NAME (or machine-1...), kept until `down`. */
export async function machineUp(names: readonly string[], options: { count?: string }, output: Output): Promise<number> {
  const hostnames = await machineNames(names, options.count);
  output.stdout(`Booting ${hostnames.join(", ")} (the first time, the Debian base is made with debootstrap: about a minute)...\n`);
  const started = performance.now();
  const set = await bootMachines(hostnames);
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
  const rows = await listMachines();
  if (options.json) output.stdout(`${JSON.stringify(rows, null, 2)}\n`);
  else if (rows.length === 0) output.stdout("No machines are up (sous machine up).\n");
  else for (const row of rows) output.stdout(`${row.name.padEnd(14)} ${(row.target ?? "").padEnd(24)} ${row.nsenter ?? ""}\n`);
  return 0;
}

/** `sous machine ssh NAME [COMMAND...]`: ssh into a kept machine as root. */
export async function machineSsh(name: string, command: readonly string[], output: Output): Promise<number> {
  const result = spawnSync("ssh", await machineSshArguments(name, command), { stdio: "inherit" });
  if (result.error) {
    output.stderr(`sous: ssh: ${result.error.message} (Debian package openssh-client)\n`);
    return 2;
  }
  return result.status ?? 1;
}

/** `sous machine down [NAME...]`: stops kept machines (all by default) and removes everything they used. */
export async function machineDown(names: readonly string[], output: Output): Promise<number> {
  const stopped = await stopMachines(names);
  output.stdout(stopped ? `Stopped ${stopped} machine${stopped === 1 ? "" : "s"}.\n` : "No machines were up.\n");
  return 0;
}
