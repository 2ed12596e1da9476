/** `sous exec COMMAND ssh://...`: one shell command on many targets at once, each host's output shown. */
import { sousHome } from "../client/config.js";
import { type ExecResult, execOnTargets, type HostOutcome, type HostPhase } from "../run/fleet.js";
import { persistSeconds, positiveNumber, progressFor, type SshCliOptions, sshOptions, type SshOutput, targetsOf } from "./ssh-options.js";

/** Options of `sous exec`. */
export interface ExecCliOptions extends SshCliOptions {
  timeout?: string;
  /** Seconds to keep connections open for the next commands; "0" connects afresh every time. */
  persist?: string;
}

/** Runs one shell command on every target and shows each host's output; exit code 1 if any failed. */
export async function execCommand(command: string, targetArgs: string[], options: ExecCliOptions, output: SshOutput): Promise<number> {
  const targets = targetsOf(targetArgs, options);
  const timeout = positiveNumber("--timeout", options.timeout);
  const concurrency = positiveNumber("--concurrency", options.concurrency);
  const keep = persistSeconds(options.persist);
  const ssh = sshOptions(options);
  const progress = await progressFor(output, "Running on", targets.length, options.json === true);
  const onPhase = (host: string, phase: HostPhase, outcome?: HostOutcome<ExecResult>): void =>
    progress.phase(host, phase, outcome ? (outcome.ok ? `exit code ${outcome.value?.exitCode ?? outcome.value?.signal}` : `FAILED: ${outcome.error}`) : undefined);
  const outcomes = await execOnTargets(targets, command, { ssh, persistSeconds: keep, home: sousHome(), ...(timeout ? { timeoutSeconds: timeout } : {}), ...(concurrency ? { concurrency } : {}) }, onPhase);
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
