/**
 * The SSH fan-out services the CLI's fleet commands call: which targets the arguments and an
 * inventory name, one shell command on all of them (through the connections a previous command
 * left open, when asked), and one command on the nodes a server search returns. Callers render
 * the outcomes; nothing here prints.
 */
import type { SousClient } from "../client/api.js";
import { UsageError } from "../core/errors.js";
import type { ExecResult } from "../host/host.js";
import type { SshOptions, SshTarget } from "../host/ssh.js";
import { splitDottedPath } from "../protocol/partial-search.js";
import { collectTargets, fanOut, type HostOutcome, type HostPhase, targetName } from "../push/fleet.js";

export type { ExecResult, HostOutcome, HostPhase, SshOptions, SshTarget };

/** Called as each host moves on: waiting, connecting, working, then done or failed with its outcome. */
export type PhaseListener<T> = (host: string, phase: HostPhase, outcome?: HostOutcome<T>) => void;

/** The targets of `ssh://user@host[:port]` arguments and an inventory file; a usage error when there are none. */
export function sshTargets(args: readonly string[], inventoryFile: string | undefined): SshTarget[] {
  const targets = collectTargets(args, inventoryFile);
  if (targets.length === 0) throw new UsageError("no targets: pass ssh://user@host[:port] arguments or --inventory FILE");
  return targets;
}

/** How a command runs on many hosts. */
export interface ExecOptions {
  ssh: SshOptions;
  concurrency?: number;
  /** Kill the command on a host after this many seconds. */
  timeoutSeconds?: number;
  /** Keep the connections open this long for the next commands (through the keeper process); 0 connects afresh. */
  persistSeconds: number;
  /** Where the keeper's socket lives (~/.sous). */
  home: string;
}

/** Runs one shell command on every target; each host's outcome holds its exit code and output. */
export async function execOnTargets(targets: SshTarget[], command: string, options: ExecOptions, onPhase: PhaseListener<ExecResult>): Promise<HostOutcome<ExecResult>[]> {
  const { ssh, concurrency, timeoutSeconds, persistSeconds } = options;
  if (persistSeconds > 0) {
    const { execThroughPersist, persistSocket } = await import("../push/persist.js");
    const outcomes = await execThroughPersist(
      persistSocket(options.home),
      { type: "exec", targets, ssh, command, ...(timeoutSeconds ? { timeoutMs: timeoutSeconds * 1000 } : {}), ...(concurrency ? { concurrency } : {}), persistSeconds },
      onPhase,
    );
    if (outcomes) return outcomes;
  }
  return fanOut(targets, { ssh, ...(concurrency ? { concurrency } : {}) }, (target) => target.host.exec({ shell: command }, timeoutSeconds ? { timeoutMs: timeoutSeconds * 1000 } : {}), onPhase);
}

/** Runs the process that keeps `sous exec`'s connections open for `seconds` after the last command. */
export async function keepConnections(socket: string, seconds: number): Promise<void> {
  await (await import("../push/persist.js")).runPersistProcess(socket, seconds);
}

/** A node a search found, with the address it is reached at (or why it has none). */
export interface FoundNode {
  name: string;
  address?: string;
  target?: SshTarget;
}

/** Which nodes to reach and how: the search, the address attribute, the SSH user and port. */
export interface NodeQuery {
  query: string;
  /** The attribute holding each node's address (dotted path); ipaddress, then fqdn, without it. */
  attribute?: string;
  user: string;
  port: number;
}

/** The nodes of a query with their addresses (sorted by name): the `attribute`, or ipaddress and then fqdn. */
export async function findNodes(client: SousClient, nodes: NodeQuery): Promise<FoundNode[]> {
  const { query, attribute, user, port } = nodes;
  const keys: Record<string, string[]> = attribute ? { address: splitDottedPath(attribute) } : { ipaddress: ["ipaddress"], fqdn: ["fqdn"] };
  const rows = await client.searchAll<{ name: string; data: Record<string, unknown> }>("node", query, { partial: keys });
  return rows
    .map((row) => {
      const candidates = attribute ? [row.data.address] : [row.data.ipaddress, row.data.fqdn];
      const address = candidates.find((value): value is string => typeof value === "string" && value !== "");
      return { name: row.name, ...(address ? { address, target: { user, host: address, port } } : {}) };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** How a command runs on the nodes of a search. */
export interface NodeExecOptions {
  ssh: SshOptions;
  concurrency?: number;
  timeoutSeconds?: number;
  /** Start no node after one failed (those already running finish). */
  exitOnError?: boolean;
  /** Whether an outcome counts as a failure for `exitOnError`. */
  failed(outcome: HostOutcome<ExecResult> | undefined): boolean;
  /** A node already failed before the fan-out (one without an address): with exitOnError, none starts. */
  failedBefore?: boolean;
}

/**
 * Runs `shell` on every node that has an address; `onFinished` hears of each node as it ends,
 * with undefined for a node skipped after a failure. Nodes without an address are the caller's.
 */
export async function execOnNodes(nodes: readonly FoundNode[], shell: string, options: NodeExecOptions, onFinished: (node: FoundNode, outcome: HostOutcome<ExecResult> | undefined) => void): Promise<void> {
  let stop = options.exitOnError === true && options.failedBefore === true;
  const byTarget = new Map(nodes.filter((node) => node.target).map((node) => [targetName(node.target!), node]));
  const { timeoutSeconds, concurrency } = options;
  await fanOut(
    nodes.filter((node) => node.target).map((node) => node.target!),
    { ssh: options.ssh, ...(concurrency ? { concurrency } : {}) },
    async (target) => {
      // With exitOnError no node starts after one failed (those already running finish).
      if (stop) throw Object.assign(new Error("skipped"), { code: "skipped" });
      return target.host.exec({ shell }, timeoutSeconds ? { timeoutMs: timeoutSeconds * 1000 } : {});
    },
    (host, phase, outcome) => {
      if (phase !== "done" && phase !== "failed") return;
      const skipped = outcome?.code === "skipped";
      onFinished(byTarget.get(host)!, skipped ? undefined : outcome);
      if (!skipped && options.failed(outcome) && options.exitOnError) stop = true;
    },
  );
}
