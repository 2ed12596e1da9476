// The server's store: organizations, objects (nodes, roles, environments, clients, data bags and
// items, cookbook versions), content-addressed cookbook files, bootstrap tokens and the search
// index, on SQLite or PostgreSQL through the same SQL.
import { randomBytes } from "node:crypto";
import { ApiError, conflict } from "../errors.js";
import type { SearchRow } from "../search/flatten.js";
import { numericValue } from "../search/flatten.js";
import type { Query } from "../search/query.js";
import type { SearchScope } from "../search/sql.js";
import { compileQuery } from "../search/sql.js";
import type { SqlDriver, SqlExecutor } from "./driver.js";
import { schemaStatements } from "./schema.js";

/** What kind of object a row of the objects table holds. */
export type ObjectKind = "node" | "role" | "environment" | "client" | "data_bag" | "item" | "cookbook";

/** An object as stored, with its ETag. */
export interface StoredObject<T = Record<string, unknown>> {
  name: string;
  data: T;
  etag: string;
  updatedAt: string;
}

/** Where an object lives: organization, kind, and the bag for data bag items (cookbook name for cookbook versions). */
export interface ObjectRef {
  org: string;
  kind: ObjectKind;
  name: string;
  bag?: string;
}

/** How a write treats an existing object. */
export interface PutOptions {
  /** create: fail if it exists (409); update: fail if missing (404); upsert: either. */
  mode: "create" | "update" | "upsert";
  /** The ETag the caller last read; the write fails with 412 when the object changed since. */
  ifMatch?: string;
  /** Search index name and rows to keep in step with the object, in the same transaction. */
  search?: { idx: string; rows: readonly SearchRow[] };
}

/** One page of names. */
export interface NamePage {
  total: number;
  names: string[];
}

/** Options of a search. */
export interface SearchOptions {
  start: number;
  rows: number;
  /** A flattened key to sort by (its smallest value), then by name; default by name. */
  sortKey?: string;
  descending?: boolean;
}

/** Where the store keeps its data. */
export type StoreLocation = { sqliteFile: string } | { postgresUrl: string; schema?: string; maxConnections?: number };

/** One search hit. */
export interface SearchHit {
  name: string;
  data: Record<string, unknown>;
}

function newEtag(): string {
  return randomBytes(9).toString("base64url");
}

function now(): string {
  return new Date().toISOString();
}

function rowId(key: string, value: string): string {
  return `${key}\u0000${value}`;
}

/** The store. Obtain one with `Store.open`; `transaction` gives a store bound to one transaction. */
export class Store {
  private constructor(
    private readonly driver: SqlDriver,
    private readonly db: SqlExecutor,
    private readonly inTransaction: boolean,
  ) {}

  /** Opens (and creates or migrates) a store on SQLite or PostgreSQL. */
  static async open(location: StoreLocation): Promise<Store> {
    // Each driver is loaded only when used: a SQLite server never loads pg, and the reverse.
    const driver: SqlDriver =
      "sqliteFile" in location
        ? new (await import("./sqlite-driver.js")).SqliteDriver({ file: location.sqliteFile })
        : new (await import("./postgres-driver.js")).PostgresDriver({ connectionString: location.postgresUrl, ...(location.schema ? { schema: location.schema } : {}), ...(location.maxConnections ? { maxConnections: location.maxConnections } : {}) });
    try {
      await driver.migrate(schemaStatements(driver.dialect));
    } catch (error) {
      await driver.close().catch(() => undefined);
      throw error;
    }
    return new Store(driver, driver, false);
  }

  /** `sqlite` or `postgres`. */
  get dialect(): "sqlite" | "postgres" {
    return this.driver.dialect;
  }

  /** Runs `fn` with a store whose every call is part of one transaction. */
  async transaction<T>(fn: (store: Store) => Promise<T>): Promise<T> {
    if (this.inTransaction) return fn(this);
    return this.driver.transaction((tx) => fn(new Store(this.driver, tx, true)));
  }

  /** Closes the database connections. */
  async close(): Promise<void> {
    await this.driver.close();
  }

  // ---- server administrators ----

  /** The public key of a server administrator, if that name exists. */
  async serverAdminKey(name: string): Promise<string | undefined> {
    const rows = await this.db.all<{ public_key: string }>("SELECT public_key FROM server_admins WHERE name = ?", [name]);
    return rows[0]?.public_key;
  }

  /** Adds a server administrator unless one of that name exists; true when added. */
  async addServerAdmin(name: string, publicKey: string): Promise<boolean> {
    const rows = await this.transaction((t) =>
      t.db.all("INSERT INTO server_admins (name, public_key, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING name", [name, publicKey, now()]),
    );
    return rows.length === 1;
  }

  // ---- organizations ----

  /** Creates an organization; 409 when the name is taken. */
  async createOrg(name: string, fullName: string): Promise<void> {
    const rows = await this.transaction((t) =>
      t.db.all("INSERT INTO orgs (name, full_name, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING name", [name, fullName, now()]),
    );
    if (rows.length === 0) throw conflict("already_exists", `organization '${name}' already exists`);
  }

  /** An organization, if it exists. */
  async getOrg(name: string): Promise<{ name: string; full_name: string; created_at: string } | undefined> {
    const rows = await this.db.all<{ name: string; full_name: string; created_at: string }>("SELECT name, full_name, created_at FROM orgs WHERE name = ?", [name]);
    return rows[0];
  }

  /** Every organization's name, sorted. */
  async listOrgs(): Promise<string[]> {
    const rows = await this.db.all<{ name: string }>("SELECT name FROM orgs ORDER BY name");
    return rows.map((row) => row.name);
  }

  /** Deletes an organization and everything in it; false when it did not exist. */
  async deleteOrg(name: string): Promise<boolean> {
    return this.transaction(async (t) => {
      await t.db.run("DELETE FROM search_rows WHERE org = ?", [name]);
      await t.db.run("DELETE FROM search_keys WHERE org = ?", [name]);
      await t.db.run("DELETE FROM objects WHERE org = ?", [name]);
      await t.db.run("DELETE FROM blobs WHERE org = ?", [name]);
      await t.db.run("DELETE FROM bootstrap_tokens WHERE org = ?", [name]);
      return (await t.db.run("DELETE FROM orgs WHERE name = ?", [name])) > 0;
    });
  }

  // ---- objects ----

  /** An object, or undefined when it does not exist. */
  async get<T = Record<string, unknown>>(ref: ObjectRef): Promise<StoredObject<T> | undefined> {
    const rows = await this.db.all<{ name: string; data: string; etag: string; updated_at: string }>(
      "SELECT name, data, etag, updated_at FROM objects WHERE org = ? AND kind = ? AND bag = ? AND name = ?",
      [ref.org, ref.kind, ref.bag ?? "", ref.name],
    );
    const row = rows[0];
    return row ? { name: row.name, data: JSON.parse(row.data) as T, etag: row.etag, updatedAt: row.updated_at } : undefined;
  }

  /** Names of objects of a kind (in a bag), sorted, one page at a time. */
  async list(org: string, kind: ObjectKind, bag = "", page: { start: number; rows: number } = { start: 0, rows: 1_000_000 }): Promise<NamePage> {
    const rows = await this.db.all<{ name: string; total: number | string }>(
      "SELECT name, count(*) OVER () AS total FROM objects WHERE org = ? AND kind = ? AND bag = ? ORDER BY name LIMIT ? OFFSET ?",
      [org, kind, bag, page.rows, page.start],
    );
    const total = rows.length > 0 ? Number(rows[0]!.total) : page.start > 0 ? await this.count(org, kind, bag) : 0;
    return { total, names: rows.map((row) => row.name) };
  }

  /** Number of objects of a kind (in a bag). */
  async count(org: string, kind: ObjectKind, bag = ""): Promise<number> {
    const rows = await this.db.all<{ n: number | string }>("SELECT count(*) AS n FROM objects WHERE org = ? AND kind = ? AND bag = ?", [org, kind, bag]);
    return Number(rows[0]?.n ?? 0);
  }

  /** Every (bag, name) of a kind, for listings that span bags (cookbooks and their versions). */
  async listAcrossBags(org: string, kind: ObjectKind): Promise<Array<{ bag: string; name: string }>> {
    return this.db.all<{ bag: string; name: string }>("SELECT bag, name FROM objects WHERE org = ? AND kind = ? ORDER BY bag, name", [org, kind]);
  }

  /** Writes an object and its search rows in one transaction; returns the new ETag. */
  async put(ref: ObjectRef, data: unknown, options: PutOptions): Promise<{ etag: string; created: boolean }> {
    const json = JSON.stringify(data);
    const etag = newEtag();
    const bag = ref.bag ?? "";
    return this.transaction(async (t) => {
      let id: number | undefined;
      let created = false;
      const update = async (): Promise<number | undefined> => {
        const params: unknown[] = [json, etag, now(), ref.org, ref.kind, bag, ref.name];
        let sql = "UPDATE objects SET data = ?, etag = ?, updated_at = ? WHERE org = ? AND kind = ? AND bag = ? AND name = ?";
        if (options.ifMatch !== undefined) {
          sql += " AND etag = ?";
          params.push(options.ifMatch);
        }
        const rows = await t.db.all<{ id: number | string }>(`${sql} RETURNING id`, params);
        return rows[0] ? Number(rows[0].id) : undefined;
      };
      const insert = async (): Promise<number | undefined> => {
        const rows = await t.db.all<{ id: number | string }>(
          "INSERT INTO objects (org, kind, bag, name, data, etag, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (org, kind, bag, name) DO NOTHING RETURNING id",
          [ref.org, ref.kind, bag, ref.name, json, etag, now()],
        );
        return rows[0] ? Number(rows[0].id) : undefined;
      };
      if (options.mode === "create") {
        id = await insert();
        if (id === undefined) throw conflict("already_exists", `${describe(ref)} already exists`);
        created = true;
      } else {
        id = await update();
        if (id === undefined) {
          const exists = (await t.db.all("SELECT 1 AS one FROM objects WHERE org = ? AND kind = ? AND bag = ? AND name = ?", [ref.org, ref.kind, bag, ref.name])).length > 0;
          if (exists) {
            throw new ApiError(412, "precondition_failed", `${describe(ref)} changed since you read it (ETag ${options.ifMatch} no longer matches); read it again and retry`);
          }
          if (options.mode === "update" || options.ifMatch !== undefined) {
            throw new ApiError(404, "not_found", `${describe(ref)} does not exist`);
          }
          id = await insert();
          if (id === undefined) id = await update();
          if (id === undefined) throw conflict("write_conflict", `${describe(ref)} was written concurrently; retry`);
          created = true;
        }
      }
      if (options.search) await t.replaceSearchRows(id, ref.org, options.search.idx, options.search.rows, created);
      return { etag, created };
    });
  }

  /** Brings an object's search rows to `rows`, writing only the difference (an agent's save changes few values). */
  private async replaceSearchRows(id: number, org: string, idx: string, rows: readonly SearchRow[], fresh: boolean): Promise<void> {
    const wanted = new Map<string, SearchRow>();
    for (const row of rows) wanted.set(rowId(row[0], row[1]), row);
    if (!fresh) {
      const existing = await this.db.all<{ key: string; value: string }>("SELECT key, value FROM search_rows WHERE obj_id = ?", [id]);
      const stale: Array<[string, string]> = [];
      for (const row of existing) {
        const key = rowId(row.key, row.value);
        if (wanted.has(key)) wanted.delete(key);
        else stale.push([row.key, row.value]);
      }
      if (stale.length > existing.length / 2 && stale.length > 20) {
        await this.db.run("DELETE FROM search_rows WHERE obj_id = ?", [id]);
        wanted.clear();
        for (const row of rows) wanted.set(rowId(row[0], row[1]), row);
      } else {
        for (const [key, value] of stale) await this.db.run("DELETE FROM search_rows WHERE obj_id = ? AND key = ? AND value = ?", [id, key, value]);
      }
    }
    if (wanted.size === 0) return;
    const added = [...wanted.values()];
    await this.db.insertMany(
      "search_rows",
      [["org", "text"], ["idx", "text"], ["key", "text"], ["value", "text"], ["num", "double precision"], ["obj_id", "bigint"]],
      added.map(([key, value]) => [org, idx, key, value, numericValue(value), id]),
    );
    const keys = [...new Set(added.map(([key]) => key))];
    await this.db.insertMany("search_keys", [["org", "text"], ["idx", "text"], ["key", "text"]], keys.map((key) => [org, idx, key]), true);
  }

  /** Deletes an object and its search rows; false when it did not exist; 412 when `ifMatch` is stale. */
  async delete(ref: ObjectRef, ifMatch?: string): Promise<boolean> {
    return this.transaction(async (t) => {
      const rows = await t.db.all<{ id: number | string; etag: string }>(
        "SELECT id, etag FROM objects WHERE org = ? AND kind = ? AND bag = ? AND name = ?",
        [ref.org, ref.kind, ref.bag ?? "", ref.name],
      );
      const row = rows[0];
      if (!row) return false;
      if (ifMatch !== undefined && row.etag !== ifMatch) {
        throw new ApiError(412, "precondition_failed", `${describe(ref)} changed since you read it (ETag ${ifMatch} no longer matches)`);
      }
      await t.db.run("DELETE FROM search_rows WHERE obj_id = ?", [row.id]);
      await t.db.run("DELETE FROM objects WHERE id = ?", [row.id]);
      return true;
    });
  }

  /** Deletes every object of a kind in a bag (a data bag's items), with their search rows. */
  async deleteAllInBag(org: string, kind: ObjectKind, bag: string): Promise<number> {
    return this.transaction(async (t) => {
      await t.db.run("DELETE FROM search_rows WHERE obj_id IN (SELECT id FROM objects WHERE org = ? AND kind = ? AND bag = ?)", [org, kind, bag]);
      return t.db.run("DELETE FROM objects WHERE org = ? AND kind = ? AND bag = ?", [org, kind, bag]);
    });
  }

  // ---- search ----

  /** Runs a query inside the database; returns the total and one page of objects. */
  async search(scope: SearchScope, query: Query, options: SearchOptions): Promise<{ total: number; hits: SearchHit[] }> {
    const set = compileQuery(query, scope);
    const params: unknown[] = [...set.params];
    let order = "o.name";
    if (options.sortKey !== undefined) {
      order = `(SELECT min(s.value) FROM search_rows s WHERE s.obj_id = o.id AND s.key = ?) ${options.descending ? "DESC" : "ASC"} NULLS LAST, o.name`;
      params.push(options.sortKey);
    } else if (options.descending) {
      order = "o.name DESC";
    }
    params.push(options.rows, options.start);
    const page = await this.db.all<{ id: number | string; total: number | string }>(
      `SELECT o.id, count(*) OVER () AS total FROM objects o WHERE o.id IN (${set.sql}) ORDER BY ${order} LIMIT ? OFFSET ?`,
      params,
    );
    let total = page.length > 0 ? Number(page[0]!.total) : 0;
    if (page.length === 0 && options.start > 0) {
      const counted = await this.db.all<{ n: number | string }>(`SELECT count(*) AS n FROM (${set.sql}) c`, set.params);
      total = Number(counted[0]?.n ?? 0);
    }
    if (page.length === 0) return { total, hits: [] };
    const ids = page.map((row) => Number(row.id));
    const marks = ids.map(() => "?").join(", ");
    const rows = await this.db.all<{ id: number | string; name: string; data: string }>(`SELECT id, name, data FROM objects WHERE id IN (${marks})`, ids);
    const byId = new Map(rows.map((row) => [Number(row.id), row]));
    const hits: SearchHit[] = [];
    for (const id of ids) {
      const row = byId.get(id);
      // A row deleted between the two statements is simply absent from this page.
      if (row) hits.push({ name: row.name, data: JSON.parse(row.data) as Record<string, unknown> });
    }
    return { total, hits };
  }

  // ---- cookbook files ----

  /** Which of these SHA-256 checksums the organization does not have yet. */
  async missingBlobs(org: string, checksums: readonly string[]): Promise<string[]> {
    if (checksums.length === 0) return [];
    const present = new Set<string>();
    for (let start = 0; start < checksums.length; start += 500) {
      const part = checksums.slice(start, start + 500);
      const rows = await this.db.all<{ sha256: string }>(`SELECT sha256 FROM blobs WHERE org = ? AND sha256 IN (${part.map(() => "?").join(", ")})`, [org, ...part]);
      for (const row of rows) present.add(row.sha256);
    }
    return [...new Set(checksums)].filter((sum) => !present.has(sum));
  }

  /** Stores a file's content under its checksum (the caller verified it); a second upload is a no-op. */
  async putBlob(org: string, sha256: string, content: Buffer): Promise<void> {
    await this.transaction((t) =>
      t.db.run("INSERT INTO blobs (org, sha256, size, content) VALUES (?, ?, ?, ?) ON CONFLICT (org, sha256) DO NOTHING", [org, sha256, content.length, content]),
    );
  }

  /** A file's content by checksum. */
  async getBlob(org: string, sha256: string): Promise<Buffer | undefined> {
    const rows = await this.db.all<{ content: Buffer | Uint8Array }>("SELECT content FROM blobs WHERE org = ? AND sha256 = ?", [org, sha256]);
    const content = rows[0]?.content;
    return content === undefined ? undefined : Buffer.from(content);
  }

  // ---- bootstrap tokens ----

  /** Records a one-time bootstrap token (by its hash). */
  async addBootstrapToken(org: string, tokenHash: string, expiresAt: Date, createdBy: string): Promise<void> {
    await this.transaction((t) =>
      t.db.run("INSERT INTO bootstrap_tokens (token_hash, org, expires_at, created_by) VALUES (?, ?, ?, ?)", [tokenHash, org, expiresAt.toISOString(), createdBy]),
    );
  }

  /** Uses up a bootstrap token: true only once, and only before it expires. */
  async consumeBootstrapToken(org: string, tokenHash: string): Promise<boolean> {
    const rows = await this.transaction((t) =>
      t.db.all<{ expires_at: string }>("DELETE FROM bootstrap_tokens WHERE token_hash = ? AND org = ? RETURNING expires_at", [tokenHash, org]),
    );
    const row = rows[0];
    return row !== undefined && Date.parse(row.expires_at) > Date.now();
  }
}

function describe(ref: ObjectRef): string {
  const kind = ref.kind === "item" ? `data bag item '${ref.bag}/` : ref.kind === "cookbook" ? `cookbook '${ref.bag}@` : `${ref.kind.replace("_", " ")} '`;
  return `${kind}${ref.name}'`;
}
