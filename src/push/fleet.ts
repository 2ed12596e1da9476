/**
 * Work on many SSH targets at once: a bounded number of hosts in flight, a smaller bound on
 * connections being opened at the same moment (an SSH handshake costs CPU on both sides and a
 * burst of them trips sshd's MaxStartups), one connection per host for all of its work, and a
 * failing host never stopping the others.
 */
import { readFileSync } from "node:fs";
import PQueue from "p-queue";
import { errorMessage, SousError } from "../core/errors.js";
import { parseTarget, type SshOptions, type SshTarget } from "../host/ssh.js";
import { openSshTarget, type Target } from "../run/targets.js";

/** Hosts in flight at once unless asked otherwise: enough for hundreds of hosts, few enough for one workstation. */
export const DEFAULT_CONCURRENCY = 50;
/**
 * Connections being set up at the same moment. Each target's sshd limits its own handshakes
 * (MaxStartups); this cap spares the workstation's CPU and network. 32: on 50 hosts here, 10 at
 * a time cost 0.9 s of handshakes, 32 or more 0.63 s.
 */
export const DEFAULT_CONNECT_CONCURRENCY = 32;

/** How a fan-out runs. */
export interface FanOutOptions {
  ssh: SshOptions;
  concurrency?: number;
  connectConcurrency?: number;
}

/** One host's phase, for progress displays. */
export type HostPhase = "waiting" | "connecting" | "working" | "done" | "failed";

/** What happened on one host. */
export interface HostOutcome<T> {
  /** `user@host[:port]`. */
  host: string;
  ok: boolean;
  /** The work's value when it finished. */
  value?: T;
  /** Why the host failed (connection, or the work threw). */
  error?: string;
  /** The error's code, e.g. ssh-refused. */
  code?: string;
  durationMs: number;
}

/** The display name of a target, as SshHost names it. */
export function targetName(target: SshTarget): string {
  return `${target.user}@${target.host}${target.port === 22 ? "" : `:${target.port}`}`;
}

/** Targets from command-line arguments and an inventory file (one per line, # comments), duplicates removed. */
export function collectTargets(args: readonly string[], inventoryFile?: string): SshTarget[] {
  const lines: string[] = [...args];
  if (inventoryFile) {
    let text: string;
    try {
      text = readFileSync(inventoryFile, "utf8");
    } catch (error) {
      throw new SousError("bad-inventory", `cannot read inventory ${inventoryFile}: ${errorMessage(error)}`);
    }
    for (const line of text.split("\n")) {
      const clean = line.replace(/#.*/, "").trim();
      if (clean) lines.push(clean);
    }
  }
  const seen = new Map<string, SshTarget>();
  for (const line of lines) {
    const target = parseTarget(line);
    seen.set(targetName(target), target);
  }
  return [...seen.values()];
}

/**
 * Connects to every target (through the target registry's SSH opener) and runs `work` on each, `concurrency` hosts at a time; resolves
 * with one outcome per target, in the targets' order. `onPhase` follows each host's progress.
 */
export async function fanOut<T>(
  targets: readonly SshTarget[],
  options: FanOutOptions,
  work: (target: Target) => Promise<T>,
  onPhase: (host: string, phase: HostPhase, outcome?: HostOutcome<T>) => void = () => {},
): Promise<HostOutcome<T>[]> {
  const hosts = new PQueue({ concurrency: Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY) });
  const connects = new PQueue({ concurrency: Math.max(1, options.connectConcurrency ?? DEFAULT_CONNECT_CONCURRENCY) });
  for (const target of targets) onPhase(targetName(target), "waiting");
  return Promise.all(
    targets.map((target) =>
      hosts.add(async (): Promise<HostOutcome<T>> => {
        const name = targetName(target);
        const started = performance.now();
        let opened: Target | undefined;
        let outcome: HostOutcome<T>;
        try {
          onPhase(name, "connecting");
          opened = await connects.add(() => openSshTarget(target, { ssh: options.ssh }));
          onPhase(name, "working");
          const value = await work(opened);
          outcome = { host: name, ok: true, value, durationMs: performance.now() - started };
        } catch (error) {
          const code = (error as { code?: unknown }).code;
          outcome = { host: name, ok: false, error: errorMessage(error), ...(typeof code === "string" ? { code } : {}), durationMs: performance.now() - started };
        } finally {
          await opened?.close();
        }
        onPhase(name, outcome.ok ? "done" : "failed", outcome);
        return outcome;
      }),
    ),
  );
}
