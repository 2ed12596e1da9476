/**
 * Targets on this machine other than itself: a container reached through its namespaces
 * (`nsenter://PID`, `machine://NAME` for a machine systemd-machined knows) and a system root
 * directory (`sous converge --root DIR`). They converge with the same recipes as this machine
 * or an SSH target; only the Host differs.
 */
import { execFile } from "node:child_process";
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { SousError } from "../core/errors.js";
import { ChrootHost } from "../host/chroot.js";
import type { Host } from "../host/host.js";
import { NsenterHost } from "../host/nsenter.js";

const run = promisify(execFile);

/** The PID of a container's init from `machinectl show -p Leader` (the machine must be registered with systemd-machined). */
async function machineLeader(name: string): Promise<number> {
  let stdout: string;
  try {
    ({ stdout } = await run("machinectl", ["show", "--property=Leader", "--value", "--", name], { encoding: "utf8" }));
  } catch (error) {
    const { code, stderr } = error as { code?: unknown; stderr?: string };
    const why = code === "ENOENT" ? "machinectl is not installed (Debian package systemd-container)" : (stderr ?? "").trim() || String(error);
    throw new SousError("bad-target", `machine://${name}: cannot find the machine: ${why}; for a container systemd-machined does not know, use nsenter://PID of its init`);
  }
  const pid = Number(stdout.trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new SousError("bad-target", `machine://${name}: machinectl gave no leader process (${JSON.stringify(stdout.trim())})`);
  return pid;
}

/** Opens `nsenter://PID` or `machine://NAME` as a Host; throws a usage-grade error naming the target when it cannot. */
export async function openContainerTarget(text: string): Promise<Host> {
  const match = /^(nsenter|machine):\/\/([^/\s]+)\/?$/.exec(text.trim());
  if (!match) throw new SousError("bad-target", `not a container target: ${JSON.stringify(text)} (expected nsenter://PID or machine://NAME)`);
  const [, scheme, rest] = match;
  if (scheme === "machine") return new NsenterHost(await machineLeader(rest!), `machine://${rest}`);
  const pid = Number(rest);
  if (!/^\d+$/.test(rest!) || pid <= 0) throw new SousError("bad-target", `nsenter://${rest}: expected the process id of the container's init, e.g. nsenter://4242`);
  try {
    statSync(`/proc/${pid}/root`);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new SousError("bad-target", code === "EACCES" ? `nsenter://${pid}: entering another process's namespaces needs root` : `nsenter://${pid}: no process ${pid} on this machine`);
  }
  return new NsenterHost(pid, `nsenter://${pid}`);
}

/** Opens a system root directory as a Host (`--root DIR`). */
export function openRoot(dir: string): Host {
  const root = resolve(dir);
  let isDirectory = false;
  try {
    isDirectory = statSync(root).isDirectory();
  } catch {
    // Reported below.
  }
  if (!isDirectory) throw new SousError("bad-target", `--root ${dir}: not a directory`);
  return new ChrootHost(root);
}
