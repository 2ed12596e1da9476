// `sous ssh QUERY COMMAND` (knife ssh): the nodes a search returns, each reached at the address
// an attribute holds, the command run on them through the SSH fan-out `sous exec` uses.
import type { SousClient } from "../client/api.js";
import { type ExecResult, execOnNodes, findNodes, type HostOutcome } from "../run/fleet.js";
import { positiveNumber, sshOptions, type SshCliOptions } from "./ssh-options.js";

/** Options of `sous ssh`, as commander parses them. */
export interface SshQueryOptions extends SshCliOptions {
  attribute?: string;
  sshUser: string;
  sshPort: string;
  timeout?: string;
  group?: boolean;
  exitOnError?: boolean;
}

function lines(text: string | undefined): string[] {
  return (text ?? "").replace(/\n$/, "").split("\n").filter((line) => line !== "");
}

/** One node's result in a few words: ok, exit code N, killed, timed out, or why it failed. */
function statusOf(outcome: HostOutcome<ExecResult> | undefined): string {
  if (!outcome) return "skipped (--exit-on-error)";
  if (!outcome.ok) return `FAILED: ${outcome.error}`;
  const result = outcome.value!;
  if (result.timedOut) return "timed out";
  if (result.signal) return `killed by ${result.signal}`;
  return result.exitCode === 0 ? "exit 0" : `exit ${result.exitCode}`;
}

/**
 * Runs the command on every node the query returns; writes each node's output as it finishes
 * (every line prefixed with the node's name, or grouped under it with --group) and a summary of
 * exit codes. Resolves with a one-line failure summary when any node failed, undefined when all
 * exited 0.
 */
export async function sshCommand(client: SousClient, query: string, shell: string, options: SshQueryOptions, out: (text: string) => void): Promise<string | undefined> {
  const port = Number(options.sshPort);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--ssh-port ${options.sshPort}: expected a port number`);
  const concurrency = positiveNumber("--concurrency", options.concurrency);
  const timeout = positiveNumber("--timeout", options.timeout);
  const nodes = await findNodes(client, { query, ...(options.attribute !== undefined ? { attribute: options.attribute } : {}), user: options.sshUser, port });
  if (nodes.length === 0) return `no nodes match ${query}`;
  const width = Math.max(...nodes.map((node) => node.name.length));
  const results = new Map<string, HostOutcome<ExecResult> | undefined>();
  let failedBefore = false;
  const failed = (outcome: HostOutcome<ExecResult> | undefined): boolean => !outcome || !outcome.ok || outcome.value?.exitCode !== 0;

  const show = (name: string, outcome: HostOutcome<ExecResult> | undefined, reason?: string): void => {
    const status = reason ?? statusOf(outcome);
    if (options.json) {
      const value = outcome?.value;
      const address = nodes.find((node) => node.name === name)?.address;
      out(`${JSON.stringify({ type: "node:exec", node: name, ...(address ? { address } : {}), ok: !reason && !failed(outcome), ...(value ? { exitCode: value.exitCode, signal: value.signal, timedOut: value.timedOut, stdout: value.stdout, stderr: value.stderr } : { error: reason ?? outcome?.error ?? "skipped" }), ...(outcome ? { durationMs: Math.round(outcome.durationMs) } : {}) })}\n`);
      return;
    }
    const stdout = lines(outcome?.value?.stdout);
    const stderr = lines(outcome?.value?.stderr);
    if (options.group) {
      out(`=== ${name} (${status})\n`);
      for (const line of stdout) out(`${line}\n`);
      for (const line of stderr) out(`! ${line}\n`);
      return;
    }
    const prefix = name.padEnd(width);
    for (const line of stdout) out(`${prefix} | ${line}\n`);
    for (const line of stderr) out(`${prefix} ! ${line}\n`);
    if (reason || failed(outcome)) out(`${prefix} | ${status}\n`);
  };

  for (const node of nodes) {
    if (node.target) continue;
    const reason = `no address: the node has no ${options.attribute ?? "ipaddress or fqdn"} attribute`;
    results.set(node.name, { host: node.name, ok: false, error: reason, durationMs: 0 });
    show(node.name, results.get(node.name), `FAILED: ${reason}`);
    failedBefore = true;
  }
  await execOnNodes(nodes, shell, { ssh: sshOptions(options), failed, ...(concurrency ? { concurrency } : {}), ...(timeout ? { timeoutSeconds: timeout } : {}), ...(options.exitOnError ? { exitOnError: true } : {}), failedBefore }, (node, outcome) => {
    results.set(node.name, outcome);
    show(node.name, outcome);
  });

  // Exit codes summarized: how many nodes ended which way, naming the nodes that did not exit 0.
  const groups = new Map<string, string[]>();
  for (const node of nodes) {
    const status = statusOf(results.get(node.name)).replace(/^FAILED: .*/, "failed");
    groups.set(status, [...(groups.get(status) ?? []), node.name]);
  }
  const bad = nodes.filter((node) => failed(results.get(node.name)));
  const summary = [...groups].map(([status, names]) => `${names.length} ${status}${status === "exit 0" ? "" : ` (${names.join(", ")})`}`).join(", ");
  if (!options.json) out(`${nodes.length} node${nodes.length === 1 ? "" : "s"}: ${summary}\n`);
  return bad.length > 0 ? `${bad.length} of ${nodes.length} nodes failed: ${bad.map((node) => `${node.name} (${statusOf(results.get(node.name))})`).join(", ")}` : undefined;
}
