/**
 * Opens one SSH connection per host of a deploy, keeps them all open while the whole run goes
 * phase by phase, and closes them when it ends. With `persist`, the connections are those of
 * the background SSH process (src/push/persist.ts) when it runs, reused for `persist.seconds`
 * after the last command, so a redeploy or a rollback pays no SSH handshake; when it does not
 * run, the command connects itself and starts it at its end, connecting to the same hosts.
 * Without (or when that process cannot be reached) through the push fan-out, its bounded
 * connection setup and per-host errors.
 */
import type { Host } from "../host/host.js";
import type { SshOptions } from "../host/ssh.js";
import type { HostPhase } from "../push/fleet.js";
import type { DeployHost } from "./hosts.js";

/** Connections by host name, and why the others could not be reached. */
export interface Connections {
  connections: Map<string, Host>;
  unreachable: Map<string, string>;
}

/** Where the background SSH process listens and how long it keeps connections after this command (0: connect directly). */
export interface PersistOptions {
  socketPath: string;
  seconds: number;
}

/** Connects to every host, runs `body` with all connections at once, then closes them (or leaves them to the background process). */
export async function withConnections<T>(hosts: readonly DeployHost[], ssh: SshOptions, body: (connections: Connections) => Promise<T>, onPhase?: (host: string, phase: HostPhase) => void, persist?: PersistOptions): Promise<T> {
  if (persist && persist.seconds > 0 && hosts.length > 0) {
    const { openPersistSession } = await import("../push/persist-host.js");
    const targets = hosts.map((h) => h.target);
    for (const host of hosts) onPhase?.(host.name, "connecting");
    const session = await openPersistSession(persist.socketPath, { targets, ssh, persistSeconds: persist.seconds }, (name, ok) => onPhase?.(name, ok ? "working" : "failed"), false);
    if (session) {
      try {
        return await body({ connections: session.hosts, unreachable: new Map([...session.unreachable].map(([name, why]) => [name, why.error])) });
      } finally {
        session.close();
      }
    }
    // None runs: this command connects itself (waiting for a new process and its handshakes would
    // cost more than its own), and one is started when it ends, connecting to the same hosts for the next.
    try {
      return await withOwnConnections(hosts, ssh, body, onPhase);
    } finally {
      const { startPersist } = await import("../push/persist.js");
      startPersist(persist.socketPath, persist.seconds, { targets, ssh });
    }
  }
  return withOwnConnections(hosts, ssh, body, onPhase);
}

/** The connections made by this process, through the push fan-out. */
async function withOwnConnections<T>(hosts: readonly DeployHost[], ssh: SshOptions, body: (connections: Connections) => Promise<T>, onPhase?: (host: string, phase: HostPhase) => void): Promise<T> {
  const { fanOut } = await import("../push/fleet.js");
  const connections = new Map<string, Host>();
  const unreachable = new Map<string, string>();
  let pending = hosts.length;
  let startBody!: () => void;
  const everyoneArrived = new Promise<void>((resolve) => (startBody = resolve));
  const arrived = () => {
    if (--pending === 0) startBody();
  };
  let finished!: () => void;
  const done = new Promise<void>((resolve) => (finished = resolve));
  let outcome: { value: T } | { error: unknown } | undefined;
  const running = everyoneArrived.then(async () => {
    try {
      outcome = { value: await body({ connections, unreachable }) };
    } catch (error) {
      outcome = { error };
    } finally {
      finished();
    }
  });
  if (hosts.length === 0) startBody();
  // Every host is in flight at once: the run needs all connections open together.
  await fanOut(
    hosts.map((h) => h.target),
    { ssh, concurrency: Math.max(1, hosts.length) },
    async (target) => {
      connections.set(target.host.name, target.host);
      arrived();
      await done;
    },
    (name, phase, result) => {
      if (phase === "failed" && !connections.has(name)) {
        unreachable.set(name, result?.error ?? "cannot connect");
        arrived();
      }
      onPhase?.(name, phase);
    },
  );
  await running;
  if (!outcome) throw new Error("the run ended without an outcome");
  if ("error" in outcome) throw outcome.error;
  return outcome.value;
}
