/** `sous converge ssh://user@host ...` (agentless push) and `sous exec COMMAND ssh://...` (ad-hoc commands on many targets). */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { findRepositoryRoot } from "../cookbook/repository.js";
import type { AttributeTree } from "../dsl.js";
import type { SshOptions } from "../host/ssh.js";
import type { HostRun } from "../push/converge.js";
import { collectTargets, fanOut, type HostOutcome } from "../push/fleet.js";
import { createProgress, type Progress } from "../push/progress.js";
import { humanReporter } from "../report/human.js";
import type { ConvergeCliOptions, Output } from "./converge.js";
import { UsageError } from "./converge.js";

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

/** Options of a push run, beyond those of a local converge. */
export interface PushCliOptions extends ConvergeCliOptions, SshCliOptions {}

function positiveNumber(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new UsageError(`${name} must be a positive number, got ${JSON.stringify(value)}`);
  return number;
}

function sshOptions(options: SshCliOptions): SshOptions {
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

function targetsOf(args: string[], options: SshCliOptions) {
  const targets = collectTargets(args, options.inventory);
  if (targets.length === 0) throw new UsageError("no targets: pass ssh://user@host[:port] arguments or --inventory FILE");
  return targets;
}

function progressFor(output: Output, verb: string, total: number, json: boolean): Progress {
  // JSON goes to stdout for scripts; progress then goes to stderr, plain.
  if (json) return createProgress({ write: output.stderr }, verb, total);
  // The live view only when the output really is this process's terminal (not a capture in tests).
  return createProgress({ write: output.stdout, ...(output.color && process.stdout.isTTY ? { terminal: process.stdout } : {}) }, verb, total);
}

function summary(output: Output, outcomes: HostOutcome<unknown>[], describe: (outcome: HostOutcome<never>) => string): void {
  const width = Math.max(...outcomes.map((o) => o.host.length));
  output.stdout(`\nResults (${outcomes.length} host${outcomes.length === 1 ? "" : "s"}):\n`);
  for (const outcome of outcomes) output.stdout(`  ${outcome.host.padEnd(width)}  ${describe(outcome as HostOutcome<never>)}\n`);
  const failed = outcomes.filter((o) => !o.ok).length;
  output.stdout(`${outcomes.length - failed} ok, ${failed} failed\n`);
}

/** Converges remote targets over SSH; returns the process exit code (1 if any host failed). */
export async function pushCommand(targetArgs: string[], options: PushCliOptions, output: Output): Promise<number> {
  const root = options.repo ? resolve(options.repo) : findRepositoryRoot(process.cwd());
  if (!root) throw new UsageError("no repository here: run this inside a repository made by `sous init`, or pass --repo DIR");
  if (options.nodeName) throw new UsageError("--node-name names one node; in push mode each target's node name comes from its facts (FQDN)");
  const targets = targetsOf(targetArgs, options);
  let normal: AttributeTree | undefined;
  let runList: string | string[] | undefined = options.runList;
  if (options.jsonAttributes) {
    try {
      const { run_list: list, ...rest } = JSON.parse(readFileSync(options.jsonAttributes, "utf8")) as Record<string, unknown>;
      normal = rest as AttributeTree;
      if (!runList && Array.isArray(list)) runList = list as string[];
    } catch (error) {
      throw new UsageError(`--json-attributes ${options.jsonAttributes}: ${(error as Error).message}`);
    }
  }
  // Loaded here, not at the top: `sous exec` needs none of the compiler and engine behind it.
  const { describeOutcome, pushConverge } = await import("../push/converge.js");
  const dryRun = options.dryRun === true;
  const progress = progressFor(output, dryRun ? "Dry run on" : "Converging", targets.length, options.json === true);
  const color = output.color && options.color !== false && !options.json;
  // Per host, the human reporter renders changes and failures (not every up-to-date resource).
  const reporters = new Map<string, ReturnType<typeof humanReporter>>();
  const outcomes = await pushConverge({
    root,
    targets,
    runList,
    environment: options.environment,
    normal,
    dryRun,
    ssh: sshOptions(options),
    concurrency: positiveNumber("--concurrency", options.concurrency),
    ...(options.backupDir ? { backupDir: options.backupDir } : {}),
    events(host, event) {
      if (options.json) return output.stdout(`${JSON.stringify({ host, ...event })}\n`);
      if (event.type === "resource:up-to-date" || event.type === "resource:updated" || event.type === "resource:failed") progress.activity(host, event.resource.id);
      if (event.type === "run:start" || event.type === "run:finish") return;
      let reporter = reporters.get(host);
      if (!reporter) {
        reporter = humanReporter({ level: "warn", why: options.why === true, diff: options.diff === true, color, write: (text) => progress.line(text.replace(/\n$/, "").split("\n").map((l) => `${host} |${l}`).join("\n")) });
        reporters.set(host, reporter);
      }
      reporter(event);
    },
    onPhase(host, phase, outcome) {
      progress.phase(host, phase, outcome ? describeOutcome(outcome, dryRun) : undefined);
    },
  });
  progress.stop();
  if (options.json) {
    for (const o of outcomes) {
      const counts = o.value?.result.counts;
      output.stdout(`${JSON.stringify({ type: "host:finish", host: o.host, status: o.ok ? "converged" : "failed", ...(counts ? { counts } : {}), ...(o.error ? { error: o.error, code: o.code } : {}), durationMs: Math.round(o.durationMs) })}\n`);
    }
  } else summary(output, outcomes, (o) => describeOutcome(o as HostOutcome<HostRun>, dryRun));
  return outcomes.every((o) => o.ok) ? 0 : 1;
}

/** Runs one shell command on every target and shows each host's output; exit code 1 if any failed. */
export async function execCommand(command: string, targetArgs: string[], options: SshCliOptions & { timeout?: string }, output: Output): Promise<number> {
  const targets = targetsOf(targetArgs, options);
  const timeout = positiveNumber("--timeout", options.timeout);
  const progress = progressFor(output, "Running on", targets.length, options.json === true);
  const outcomes = await fanOut(
    targets,
    { ssh: sshOptions(options), concurrency: positiveNumber("--concurrency", options.concurrency) },
    (host) => host.exec({ shell: command }, timeout ? { timeoutMs: timeout * 1000 } : {}),
    (host, phase, outcome) => progress.phase(host, phase, outcome ? (outcome.ok ? `exit code ${outcome.value?.exitCode ?? outcome.value?.signal}` : `FAILED: ${outcome.error}`) : undefined),
  );
  progress.stop();
  const failed = (o: (typeof outcomes)[number]) => !o.ok || o.value?.exitCode !== 0;
  for (const o of outcomes) {
    if (options.json) {
      output.stdout(`${JSON.stringify({ type: "host:exec", host: o.host, ok: !failed(o), ...(o.value ? { exitCode: o.value.exitCode, signal: o.value.signal, timedOut: o.value.timedOut, stdout: o.value.stdout, stderr: o.value.stderr } : { error: o.error, code: o.code }), durationMs: Math.round(o.durationMs) })}\n`);
      continue;
    }
    const r = o.value;
    const status = !o.ok ? `FAILED: ${o.error}` : r!.timedOut ? "timed out" : r!.exitCode === 0 ? "ok" : r!.signal ? `killed by ${r!.signal}` : `exit code ${r!.exitCode}`;
    output.stdout(`${o.host} | ${status}\n`);
    for (const line of (r?.stdout ?? "").replace(/\n$/, "").split("\n")) if (line) output.stdout(`${o.host} | ${line}\n`);
    for (const line of (r?.stderr ?? "").replace(/\n$/, "").split("\n")) if (line) output.stdout(`${o.host} ! ${line}\n`);
  }
  if (!options.json) output.stdout(`${outcomes.length - outcomes.filter(failed).length} ok, ${outcomes.filter(failed).length} failed\n`);
  return outcomes.some(failed) ? 1 : 0;
}
