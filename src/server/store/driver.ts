// The little SQL surface the store needs, implemented once for SQLite and once for PostgreSQL,
// so that every query the store runs is the same text on both (placeholders are `?`).
import type { IndexJob } from "./large-index.js";

/** A column of a bulk insert: its name and its PostgreSQL type (SQLite needs no type). */
export type Column = readonly [name: string, type: "text" | "bigint" | "double precision"];

/** Runs SQL statements with `?` placeholders. */
export interface SqlExecutor {
  /** Runs a statement and returns its rows. */
  all<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** Runs a statement and returns how many rows it changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
  /** Inserts many rows into a table, in as few round trips as the database allows; `ignoreConflicts` skips rows that already exist. */
  insertMany(table: string, columns: readonly Column[], rows: readonly (readonly unknown[])[], ignoreConflicts?: boolean): Promise<void>;
  /** Writes an object's search rows where the connection is (indexInTransaction); only a transaction run off this thread has it. */
  indexDocument?(job: IndexJob): Promise<void>;
}

/** How a transaction runs. */
export interface TransactionOptions {
  /** Run its statements on the driver's writer thread, if it has one (`writesOffThread`): for a large save. */
  offThread?: boolean;
}

/** A statement with its parameters. */
export interface SqlRead {
  sql: string;
  params: readonly unknown[];
}

/**
 * A search whose count and page of ids may be reused while `signature` reads the same value: the
 * count and the ids are taken from the cache or run, then `rows` runs with the page's ids as a
 * JSON array bound to its first parameter. All in one snapshot.
 */
export interface CachedSearch {
  key: string;
  signature: SqlRead;
  count: SqlRead;
  ids: SqlRead;
  rows: SqlRead;
  /**
   * (id, etag) of the page's objects, with the ids as a JSON array bound to the first parameter;
   * when given, `rows` yields `id` and `etag` too, and a row is reused while its object's ETag is
   * unchanged.
   */
  etags?: SqlRead;
}

/** A database connection (or pool) with transactions. */
export interface SqlDriver extends SqlExecutor {
  /** Which SQL dialect, for the few statements that differ (schema types). */
  readonly dialect: "sqlite" | "postgres";
  /**
   * Runs long read-only statements that must see one snapshot, without blocking this thread where
   * the driver can (SQLite: a worker thread); one array of rows per statement.
   */
  readInBackground(reads: ReadonlyArray<{ sql: string; params: readonly unknown[] }>): Promise<unknown[][]>;
  /** Runs a cached search (drivers that keep a search result cache: SQLite); `cached` tells whether the count and ids came from the cache. */
  searchCached?(search: CachedSearch): Promise<{ count: number; rows: unknown[]; cached: boolean }>;
  /**
   * Records `id` until `expiresAtMs` (epoch milliseconds) unless it is recorded already; true when
   * it was new. Committed before it answers, and seen by every process on the same database.
   * Entries past their time are dropped now and then.
   */
  rememberOnce(id: string, expiresAtMs: number): Promise<boolean>;
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** The driver can run a transaction on a writer thread of its own (SQLite, whose statements run on the calling thread). */
  readonly writesOffThread?: boolean;
  /** Starts the writer thread now (drivers with `writesOffThread`), so that the first large save does not wait for it. */
  startWriterThread?(): void;
  /**
   * Creates the tables when missing, then runs `after` in the same transaction (data migrations);
   * safe when several processes start at once (one migrates, the others wait). With `fingerprint`,
   * a store whose `store_meta` row `schema` holds it already skips the statements: their locks
   * (a CREATE INDEX IF NOT EXISTS takes its table's, even when the index is there) would meet the
   * writes of a server started just before on the same database, and deadlock.
   */
  migrate(statements: readonly string[], after?: (tx: SqlExecutor) => Promise<void>, fingerprint?: string): Promise<void>;
  /** Closes every connection. */
  close(): Promise<void>;
}
