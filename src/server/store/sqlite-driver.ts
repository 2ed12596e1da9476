import Database from "better-sqlite3";
import type { Column, SqlDriver, SqlExecutor } from "./driver.js";
import { Mutex } from "./driver.js";

type Statement = Database.Statement<unknown[], unknown>;

/** Keeps prepared statements per connection: preparing is a large share of a small query's cost. */
class Connection implements SqlExecutor {
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
    for (const row of rows) statement.run(...row);
  }
}

/** Options of the embedded SQLite store. */
export interface SqliteOptions {
  /** File of the database (created when missing); `:memory:` is refused because reads use a second connection. */
  file: string;
}

/**
 * SQLite in WAL mode: one writer connection (writes serialised by a mutex, each in a
 * transaction) and one reader connection, so that reads never see a write in progress.
 */
export class SqliteDriver implements SqlDriver {
  readonly dialect = "sqlite" as const;
  private readonly writer: Connection;
  private readonly reader: Connection;
  private readonly writeLock = new Mutex();

  constructor(options: SqliteOptions) {
    const open = (): Database.Database => {
      const db = new Database(options.file, { timeout: 10_000 });
      db.pragma("journal_mode = WAL");
      // NORMAL in WAL mode survives a process crash (kill -9); only an OS crash can lose the last commits.
      db.pragma("synchronous = NORMAL");
      db.pragma("foreign_keys = ON");
      // LIKE must be case-sensitive: search is (shared/SEARCH.md rule 5).
      db.pragma("case_sensitive_like = ON");
      db.pragma("cache_size = -65536");
      return db;
    };
    this.writer = new Connection(open());
    this.reader = new Connection(open());
  }

  all<T>(sql: string, params?: readonly unknown[]): Promise<T[]> {
    return this.reader.all<T>(sql, params);
  }

  run(sql: string, params?: readonly unknown[]): Promise<number> {
    return this.transaction((tx) => tx.run(sql, params));
  }

  insertMany(table: string, columns: readonly Column[], rows: readonly (readonly unknown[])[], ignoreConflicts?: boolean): Promise<void> {
    return this.transaction((tx) => tx.insertMany(table, columns, rows, ignoreConflicts));
  }

  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.writeLock.run(async () => {
      this.writer.db.exec("BEGIN IMMEDIATE");
      try {
        const result = await fn(this.writer);
        this.writer.db.exec("COMMIT");
        return result;
      } catch (error) {
        if (this.writer.db.inTransaction) this.writer.db.exec("ROLLBACK");
        throw error;
      }
    });
  }

  async migrate(statements: readonly string[]): Promise<void> {
    await this.transaction(async () => {
      for (const statement of statements) this.writer.db.exec(statement);
    });
  }

  async close(): Promise<void> {
    await this.writeLock.run(async () => {
      this.reader.db.close();
      this.writer.db.close();
    });
  }
}
