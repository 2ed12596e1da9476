/**
 * The deploy service: what `sous deploy` does between parsing its flags and rendering. It loads
 * an app (apps/<name>.ts) and resolves its hosts (search queries through the server when one is
 * configured), connects to them through the kept-connection process (or directly), runs the
 * flows of src/deploy (deploy, rollback, check, releases, the lock) and records runs on the
 * server. The modules behind it are loaded only when a command needs them.
 */
import { errorMessage, SousError } from "../core/errors.js";
import type { SousClient } from "../client/api.js";
import type { DeployEvent, DeployResult } from "../deploy/events.js";
import type { DeployHost } from "../deploy/hosts.js";
import type { LoadedApp } from "../deploy/load.js";
import type { HeldLock } from "../deploy/lock.js";
import type { SshOptions } from "./fleet.js";

export type { DeployEvent, DeployResult, DeployHost, LoadedApp, HeldLock };

/** Where the server is, when the flags say (else the SOUS_* variables and the config files). */
export interface ServerOptions {
  serverUrl?: string;
  org?: string;
  client?: string;
  key?: string;
}

/** How to reach the hosts: SSH options, and how long the background SSH process keeps connections (0: connect afresh). */
export interface ConnectOptions {
  ssh: SshOptions;
  persistSeconds: number;
}

/** A milestone of a run, for SOUS_TIMING. */
export type Mark = (label: string) => void;

/** An app with its hosts resolved, and the server client when one is configured. */
export interface Loaded {
  app: LoadedApp;
  hosts: DeployHost[];
  client?: SousClient;
  root: string;
}

/** A client when a server is configured (options, SOUS_* variables, sous.config.ts, ~/.sous/config.json), else undefined. */
async function serverClient(flags: ServerOptions, root: string): Promise<SousClient | undefined> {
  const { resolveConfig } = await import("../client/config.js");
  const config = await resolveConfig(
    { ...(flags.serverUrl ? { server_url: flags.serverUrl } : {}), ...(flags.org ? { org: flags.org } : {}), ...(flags.client ? { client: flags.client } : {}), ...(flags.key ? { key: flags.key } : {}) },
    { cwd: root },
  );
  if (!config.server_url || !config.client) return undefined;
  const { SousClient } = await import("../client/api.js");
  return new SousClient({ serverUrl: config.server_url, client: config.client, ...(config.org ? { org: config.org } : {}), ...(config.key ? { privateKeyFile: config.key } : {}) });
}

/** Loads apps/<name>.ts from the repository (`repo`, or the nearest) and resolves its hosts. */
export async function loadDeploy(name: string, options: ServerOptions & { repo?: string; stage?: string; record?: boolean }, mark: Mark = () => {}): Promise<Loaded> {
  const { appsRoot, loadApp } = await import("../deploy/load.js");
  const { resolveHosts } = await import("../deploy/hosts.js");
  const root = appsRoot(options.repo);
  const app = await loadApp(root, name, options.stage);
  mark("app loaded");
  const needsServer = app.hosts.some((h) => typeof h === "object" && "search" in h);
  const client = needsServer || options.record !== false ? await serverClient(options, root).catch((error) => (needsServer ? Promise.reject(error) : undefined)) : undefined;
  const hosts = await resolveHosts(app.hosts, {
    root,
    ...(client
      ? {
          search: async (query: string, attribute: string) => {
            const rows = await client.searchAll<{ data: { name?: string; address?: string } }>("node", query, { partial: { name: ["name"], address: [attribute] } });
            return rows.map((row) => ({ node: String(row.data.name ?? "?"), address: typeof row.data.address === "string" ? row.data.address : undefined }));
          },
        }
      : {}),
  });
  mark("hosts resolved");
  return { app, hosts, root, ...(client ? { client } : {}) };
}

/** Connects to `hosts` (through the background SSH process unless persistSeconds is 0) and runs `body` with the connections. */
async function connected<T>(connect: ConnectOptions, hosts: readonly DeployHost[], body: (connections: import("../deploy/connect.js").Connections) => Promise<T>): Promise<T> {
  const { withConnections } = await import("../deploy/connect.js");
  let persist: import("../deploy/connect.js").PersistOptions | undefined;
  if (connect.persistSeconds !== 0) {
    const { persistSocket } = await import("../push/persist.js");
    const { sousHome } = await import("../client/config.js");
    persist = { socketPath: persistSocket(sousHome()), seconds: connect.persistSeconds };
  }
  return withConnections(hosts, connect.ssh, body, undefined, persist);
}

/** Runs `fn` on every host with its connection (for the commands that only read). */
async function eachHost<T>(connect: ConnectOptions, hosts: readonly DeployHost[], fn: (host: import("../host/host.js").Host, deployHost: DeployHost) => Promise<T>): Promise<Array<{ host: DeployHost; value?: T; error?: string }>> {
  return connected(connect, hosts, async ({ connections, unreachable }) =>
    Promise.all(
      hosts.map(async (host) => {
        const conn = connections.get(host.name);
        if (!conn) return { host, error: `cannot connect: ${unreachable.get(host.name) ?? "no connection"}` };
        try {
          return { host, value: await fn(conn, host) };
        } catch (error) {
          return { host, error: errorMessage(error) };
        }
      }),
    ),
  );
}

/** `--batch`: a count, or a share like 25%. */
function batchOf(batch: string | undefined): { batch?: number | string } {
  return batch ? { batch: /^\d+$/.test(batch) ? Number(batch) : batch } : {};
}

/** What `deploy --dry-run` prints: the plan, and its text. */
export async function deployPlanOf(loaded: Loaded, options: { revision?: string; batch?: string }): Promise<{ plan: unknown; text: string }> {
  const { deployPlan, formatPlan } = await import("../deploy/plan.js");
  const plan = deployPlan(loaded.app, loaded.hosts, { ...(options.revision ? { revision: options.revision } : {}), ...batchOf(options.batch) });
  return { plan, text: formatPlan(plan) };
}

/** What a deploy or rollback is asked to do, and where it reports. */
export interface RunOptions {
  action: "deploy" | "rollback";
  events: (event: DeployEvent) => void;
  signal: AbortSignal;
  /** Called with the lock while the run holds it (so a second Ctrl-C can free it). */
  onLock: (lock: HeldLock | undefined) => void;
  batch?: string;
  revision?: string;
  rollbackAllOnFailure?: boolean;
  to?: string;
  force?: boolean;
  mark?: Mark;
}

/** Runs a deploy or rollback with its connections open; they are closed when it returns. */
export async function runDeploy(loaded: Loaded, connect: ConnectOptions, options: RunOptions): Promise<DeployResult> {
  const flow = await import("../deploy/flow.js");
  const mark = options.mark ?? (() => {});
  const { app, hosts } = loaded;
  mark("deploy modules loaded");
  return connected(connect, hosts, ({ connections, unreachable }) => {
    mark(`connected to ${connections.size} of ${hosts.length} hosts`);
    const common = { app, hosts, connections, unreachable, events: options.events, signal: options.signal, onLock: options.onLock, ...batchOf(options.batch) };
    return options.action === "deploy"
      ? flow.deploy({ ...common, ...(options.revision ? { revision: options.revision } : {}), rollbackAllOnFailure: options.rollbackAllOnFailure === true })
      : flow.rollback({ ...common, ...(options.to ? { to: options.to } : {}), force: options.force === true });
  });
}

/** Frees a lock a run holds (a second Ctrl-C). */
export async function releaseHeldLock(lock: HeldLock): Promise<void> {
  const { releaseLock } = await import("../deploy/lock.js");
  await releaseLock(lock);
}

/** Records a run on the server: its id there. */
export async function recordRun(client: SousClient, result: DeployResult): Promise<{ id: string }> {
  const { recordDeploy } = await import("../deploy/history.js");
  return recordDeploy(client, result);
}

/** Each host's releases, and the failed deploys whose release was removed (revisions.log still says which they were). */
export async function releasesOf(loaded: Loaded, connect: ConnectOptions) {
  const { layoutOf, readReleases, readLog } = await import("../deploy/layout.js");
  const layout = layoutOf(loaded.app.deployTo);
  return eachHost(connect, loaded.hosts, async (host) => {
    const [state, log] = await Promise.all([readReleases(host, layout), readLog(host, layout)]);
    const present = new Set(state.releases.map((r) => r.id));
    const failed = log.filter((e) => e.action === "deploy" && e.outcome !== "good" && e.outcome !== "partial" && !present.has(e.release));
    return { ...state, failed };
  });
}

/**
 * Where a rollback would take each host, read from its releases and changing nothing: `to`, or
 * its newest good release before its current one (what `sous deploy rollback` does), or why not.
 */
export async function rollbackPlanOf(loaded: Loaded, connect: ConnectOptions, options: { to?: string; force: boolean }): Promise<Array<{ host: string; current?: string; target?: string; error?: string }>> {
  const { rollbackTarget } = await import("../deploy/flow.js");
  const results = await releasesOf(loaded, connect);
  return results.map((r) => {
    if (r.error || !r.value) return { host: r.host.name, error: r.error ?? "unreadable" };
    const current = r.value.current;
    try {
      return { host: r.host.name, ...(current ? { current } : {}), target: rollbackTarget(r.value, options.to, options.force) };
    } catch (error) {
      return { host: r.host.name, ...(current ? { current } : {}), error: errorMessage(error) };
    }
  });
}

/** Checks every host (SSH, git, paths, disk, linked files) and reads the lock on the primary host. */
export async function checkApp(loaded: Loaded, connect: ConnectOptions, events: (event: DeployEvent) => void): Promise<{ result: DeployResult; lockText: string }> {
  const { checkOnly } = await import("../deploy/flow.js");
  const { lockHost } = await import("../deploy/hosts.js");
  const { layoutOf } = await import("../deploy/layout.js");
  const { lockStatus, describeHolder } = await import("../deploy/lock.js");
  let lockText = "";
  const result = await connected(connect, loaded.hosts, async ({ connections, unreachable }) => {
    const checked = await checkOnly({ app: loaded.app, hosts: loaded.hosts, connections, unreachable, events });
    const primary = connections.get(lockHost(loaded.hosts).name);
    if (primary) {
      const status = await lockStatus(primary, layoutOf(loaded.app.deployTo));
      lockText = status.held ? `locked on ${primary.name} by ${describeHolder(status.holder)}${status.stale ? " (stale)" : ""}` : `not locked (lock host ${primary.name})`;
    }
    return checked;
  });
  return { result, lockText };
}

/** Shows, takes or frees the app's deploy lock on its primary host: what to print as JSON and as text, or the error. */
export async function lockCommand(loaded: Loaded, connect: ConnectOptions, verb: "status" | "acquire" | "release", options: { message?: string; force?: boolean }): Promise<{ value?: { json: unknown; text: string }; error?: string }> {
  const { lockHost } = await import("../deploy/hosts.js");
  const { layoutOf } = await import("../deploy/layout.js");
  const locks = await import("../deploy/lock.js");
  const primary = lockHost(loaded.hosts);
  const layout = layoutOf(loaded.app.deployTo);
  const [r] = await eachHost(connect, [primary], async (host) => {
    if (verb === "status") {
      const status = await locks.lockStatus(host, layout);
      return { json: status, text: status.held ? `${loaded.app.name} is locked on ${host.name} by ${locks.describeHolder(status.holder)}${status.stale ? " (stale: that process is gone; `sous deploy lock release` frees it)" : ""}` : `${loaded.app.name} is not locked (lock host ${host.name})` };
    }
    if (verb === "acquire") {
      const held = await locks.acquireLock(host, layout, { kind: "manual", app: loaded.app.name, ...(options.message ? { message: options.message } : {}) });
      return { json: held.holder, text: `${loaded.app.name} locked on ${host.name} by ${locks.describeHolder(held.holder)}` };
    }
    const freed = await locks.releaseLockByHand(host, layout, options.force === true);
    return { json: { released: freed !== "none", holder: freed === "none" ? undefined : freed }, text: freed === "none" ? `${loaded.app.name} was not locked` : `released the lock of ${locks.describeHolder(freed)}` };
  });
  return r!;
}

/** The applications of the repository (`repo`, or the one around the current folder); none when there is no apps/ folder. */
export async function applicationsOf(repo: string | undefined): Promise<string[]> {
  const { appsRoot, knownApps } = await import("../deploy/load.js");
  try {
    return knownApps(appsRoot(repo));
  } catch {
    return [];
  }
}

/** The deploys and rollbacks in revisions.log on the app's primary (lock) host, newest first: the history when no server is configured. */
export async function hostHistoryOf(loaded: Loaded, connect: ConnectOptions, limit: number) {
  const { lockHost } = await import("../deploy/hosts.js");
  const { layoutOf, readLog } = await import("../deploy/layout.js");
  const primary = lockHost(loaded.hosts);
  const [result] = await eachHost(connect, [primary], (host) => readLog(host, layoutOf(loaded.app.deployTo)));
  if (result!.error) throw new SousError("failed", `reading revisions.log on ${primary.name}: ${result!.error}`);
  return { host: primary.name, entries: [...result!.value!].reverse().slice(0, limit) };
}

/** `--limit`: a whole number of at least 1 (default 20). */
export function historyLimit(flag: string | undefined): number {
  const limit = flag ? Number(flag) : 20;
  if (!Number.isInteger(limit) || limit < 1) throw new SousError("usage", `--limit must be a whole number, got ${JSON.stringify(flag)}`);
  return limit;
}

/** The app's deploys and rollbacks recorded on the server, newest first (`--limit`, default 20). */
export async function deployHistoryOf(name: string, limitFlag: string | undefined, options: ServerOptions & { repo?: string }) {
  const { appsRoot } = await import("../deploy/load.js");
  const client = await serverClient(options, appsRoot(options.repo));
  if (!client) throw new SousError("no_server", "no server configured: pass --server-url and --client (or set SOUS_SERVER_URL, SOUS_CLIENT, or server.url in sous.config.ts)");
  const { deployHistory } = await import("../deploy/history.js");
  const limit = historyLimit(limitFlag);
  return deployHistory(client, name, limit).catch((error: unknown) => {
    throw new SousError("failed", errorMessage(error));
  });
}
