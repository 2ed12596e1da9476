// What every command that reaches SSH targets shares (`sous converge ssh://...`, `sous exec`):
// kept apart from the converge code so that `sous exec` starts without loading it.
import { resolve } from "node:path";
import { UsageError } from "../core/errors.js";
import { type SshOptions, sshTargets } from "../run/fleet.js";
import { createProgress, type Progress } from "./progress.js";

/** Where a command writes (the subset of the CLI's output the SSH commands use). */
export interface SshOutput {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  color?: boolean;
}

/** SSH options shared by every command that reaches targets. */
export interface SshCliOptions {
  inventory?: string;
  concurrency?: string;
  identity?: string;
  knownHosts?: string;
  acceptNewHostKeys?: boolean;
  sudo?: boolean;
  connectTimeout?: string;
  commandTimeout?: string;
  json?: boolean;
}

/** A flag that must be a positive number, or undefined when absent. */
export function positiveNumber(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new UsageError(`${name} must be a positive number, got ${JSON.stringify(value)}`);
  return number;
}

/** How long connections stay open after a command (`sous exec`, `sous deploy`): --persist, then SOUS_SSH_PERSIST, then 60 s (as Ansible's ControlPersist); 0 connects afresh every time. */
export function persistSeconds(flag: string | undefined): number {
  const text = flag ?? process.env.SOUS_SSH_PERSIST ?? "60";
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds < 0) throw new UsageError(`--persist must be a number of seconds (0 to connect afresh every time), got ${JSON.stringify(text)}`);
  return seconds;
}

/** SSH connection settings from the command-line flags. */
export function sshOptions(options: SshCliOptions): SshOptions {
  const seconds = positiveNumber("--connect-timeout", options.connectTimeout);
  const commandSeconds = positiveNumber("--command-timeout", options.commandTimeout);
  return {
    ...(options.identity ? { identityFile: resolve(options.identity) } : {}),
    ...(options.knownHosts ? { knownHostsFile: resolve(options.knownHosts) } : {}),
    acceptNewHostKeys: options.acceptNewHostKeys === true,
    sudo: options.sudo === true,
    ...(seconds ? { connectTimeoutMs: seconds * 1000 } : {}),
    ...(commandSeconds ? { commandTimeoutMs: commandSeconds * 1000 } : {}),
  };
}

/** The targets of the arguments and --inventory; at least one. */
export function targetsOf(args: string[], options: SshCliOptions) {
  return sshTargets(args, options.inventory);
}

/** Per-host progress: live in a terminal, plain lines otherwise (on stderr with --json). */
export async function progressFor(output: SshOutput, verb: string, total: number, json: boolean): Promise<Progress> {
  // JSON goes to stdout for scripts; progress then goes to stderr, plain.
  if (json) return await createProgress({ write: output.stderr }, verb, total);
  // The live view only when the output really is this process's terminal (not a capture in tests).
  return await createProgress({ write: output.stdout, ...(output.color && process.stdout.isTTY ? { terminal: process.stdout } : {}) }, verb, total);
}

