import { chmodSync, existsSync } from "node:fs";
import Database from "better-sqlite3";
import type { CachedSearch, Column, SqlDriver, SqlExecutor, TransactionOptions } from "./driver.js";
import { IndexThread } from "./index-threads.js";
import type { IndexJob } from "./large-index.js";
import { SqliteReaders } from "./sqlite-readers.js";
import { schemaIsCurrent } from "./schema.js";

type Statement = Database.Statement<unknown[], unknown>;

/** Opens the store's SQLite file with the settings every connection to it uses; `cacheKib` is its page cache. */
export function openSqlite(file: string, cacheKib: number): Database.Database {
  const db = new Database(file, { timeout: 10_000 });
  db.pragma("journal_mode = WAL");
  // NORMAL in WAL mode survives a process crash (kill -9); only an OS crash can lose the last commits.
  db.pragma("synchronous = NORMAL");
  db.pragma("foreign_keys = ON");
  // LIKE must be case-sensitive: search is (shared/SEARCH.md rule 5).
  db.pragma("case_sensitive_like = ON");
  db.pragma(`cache_size = -${cacheKib}`);
  // Fewer, larger checkpoints: each one syncs the database file.
  db.pragma("wal_autocheckpoint = 4000");
  return db;
}

/** Keeps prepared statements per connection: preparing is a large share of a small query's cost. */
export class Connection implements SqlExecutor {
  private readonly statements = new Map<string, Statement>();

  constructor(readonly db: Database.Database) {}

  private prepare(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      if (this.statements.size > 500) this.statements.clear();
      this.statements.set(sql, statement);
    }
    return statement;
  }

  async all<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    const statement = this.prepare(sql);
    if (statement.reader) return statement.all(...params) as T[];
    statement.run(...params);
    return [];
  }

  async run(sql: string, params: readonly unknown[] = []): Promise<number> {
    return this.prepare(sql).run(...params).changes;
  }

  async insertMany(table: string, columns: readonly Column[], rows: readonly (readonly unknown[])[], ignoreConflicts = false): Promise<void> {
    // One prepared single-row insert is the fastest path in SQLite: no round trips to save.
    const statement = this.prepare(`INSERT INTO ${table} (${columns.map(([name]) => name).join(", ")}) VALUES (${columns.map(() => "?").join(", ")})${ignoreConflicts ? " ON CONFLICT DO NOTHING" : ""}`);
    // A large write (a node of thousands of keys) lets other requests run every 1,000 rows: the
    // writer runs on the request thread, and /health or a search must not wait for it.
    for (let start = 0; start < rows.length; start += 500) {
      if (start > 0) await new Promise((resolve) => setImmediate(resolve));
      for (const row of rows.slice(start, start + 500)) statement.run(...row);
    }
  }
}

/** The file that keeps the ids of recent signed requests beside a store file (`sous.db` → `sous.requests.db`). */
export function requestsFile(file: string): string {
  return `${file.replace(/\.db$/, "")}.requests.db`;
}

/** Options of the embedded SQLite store. */
export interface SqliteOptions {
  /** File of the database (created when missing); `:memory:` is refused because reads use a second connection. */
  file: string;
}

interface QueuedWrite {
  fn: (tx: SqlExecutor) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  offThread: boolean;
}

/** A transaction's statements sent to the writer thread, which runs them on its own connection. */
class WriterThreadExecutor implements SqlExecutor {
  constructor(private readonly thread: IndexThread) {}

  all<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    return this.thread.call<T[]>({ op: "all", sql, params });
  }

  run(sql: string, params: readonly unknown[] = []): Promise<number> {
    return this.thread.call<number>({ op: "run", sql, params });
  }

  insertMany(table: string, columns: readonly Column[], rows: readonly (readonly unknown[])[], ignoreConflicts = false): Promise<void> {
    return this.thread.call<void>({ op: "insertMany", table, columns, rows, ignoreConflicts });
  }

  indexDocument(job: IndexJob): Promise<void> {
    return this.thread.call<void>({ op: "index", job });
  }
}

/** Most writes committed together in one group. */
const MAX_GROUP = 64;

/**
 * SQLite in WAL mode: one writer connection and one reader connection, so that reads never see
 * a write in progress. Writes queue up and are committed in groups: each write runs in its own
 * savepoint (a failing write rolls back alone), the group shares one COMMIT, and no write is
 * acknowledged before the COMMIT that holds it. Under concurrent saves this turns many small
 * commits into a few larger ones.
 */
export class SqliteDriver implements SqlDriver {
  readonly dialect = "sqlite" as const;
  private readonly writer: Connection;
  private readonly reader: Connection;
  private readonly queue: QueuedWrite[] = [];
  private draining = false;
  private control: Record<"begin" | "savepoint" | "release" | "rollbackTo" | "commit", Statement> | undefined;
  private closed = false;

  constructor(options: SqliteOptions) {
    // Page cache per connection, in KiB: the writer touches the pages a save changes; the main
    // thread's reader only looks up keys, clients and single objects (searches have their own).
    this.writer = new Connection(openSqlite(options.file, 49_152));
    this.reader = new Connection(openSqlite(options.file, 16_384));
    this.file = options.file;
    // Request ids are written on every signed request: in a file of their own they never queue
    // behind a save (SQLite has one writer per file), and the objects' file stays what it was.
    this.requests = new Database(requestsFile(options.file), { timeout: 10_000 });
    this.requests.pragma("journal_mode = WAL");
    this.requests.pragma("synchronous = NORMAL");
    this.requests.exec("CREATE TABLE IF NOT EXISTS request_ids (id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID");
    this.requests.exec("CREATE INDEX IF NOT EXISTS request_ids_by_expiry ON request_ids (expires_at)");
    this.remember = this.requests.prepare("INSERT INTO request_ids (id, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING");
    this.purge = this.requests.prepare("DELETE FROM request_ids WHERE expires_at < ?");
    // Object data, keys and tokens: readable by the server's user only.
    for (const file of [options.file, requestsFile(options.file)]) {
      for (const suffix of ["", "-wal", "-shm"]) if (existsSync(file + suffix)) chmodSync(file + suffix, 0o600);
    }
  }

  private readonly requests: Database.Database;
  private readonly remember: Statement;
  private readonly purge: Statement;
  private lastPurge = 0;

  async rememberOnce(id: string, expiresAtMs: number): Promise<boolean> {
    const now = Date.now();
    if (now - this.lastPurge > 60_000) {
      this.lastPurge = now;
      this.purge.run(now);
    }
    return this.remember.run(id, expiresAtMs).changes === 1;
  }

  private readonly file: string;
  private readers: SqliteReaders | undefined;

  all<T>(sql: string, params?: readonly unknown[]): Promise<T[]> {
    return this.reader.all<T>(sql, params);
  }

  /** The search threads, started on first use: a CLI command that opens the store for one write never pays for them. */
  private get searchThreads(): SqliteReaders {
    return (this.readers ??= new SqliteReaders(this.file));
  }

  readInBackground(reads: ReadonlyArray<{ sql: string; params: readonly unknown[] }>): Promise<unknown[][]> {
    return this.searchThreads.read(reads);
  }

  searchCached(search: CachedSearch): Promise<{ count: number; rows: unknown[]; cached: boolean }> {
    return this.searchThreads.search(search);
  }

  run(sql: string, params?: readonly unknown[]): Promise<number> {
    return this.transaction((tx) => tx.run(sql, params));
  }

  insertMany(table: string, columns: readonly Column[], rows: readonly (readonly unknown[])[], ignoreConflicts?: boolean): Promise<void> {
    return this.transaction((tx) => tx.insertMany(table, columns, rows, ignoreConflicts));
  }

  readonly writesOffThread = true;

  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    if (this.closed) return Promise.reject(new Error("the SQLite store is closed"));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (value: unknown) => void, reject, offThread: options.offThread === true });
      if (!this.draining) {
        // Started after the requests already read in this turn of the event loop are queued too:
        // they then share one COMMIT instead of one each.
        this.draining = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    const db = this.writer.db;
    // Prepared once: exec() would parse these five statements again for every write.
    const control = (this.control ??= {
      begin: db.prepare("BEGIN IMMEDIATE"),
      savepoint: db.prepare("SAVEPOINT sous_write"),
      release: db.prepare("RELEASE sous_write"),
      rollbackTo: db.prepare("ROLLBACK TO sous_write"),
      commit: db.prepare("COMMIT"),
    });
    try {
      while (this.queue.length > 0) {
        if (this.queue[0]!.offThread) {
          await this.runOnWriterThread(this.queue.shift()!);
          continue;
        }
        // A group ends before the next write that runs on the writer thread.
        const next = this.queue.findIndex((write) => write.offThread);
        const group = this.queue.splice(0, Math.min(MAX_GROUP, next < 0 ? this.queue.length : next));
        const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
        try {
          control.begin.run();
        } catch (error) {
          for (const write of group) write.reject(error);
          continue;
        }
        for (const write of group) {
          control.savepoint.run();
          try {
            const value = await write.fn(this.writer);
            control.release.run();
            outcomes.push({ ok: true, value });
          } catch (error) {
            control.rollbackTo.run();
            control.release.run();
            outcomes.push({ ok: false, error });
          }
        }
        try {
          control.commit.run();
        } catch (error) {
          if (db.inTransaction) db.exec("ROLLBACK");
          for (const write of group) write.reject(error);
          continue;
        }
        group.forEach((write, index) => {
          const outcome = outcomes[index]!;
          if (outcome.ok) write.resolve(outcome.value);
          else write.reject(outcome.error);
        });
      }
    } finally {
      this.draining = false;
    }
  }

  /**
   * Runs one write in a transaction of its own on the writer thread's connection, while this
   * thread's writer waits (SQLite has one writer at a time) and its reader keeps reading the last
   * commit (WAL): the statements of a large save never run on the request thread.
   */
  private async runOnWriterThread(write: QueuedWrite): Promise<void> {
    const thread = this.startWriterThread();
    try {
      await thread.call({ op: "begin" });
    } catch (error) {
      write.reject(error);
      return;
    }
    try {
      const value = await write.fn(new WriterThreadExecutor(thread));
      await thread.call({ op: "commit" });
      write.resolve(value);
    } catch (error) {
      await thread.call({ op: "rollback" }).catch(() => undefined);
      write.reject(error);
    }
  }

  private writerThread: IndexThread | undefined;

  /** The writer thread, started now if it is not running yet. */
  startWriterThread(): IndexThread {
    if (this.closed) throw new Error("the SQLite store is closed");
    return (this.writerThread ??= new IndexThread({ role: "sqlite-writer", file: this.file }));
  }

  async migrate(statements: readonly string[], after?: (tx: SqlExecutor) => Promise<void>, fingerprint?: string): Promise<void> {
    await this.transaction(async (tx) => {
      if (!fingerprint || !(await schemaIsCurrent(tx, "sqlite", fingerprint))) for (const statement of statements) this.writer.db.exec(statement);
      if (after) await after(tx);
    });
  }

  async close(): Promise<void> {
    // Writes already queued still commit; later ones are refused.
    await this.transaction(async () => undefined);
    this.closed = true;
    await this.readers?.close();
    await this.writerThread?.close();
    this.reader.db.close();
    this.writer.db.close();
    this.requests.close();
  }
}
