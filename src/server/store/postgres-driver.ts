import pg from "pg";
import type { Column, SqlDriver, SqlExecutor } from "./driver.js";
import { schemaIsCurrent } from "./schema.js";

/** Rewrites `?` placeholders to PostgreSQL's `$n` (the store never puts a literal `?` in SQL text). */
function toPostgres(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

class PgExecutor implements SqlExecutor {
  constructor(private readonly client: pg.Pool | pg.PoolClient) {}

  async all<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    const result = await this.client.query(toPostgres(sql), params as unknown[]);
    return result.rows as T[];
  }

  async run(sql: string, params: readonly unknown[] = []): Promise<number> {
    const result = await this.client.query(toPostgres(sql), params as unknown[]);
    return result.rowCount ?? 0;
  }

  async insertMany(table: string, columns: readonly Column[], rows: readonly (readonly unknown[])[], ignoreConflicts = false): Promise<void> {
    if (rows.length === 0) return;
    // One array parameter per column and unnest(): one short statement however many rows,
    // instead of thousands of placeholders to parse and plan.
    const arrays = columns.map((_, index) => rows.map((row) => row[index] ?? null));
    const names = columns.map(([name]) => name).join(", ");
    const unnest = columns.map(([, type], index) => `$${index + 1}::${type}[]`).join(", ");
    await this.client.query(`INSERT INTO ${table} (${names}) SELECT * FROM unnest(${unnest})${ignoreConflicts ? " ON CONFLICT DO NOTHING" : ""}`, arrays);
  }
}

/** How often a server drops request ids past their time. */
const PURGE_INTERVAL_MS = 60_000;

/** Options of the PostgreSQL store. */
export interface PostgresOptions {
  /** `postgres://user@host:port/database` */
  connectionString: string;
  /** Schema to use instead of `public` (created when missing); tests give each run its own. */
  schema?: string;
  /** Most connections this process opens. */
  maxConnections?: number;
}

/** PostgreSQL through a connection pool; each transaction holds one connection. */
export class PostgresDriver implements SqlDriver {
  readonly dialect = "postgres" as const;
  private readonly pool: pg.Pool;
  private readonly executor: PgExecutor;

  constructor(private readonly options: PostgresOptions) {
    if (options.schema !== undefined && !/^[a-z_][a-z0-9_]*$/.test(options.schema)) {
      throw new Error(`invalid PostgreSQL schema name '${options.schema}': use lower-case letters, digits and _`);
    }
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.maxConnections ?? 10,
      ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
    });
    // An idle connection that dies (database restart) must not crash the server.
    this.pool.on("error", () => undefined);
    this.executor = new PgExecutor(this.pool);
  }

  all<T>(sql: string, params?: readonly unknown[]): Promise<T[]> {
    return this.executor.all<T>(sql, params);
  }

  readInBackground(reads: ReadonlyArray<{ sql: string; params: readonly unknown[] }>): Promise<unknown[][]> {
    // A query waits on the database, not on this thread; REPEATABLE READ gives the reads one snapshot.
    return this.inTransaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", async (tx) => {
      const results: unknown[][] = [];
      for (const { sql, params } of reads) results.push(await tx.all(sql, params));
      return results;
    });
  }

  run(sql: string, params?: readonly unknown[]): Promise<number> {
    return this.executor.run(sql, params);
  }

  private lastPurge = 0;

  async rememberOnce(id: string, expiresAtMs: number): Promise<boolean> {
    const now = Date.now();
    if (now - this.lastPurge > PURGE_INTERVAL_MS) {
      this.lastPurge = now;
      // Every server purges now and then; a purge that fails is retried at the next interval.
      this.pool.query("DELETE FROM request_ids WHERE expires_at < $1", [now]).catch(() => undefined);
    }
    const result = await this.pool.query("INSERT INTO request_ids (id, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING", [id, expiresAtMs]);
    return result.rowCount === 1;
  }

  insertMany(table: string, columns: readonly Column[], rows: readonly (readonly unknown[])[], ignoreConflicts?: boolean): Promise<void> {
    return this.transaction((tx) => tx.insertMany(table, columns, rows, ignoreConflicts));
  }

  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.inTransaction("BEGIN", fn);
  }

  /** Runs `fn` on one pooled connection between `begin` and COMMIT (ROLLBACK when it throws). */
  private async inTransaction<T>(begin: string, fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query(begin);
      const result = await fn(new PgExecutor(client));
      await client.query("COMMIT");
      return result;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async migrate(statements: readonly string[], after?: (tx: SqlExecutor) => Promise<void>, fingerprint?: string): Promise<void> {
    if (this.options.schema) {
      try {
        await this.pool.query(`CREATE SCHEMA IF NOT EXISTS ${this.options.schema}`);
      } catch (error) {
        // Two servers starting at once may both try; the loser sees a duplicate, which is fine.
        if (!["23505", "42P06"].includes((error as { code?: string }).code ?? "")) throw error;
      }
    }
    await this.transaction(async (tx) => {
      // Several servers may start at once on one database: one migrates, the others wait.
      await tx.run("SELECT pg_advisory_xact_lock(7424873)");
      if (!fingerprint || !(await schemaIsCurrent(tx, "postgres", fingerprint))) for (const statement of statements) await tx.run(statement);
      if (after) await after(tx);
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
