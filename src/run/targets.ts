/**
 * The target registry: every way of naming a machine to converge (`ssh://user@host[:port]`,
 * `nsenter://PID`, `machine://NAME`, `--root DIR`, this machine) becomes a {@link Target}, a
 * Host plus what the run layer needs to know about it and a `close()`. Local mode, push, the
 * agent and deploys all open their hosts here, so a new kind of target (`ec2://`) is one
 * registration.
 */
import { execFile } from "node:child_process";
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { SousError } from "../core/errors.js";
import type { Host } from "../host/host.js";
import type { SshOptions, SshTarget } from "../host/ssh.js";

/** The kinds of target the built-in registry knows. */
export type TargetKind = "local" | "root" | "nsenter" | "machine" | "ssh" | (string & {});

/** A machine opened for a run. */
export interface Target {
  /** How messages, events and report file names name it: `local`, `root@web1:2222`, `nsenter://4242`. */
  readonly name: string;
  readonly kind: TargetKind;
  readonly host: Host;
  /** Whether the target is this machine itself, where paths relative to the workstation mean something. */
  readonly isThisMachine: boolean;
  /** Releases the connection (idempotent). */
  close(): Promise<void>;
}

/** What openers may need. */
export interface TargetOptions {
  /** Connection settings for `ssh://` targets. */
  ssh?: SshOptions;
}

/** Opens the rest of a target specification (after `scheme://` or `scheme:`) as a Target. */
export type TargetOpener = (rest: string, spec: string, options: TargetOptions) => Promise<Target>;

/** Schemes and their openers; a scheme registered twice is refused. */
export class TargetRegistry {
  private readonly openers = new Map<string, TargetOpener>();

  /** Adds a scheme (`ssh`, `nsenter`...). */
  register(scheme: string, opener: TargetOpener): this {
    if (this.openers.has(scheme)) throw new SousError("duplicate-target-kind", `target scheme ${JSON.stringify(scheme)} is registered twice`);
    this.openers.set(scheme, opener);
    return this;
  }

  /** The schemes known, for messages. */
  schemes(): string[] {
    return [...this.openers.keys()];
  }

  /**
   * Opens a target: `local` (this machine), `root:DIR`, `nsenter://PID`, `machine://NAME`,
   * `ssh://user@host[:port]`. Throws a `bad-target` error naming the specification when it cannot.
   */
  async open(spec: string, options: TargetOptions = {}): Promise<Target> {
    const text = spec.trim();
    const match = /^([a-z][a-z0-9+.-]*):(?:\/\/)?(.*)$/i.exec(text);
    const scheme = text === "local" ? "local" : match?.[1]?.toLowerCase();
    const opener = scheme === undefined ? undefined : this.openers.get(scheme);
    if (!opener) throw new SousError("bad-target", `not a target: ${JSON.stringify(spec)} (expected one of ${this.schemes().map((s) => (s === "local" ? "local" : s === "root" ? "root:DIR" : `${s}://...`)).join(", ")})`);
    return opener(text === "local" ? "" : match![2]!, text, options);
  }
}

/** A Target around a Host that needs no closing, or one whose close is given. */
export function targetOf(kind: TargetKind, name: string, host: Host, isThisMachine: boolean, close: () => void | Promise<void> = () => {}): Target {
  let closed = false;
  return {
    kind,
    name,
    host,
    isThisMachine,
    async close() {
      if (closed) return;
      closed = true;
      await close();
    },
  };
}

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

async function openNsenter(rest: string): Promise<Target> {
  const name = rest.replace(/\/$/, "");
  const pid = Number(name);
  if (!/^\d+$/.test(name) || pid <= 0) throw new SousError("bad-target", `nsenter://${name}: expected the process id of the container's init, e.g. nsenter://4242`);
  try {
    statSync(`/proc/${pid}/root`);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new SousError("bad-target", code === "EACCES" ? `nsenter://${pid}: entering another process's namespaces needs root` : `nsenter://${pid}: no process ${pid} on this machine`);
  }
  const { NsenterHost } = await import("../host/nsenter.js");
  return targetOf("nsenter", `nsenter://${pid}`, new NsenterHost(pid, `nsenter://${pid}`), false);
}

async function openMachine(rest: string): Promise<Target> {
  const name = rest.replace(/\/$/, "");
  if (!/^[^/\s]+$/.test(name)) throw new SousError("bad-target", `machine://${name}: expected a machine name, e.g. machine://web1`);
  const pid = await machineLeader(name);
  const { NsenterHost } = await import("../host/nsenter.js");
  return targetOf("machine", `machine://${name}`, new NsenterHost(pid, `machine://${name}`), false);
}

async function openRootDirectory(rest: string): Promise<Target> {
  const root = resolve(rest);
  let isDirectory = false;
  try {
    isDirectory = statSync(root).isDirectory();
  } catch {
    // Reported below.
  }
  if (!isDirectory) throw new SousError("bad-target", `--root ${rest}: not a directory`);
  const { ChrootHost } = await import("../host/chroot.js");
  const host = new ChrootHost(root);
  return targetOf("root", host.name, host, false);
}

/** Opens an SSH target (one connection for all of the run's work). */
export async function openSshTarget(target: SshTarget, options: TargetOptions = {}): Promise<Target> {
  // Loaded only here: a local converge needs no SSH.
  const { SshHost } = await import("../host/ssh.js");
  const host = await SshHost.connect(target, options.ssh ?? {});
  return targetOf("ssh", host.name, host, false, () => host.close());
}

/** The registry of the built-in targets. */
export function builtinTargets(): TargetRegistry {
  return new TargetRegistry()
    .register("local", async () => {
      const { LocalHost } = await import("../host/local.js");
      return targetOf("local", "local", new LocalHost(), true);
    })
    .register("root", (rest) => openRootDirectory(rest))
    .register("nsenter", (rest) => openNsenter(rest))
    .register("machine", (rest) => openMachine(rest))
    .register("ssh", async (_rest, spec, options) => {
      const { parseTarget } = await import("../host/ssh.js");
      return openSshTarget(parseTarget(spec), options);
    });
}

/** The specification of `--root DIR`, for {@link TargetRegistry.open}. */
export function rootSpec(dir: string): string {
  return `root:${dir}`;
}
