// Run-now requests: an administrator asks the nodes a query returns to converge at once; each
// node's agent long-polls for its oldest pending request. A request stays pending for a node until
// a report answering it arrives from that node, or until it is older than PENDING_FOR_MS.
import { randomUUID } from "node:crypto";
import type { Store } from "../store/store.js";

/** How long a request waits for a node that does not answer (a node back after a day should not run for an old request). */
export const PENDING_FOR_MS = 60 * 60_000;

/** A stored run-now request. */
export interface RunRequest {
  id: string;
  query: string;
  nodes: string[];
  created_at: string;
  created_by: string;
}

/** Stores a request for these nodes, pending for each of them. */
export async function createRunRequest(store: Store, org: string, request: { query: string; nodes: readonly string[]; createdBy: string }): Promise<RunRequest> {
  const stored: RunRequest = { id: randomUUID(), query: request.query, nodes: [...request.nodes], created_at: new Date().toISOString(), created_by: request.createdBy };
  await store.transaction(async (t) => {
    await t.sql.run("INSERT INTO run_requests (org, id, query, nodes, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)", [org, stored.id, stored.query, JSON.stringify(stored.nodes), stored.created_at, stored.created_by]);
    await t.sql.insertMany(
      "run_request_nodes",
      [
        ["org", "text"],
        ["request_id", "text"],
        ["node", "text"],
        ["created_at", "text"],
      ],
      stored.nodes.map((node) => [org, stored.id, node, stored.created_at]),
    );
  });
  return stored;
}

/** A request by id, or undefined. */
export async function getRunRequest(store: Store, org: string, id: string): Promise<RunRequest | undefined> {
  const rows = await store.sql.all<{ id: string; query: string; nodes: string; created_at: string; created_by: string }>("SELECT id, query, nodes, created_at, created_by FROM run_requests WHERE org = ? AND id = ?", [org, id]);
  const row = rows[0];
  return row ? { ...row, nodes: JSON.parse(row.nodes) as string[] } : undefined;
}

/** The oldest request still pending for a node, or undefined. */
export async function pendingRunRequest(store: Store, org: string, node: string, now = Date.now()): Promise<{ id: string; created_at: string } | undefined> {
  const rows = await store.sql.all<{ id: string; created_at: string }>(
    "SELECT request_id AS id, created_at FROM run_request_nodes WHERE org = ? AND node = ? AND report_id IS NULL AND created_at >= ? ORDER BY created_at, request_id LIMIT 1",
    [org, node, new Date(now - PENDING_FOR_MS).toISOString()],
  );
  return rows[0];
}

/**
 * Wakes the long-polls of the nodes a new request names. A request made through this process
 * wakes them at once; one made through another server process on the same database is seen by a
 * poll of the requests table every `pollMs` while anyone waits (one query per poll, however many
 * nodes wait), which looks back `lookBackMs` so that a request whose transaction committed late
 * is not missed.
 */
export class RunRequestWaiters {
  private readonly waiting = new Map<string, Set<() => void>>();
  private timer: NodeJS.Timeout | undefined;
  private seen = new Map<string, number>();
  private closed = false;

  constructor(
    private readonly store: Store,
    private readonly pollMs = 1000,
    private readonly lookBackMs = 10_000,
  ) {}

  /** Resolves when a request for this node may have arrived, after `ms`, or when the server closes; true when woken by a request. */
  wait(org: string, node: string, ms: number): Promise<boolean> {
    if (this.closed || ms <= 0) return Promise.resolve(false);
    const key = `${org}\0${node}`;
    return new Promise((resolve) => {
      const set = this.waiting.get(key) ?? new Set();
      this.waiting.set(key, set);
      const done = (woken: boolean): void => {
        clearTimeout(timeout);
        set.delete(wake);
        if (set.size === 0) this.waiting.delete(key);
        if (this.waiting.size === 0) this.stopPolling();
        resolve(woken);
      };
      const wake = (): void => done(true);
      const timeout = setTimeout(() => done(false), ms);
      set.add(wake);
      this.startPolling();
    });
  }

  /** Wakes the waiters of these nodes (a request was just made here). */
  notify(org: string, nodes: readonly string[]): void {
    for (const node of nodes) for (const wake of [...(this.waiting.get(`${org}\0${node}`) ?? [])]) wake();
  }

  /** Ends every wait at once (the server is closing) and refuses new ones. */
  close(): void {
    this.closed = true;
    for (const set of [...this.waiting.values()]) for (const wake of [...set]) wake();
    this.stopPolling();
  }

  private startPolling(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.poll().catch(() => undefined), this.pollMs);
    this.timer.unref();
  }

  private stopPolling(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async poll(): Promise<void> {
    const now = Date.now();
    const rows = await this.store.sql.all<{ org: string; id: string; nodes: string }>("SELECT org, id, nodes FROM run_requests WHERE created_at >= ?", [new Date(now - this.lookBackMs).toISOString()]);
    for (const row of rows) {
      const key = `${row.org}\0${row.id}`;
      if (this.seen.has(key)) continue;
      this.seen.set(key, now);
      this.notify(row.org, JSON.parse(row.nodes) as string[]);
    }
    for (const [key, at] of this.seen) if (at < now - 2 * this.lookBackMs) this.seen.delete(key);
  }
}
