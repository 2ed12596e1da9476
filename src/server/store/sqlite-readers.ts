// Long reads (searches) on SQLite run in worker threads, each with its own read-only connection:
// better-sqlite3 is synchronous, so a search on the main thread would stall every other request
// (node saves above all) for its whole length. A worker reads the last committed state, as the
// main thread's reader does, so a search still sees every acknowledged write.
import { availableParallelism } from "node:os";
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type { CachedSearch } from "./driver.js";

// The worker is plain JavaScript given as text: it runs the same way from dist/ and under tsx.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.betterSqlite3);
const db = new Database(workerData.file, { readonly: true, timeout: 10000 });
db.pragma("case_sensitive_like = ON");
db.pragma("cache_size = -49152");
const statements = new Map();
function prepared(sql) {
  let statement = statements.get(sql);
  if (!statement) {
    statement = db.prepare(sql);
    if (statements.size > 500) statements.clear();
    statements.set(sql, statement);
  }
  return statement;
}
// Several statements read one snapshot: a deferred transaction holds it until the last one.
const readAll = db.transaction((reads) => reads.map(({ sql, params }) => prepared(sql).all(...params)));
// Search results (count and page of ids) by query, kept while the signature of what they depend
// on (the versions of their keys) reads the same; least recently used first out. With etags, the
// page's rows are kept too, each while its object's ETag is unchanged (a save changes the ETag):
// a repeated search reads the page's ETags and builds only the rows of objects saved since.
const results = new Map();
const MAX_RESULTS = 256;
const MAX_KEPT_ROWS = 50000;
let keptRows = 0;
function keepRows(entry, rows) {
  keptRows += rows.size - (entry.rows ? entry.rows.size : 0);
  entry.rows = rows;
  for (const other of results.values()) {
    if (keptRows <= MAX_KEPT_ROWS) break;
    if (other !== entry && other.rows) {
      keptRows -= other.rows.size;
      other.rows = undefined;
    }
  }
}
function forget(entry) {
  if (entry && entry.rows) keptRows -= entry.rows.size;
}
const searchCached = db.transaction((search) => {
  // NULL: the query depends on too much to track; it runs in full and is not kept.
  const signature = prepared(search.signature.sql).get(...search.signature.params).sig;
  let entry = results.get(search.key);
  const cached = signature !== null && entry !== undefined && entry.signature === signature;
  if (!cached) {
    const count = Number(prepared(search.count.sql).get(...search.count.params).n);
    const ids = JSON.stringify(prepared(search.ids.sql).all(...search.ids.params).map((row) => row.id));
    // Rows stay valid by their ETags whatever the hits are now.
    entry = { signature, count, ids, rows: entry ? entry.rows : undefined };
  }
  results.delete(search.key);
  if (signature !== null) results.set(search.key, entry);
  else forget(entry);
  if (results.size > MAX_RESULTS) {
    const oldest = results.keys().next().value;
    forget(results.get(oldest));
    results.delete(oldest);
  }
  if (!search.etags || signature === null) return { count: entry.count, rows: prepared(search.rows.sql).all(entry.ids, ...search.rows.params), cached };
  const current = prepared(search.etags.sql).all(entry.ids);
  const kept = entry.rows || new Map();
  const stale = current.filter((row) => { const old = kept.get(row.id); return old === undefined || old.etag !== row.etag; }).map((row) => row.id);
  if (stale.length > 0) for (const row of prepared(search.rows.sql).all(JSON.stringify(stale), ...search.rows.params)) kept.set(row.id, row);
  const rows = current.map((row) => kept.get(row.id));
  // Only this page's rows stay.
  keepRows(entry, kept.size === rows.length ? kept : new Map(rows.map((row) => [row.id, row])));
  return { count: entry.count, rows, cached };
});
parentPort.on("message", ({ id, reads, search }) => {
  try {
    if (search) parentPort.postMessage({ id, result: searchCached(search) });
    else parentPort.postMessage({ id, rows: readAll(reads) });
  } catch (error) {
    parentPort.postMessage({ id, error: { message: String(error && error.message), code: error && error.code } });
  }
});
`;

/** A cheap string hash (FNV-1a), to give each query a home worker. */
function hashOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

interface Reader {
  worker: Worker;
  pending: Map<number, Pending>;
  /** Why the thread stopped (it cannot open the store, or crashed): its reads are refused, not left waiting. */
  stopped?: Error;
}

/** Worker threads that run read-only statements on one SQLite file. */
export class SqliteReaders {
  private readonly readers: Reader[] = [];
  private nextId = 0;
  private closed = false;
  private readonly inFlight = new Set<Promise<unknown>>();

  /** `count` defaults to one less than the CPUs (at least one): the main thread keeps one for writes. */
  constructor(file: string, count = Math.max(1, Math.min(4, availableParallelism() - 1))) {
    const betterSqlite3 = createRequire(import.meta.url).resolve("better-sqlite3");
    for (let i = 0; i < count; i++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, betterSqlite3 } });
      const reader: Reader = { worker, pending: new Map() };
      worker.on("message", (message: { id: number; rows?: unknown[][]; result?: unknown; error?: { message: string; code?: string } }) => {
        const waiting = reader.pending.get(message.id);
        if (!waiting) return;
        reader.pending.delete(message.id);
        if (reader.pending.size === 0) worker.unref();
        if (message.error) waiting.reject(Object.assign(new Error(message.error.message), { code: message.error.code }));
        else waiting.resolve(message.result ?? message.rows);
      });
      const stop = (error: Error): void => {
        reader.stopped ??= error;
        for (const waiting of reader.pending.values()) waiting.reject(reader.stopped);
        reader.pending.clear();
      };
      worker.on("error", (error) => stop(new Error(`a search thread failed: ${error.message}`)));
      worker.on("exit", (code) => stop(new Error(`a search thread stopped (exit code ${code})`)));
      // An idle worker does not keep the process alive; a busy one does until it answers.
      worker.unref();
      this.readers.push(reader);
    }
  }

  /** Runs read-only statements, in one snapshot, in the least busy worker; one array of rows per statement. */
  read(reads: ReadonlyArray<{ sql: string; params: readonly unknown[] }>): Promise<unknown[][]> {
    return this.send({ reads });
  }

  /**
   * Runs a search through the result cache of a worker. The same query goes to the same worker
   * (by its key) while that one is not much busier than the least busy, so that its cache serves it.
   */
  search(search: CachedSearch): Promise<{ count: number; rows: unknown[]; cached: boolean }> {
    return this.send({ search }, search.key);
  }

  private send<T>(message: object, key?: string): Promise<T> {
    if (this.closed) return Promise.reject(new Error("the SQLite store is closed"));
    const live = this.readers.filter((reader) => !reader.stopped);
    if (live.length === 0) return Promise.reject(this.readers[0]!.stopped);
    const leastBusy = live.reduce((best, candidate) => (candidate.pending.size < best.pending.size ? candidate : best));
    const home = key === undefined ? undefined : live[hashOf(key) % live.length]!;
    const reader = home && home.pending.size <= leastBusy.pending.size + 1 ? home : leastBusy;
    const id = ++this.nextId;
    const read = new Promise<T>((resolve, reject) => {
      reader.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      reader.worker.ref();
      reader.worker.postMessage({ id, ...message });
    });
    this.inFlight.add(read);
    const settled = (): void => void this.inFlight.delete(read);
    read.then(settled, settled);
    return read;
  }

  /** Stops the workers (after the reads in flight). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    await Promise.all(this.readers.map((reader) => reader.worker.terminate()));
  }
}
