// The server's store: organizations, objects (nodes, roles, environments, clients, data bags and
// items, cookbook versions), content-addressed cookbook files, bootstrap tokens and the search
// index, on SQLite or PostgreSQL through the same SQL.
import { createHash, randomBytes } from "node:crypto";
import { importOptional } from "../../core/optional.js";
import type { Query } from "../search/query.js";
import type { SearchScope } from "../search/sql.js";
import type { SqlDriver, SqlExecutor, TransactionOptions } from "./driver.js";
import { StoreError } from "./errors.js";
import { migrateSearch } from "./migrate-search.js";
import { SEARCH_FORMAT, schemaIsCurrent, schemaStatements } from "./schema.js";
import type { SearchState } from "./search-index.js";
import { deleteKeys, FieldCache, parseSearchState, planDocument, unusedKeys, writeSearchRows } from "./search-index.js";
import { checkLimitsOffThread, startPlanningThread, writeLargeSearchRows } from "./large-index.js";
import { searchObjects } from "./search-query.js";
import type { NamePage, ObjectKind, ObjectRef, PutOptions, SearchHit, SearchOptions, StoredObject, StoreLocation, StoreOptions } from "./types.js";
import { DEFAULT_INDEX_LIMITS } from "../limits.js";

export type { NamePage, ObjectKind, ObjectRef, PutOptions, SearchHit, SearchOptions, StoredObject, StoreLocation, StoreOptions } from "./types.js";

/** JSON size from which a save or a delete does its search index work off the request thread. */
const LARGE_DOCUMENT = 64 * 1024;

function newEtag(): string {
  return randomBytes(9).toString("base64url");
}

function now(): string {
  return new Date().toISOString();
}

/** The store. Obtain one with `Store.open`; `transaction` gives a store bound to one transaction. */
export class Store {
  private constructor(
    private readonly driver: SqlDriver,
    private readonly db: SqlExecutor,
    private readonly fields: FieldCache,
    /** Field numbers this transaction learned; shared once it commits. Undefined outside a transaction. */
    private readonly learned: Map<string, number> | undefined,
    private readonly options: StoreOptions = {},
  ) {}

  /** Opens (and creates or migrates) a store on SQLite or PostgreSQL. */
  static async open(location: StoreLocation, options: StoreOptions = {}): Promise<Store> {
    // Each driver is loaded only when used: a SQLite server never loads pg, and the reverse.
    const driver: SqlDriver =
      "sqliteFile" in location
        ? new (await importOptional(["better-sqlite3"], "a SQLite store", () => import("./sqlite-driver.js"))).SqliteDriver({ file: location.sqliteFile })
        : new (await importOptional(["pg"], "a PostgreSQL store", () => import("./postgres-driver.js"))).PostgresDriver({ connectionString: location.postgresUrl, ...(location.schema ? { schema: location.schema } : {}), ...(location.maxConnections ? { maxConnections: location.maxConnections } : {}) });
    const fields = new FieldCache();
    try {
      // Finding keys no view uses any more (stores made before it had no such index): after migrateSearch, which may make search_views anew.
      const statements = schemaStatements(driver.dialect);
      const late = ["CREATE INDEX IF NOT EXISTS search_views_by_group ON search_views (grp)"];
      // What the tables should be: a store that has it already runs no statement that locks a table.
      const fingerprint = createHash("sha256").update(JSON.stringify([SEARCH_FORMAT, statements, late])).digest("hex").slice(0, 16);
      await driver.migrate(
        statements,
        async (tx) => {
          await migrateSearch(tx, driver.dialect, fields, new Map());
          // Writes lock this row shared while they use cached key numbers (search-index.ts), so it must exist.
          await tx.run("INSERT INTO store_meta (name, value) VALUES ('fields_removed', '0') ON CONFLICT (name) DO NOTHING");
          if (await schemaIsCurrent(tx, driver.dialect, fingerprint)) return;
          for (const statement of late) await tx.run(statement);
          await tx.run("INSERT INTO store_meta (name, value) VALUES ('schema', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", [fingerprint]);
        },
        fingerprint,
      );
    } catch (error) {
      await driver.close().catch(() => undefined);
      throw error;
    }
    return new Store(driver, driver, fields, undefined, options);
  }

  /** `sqlite` or `postgres`. */
  get dialect(): "sqlite" | "postgres" {
    return this.driver.dialect;
  }

  /**
   * The SQL connection of this store (inside `transaction`, the transaction's), for subsystems
   * that keep tables of their own with the same SQL on both databases (run reports).
   */
  get sql(): SqlExecutor {
    return this.db;
  }

  /** Runs `fn` with a store whose every call is part of one transaction. */
  async transaction<T>(fn: (store: Store) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    if (this.learned) return fn(this);
    const learned = new Map<string, number>();
    const result = await this.driver.transaction((tx) => fn(new Store(this.driver, tx, this.fields, learned, this.options)), options);
    this.fields.addAll(learned);
    return result;
  }

  /**
   * Starts the threads that a large save's search work runs on (a planning thread; on SQLite the
   * writer thread), which otherwise start at the first large save and make it wait for them
   * (about 60 ms from dist/, 0.2-2 s under tsx). A server calls it when it starts; a command
   * that opens the store for one write does not.
   */
  startIndexThreads(): void {
    startPlanningThread();
    this.driver.startWriterThread?.();
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

  /** Creates an organization; a `conflict` StoreError when the name is taken. */
  async createOrg(name: string, fullName: string): Promise<void> {
    const rows = await this.transaction((t) =>
      t.db.all("INSERT INTO orgs (name, full_name, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING name", [name, fullName, now()]),
    );
    if (rows.length === 0) throw new StoreError("conflict", "already_exists", `organization '${name}' already exists`);
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
      await t.deleteSearchRows("obj_id IN (SELECT id FROM objects WHERE org = ?)", [name], false);
      // Every key of the organization goes too (other processes forget their cached numbers by the generation).
      await t.deleteIndexKeys("org = ?", [name]);
      await t.objectsChanged();
      await t.db.run("DELETE FROM objects WHERE org = ?", [name]);
      await t.db.run("DELETE FROM blobs WHERE org = ?", [name]);
      await t.db.run("DELETE FROM bootstrap_tokens WHERE org = ?", [name]);
      await t.db.run("DELETE FROM revoked_clients WHERE org = ?", [name]);
      for (const table of ["run_reports", "node_status", "run_requests", "run_request_nodes"]) await t.db.run(`DELETE FROM ${table} WHERE org = ?`, [name]);
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

  /** Writes an object and its search rows in one transaction; returns the new ETag and the JSON text stored. */
  async put(ref: ObjectRef, data: unknown, options: PutOptions): Promise<{ etag: string; created: boolean; json: string }> {
    const json = JSON.stringify(data);
    const etag = newEtag();
    const bag = ref.bag ?? "";
    // PostgreSQL: lock the row first, so that two concurrent saves of one object compute their
    // search changes one after the other (SQLite has a single writer).
    const lock = this.driver.dialect === "postgres" ? " FOR UPDATE" : "";
    const search = options.search;
    const limits = this.options.indexLimits ?? DEFAULT_INDEX_LIMITS;
    // Every document is checked against the index limits before the transaction begins, so that a
    // refused save costs no lock and no write; a large one off the request thread. A large one is
    // planned in the transaction (which writes its search state then): on SQLite the whole
    // transaction runs on the writer thread, which plans and writes its rows there; on PostgreSQL
    // a planning thread computes its rows.
    const large = search !== undefined && this.learned === undefined && json.length > LARGE_DOCUMENT;
    const offThread = large && this.driver.writesOffThread === true;
    if (large) await checkLimitsOffThread(search.document, limits);
    const planned = search && !large ? planDocument(search.document, limits) : undefined;
    const plan = planned?.plan;
    const state = planned?.stateJson ?? null;
    let candidates: number[] = [];
    const written = await this.transaction(async (t) => {
      const find = () =>
        t.db.all<{ id: number | string; etag: string; search_state: string | null }>(
          `SELECT id, etag, search_state FROM objects WHERE org = ? AND kind = ? AND bag = ? AND name = ?${lock}`,
          [ref.org, ref.kind, bag, ref.name],
        );
      const insert = async (): Promise<number | undefined> => {
        const rows = await t.db.all<{ id: number | string }>(
          "INSERT INTO objects (org, kind, bag, name, data, etag, updated_at, search_state) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (org, kind, bag, name) DO NOTHING RETURNING id",
          [ref.org, ref.kind, bag, ref.name, json, etag, now(), state],
        );
        return rows[0] ? Number(rows[0].id) : undefined;
      };
      let id: number | undefined;
      let previous: SearchState | undefined;
      let previousText: string | null = null;
      let created = false;
      if (options.mode !== "create" && lock) {
        // PostgreSQL: lock, check and update an existing object in one round trip, keeping its
        // previous search state; anything else (missing, stale ETag) takes the path below.
        const updated = await t.db.all<{ id: number | string; search_state: string | null }>(
          `UPDATE objects o SET data = ?, etag = ?, updated_at = ?, search_state = ? FROM (SELECT id, etag, search_state FROM objects WHERE org = ? AND kind = ? AND bag = ? AND name = ? FOR UPDATE) old WHERE o.id = old.id${options.ifMatch !== undefined ? " AND old.etag = ?" : ""} RETURNING o.id, old.search_state`,
          [json, etag, now(), state, ref.org, ref.kind, bag, ref.name, ...(options.ifMatch !== undefined ? [options.ifMatch] : [])],
        );
        if (updated[0]) {
          id = Number(updated[0].id);
          previousText = updated[0].search_state;
          if (!large) previous = parseSearchState(previousText);
        }
      }
      if (id === undefined && options.mode !== "create") {
        let existing = (await find())[0];
        if (!existing) {
          if (options.mode === "update" || options.ifMatch !== undefined) throw new StoreError("not_found", "not_found", `${describe(ref)} does not exist`);
          id = await insert();
          created = id !== undefined;
          // Created concurrently by another writer since the first look: update that one.
          if (id === undefined) existing = (await find())[0];
          if (!created && !existing) throw new StoreError("conflict", "write_conflict", `${describe(ref)} was written concurrently; retry`);
        }
        if (existing) {
          if (options.ifMatch !== undefined && existing.etag !== options.ifMatch) {
            throw new StoreError("stale", "precondition_failed", `${describe(ref)} changed since you read it (ETag ${options.ifMatch} no longer matches); read it again and retry`);
          }
          id = Number(existing.id);
          previousText = existing.search_state;
          if (!large) previous = parseSearchState(previousText);
          await t.db.run("UPDATE objects SET data = ?, etag = ?, updated_at = ?, search_state = ? WHERE id = ?", [json, etag, now(), state, id]);
        }
      } else if (id === undefined) {
        id = await insert();
        if (id === undefined) throw new StoreError("conflict", "already_exists", `${describe(ref)} already exists`);
        created = true;
      }
      if (search && large) {
        const job = { objId: id!, org: ref.org, idx: search.idx, document: search.document, previous: previousText, fresh: created };
        if (t.db.indexDocument) await t.db.indexDocument(job);
        else candidates = await writeLargeSearchRows(t.db, job);
      } else if (search && plan) {
        candidates = await writeSearchRows(t.db, t.fields, t.learned!, { objId: id!, org: ref.org, idx: search.idx }, plan, previous, created, { tracked: this.tracked, oneStatement: this.driver.dialect === "postgres" });
        candidates = await t.collectKeysInside(candidates);
      }
      if (created) await t.objectsChanged();
      return { etag, created, json };
    }, { offThread });
    await this.collectKeysAfter(candidates);
    return written;
  }

  /**
   * Deletes the search keys among `candidates` that no object uses any more. SQLite (one writer):
   * in the write's own transaction, returning nothing left to do; PostgreSQL: returns them, for
   * `collectKeysAfter` to delete in a transaction of their own once the write committed (it takes
   * the key generation's lock exclusively, which a write holding it shared must not wait for).
   */
  private async collectKeysInside(candidates: number[]): Promise<number[]> {
    if (!this.tracked || candidates.length === 0) return candidates;
    const unused = await unusedKeys(this.db, candidates);
    if (unused.length > 0) await deleteKeys(this.db, this.fields, unused);
    return [];
  }

  private async collectKeysAfter(candidates: number[]): Promise<void> {
    if (candidates.length === 0) return;
    if (this.learned) {
      // Inside a caller's transaction: done inside it where that is safe (SQLite), else left for later saves.
      await this.collectKeysInside(candidates);
      return;
    }
    const unused = await unusedKeys(this.db, candidates);
    if (unused.length > 0) await this.transaction((t) => deleteKeys(t.db, t.fields, unused));
  }

  /** Deletes an object and its search rows; false when it did not exist; a `stale` StoreError when `ifMatch` no longer matches. */
  async delete(ref: ObjectRef, ifMatch?: string): Promise<boolean> {
    let candidates: number[] = [];
    // A large object's rows are deleted on the writer thread (SQLite), as they were written.
    const offThread = this.driver.writesOffThread === true && this.learned === undefined && (await this.storedSize(ref)) > LARGE_DOCUMENT;
    const deleted = await this.transaction(async (t) => {
      const rows = await t.db.all<{ id: number | string; etag: string }>(
        "SELECT id, etag FROM objects WHERE org = ? AND kind = ? AND bag = ? AND name = ?",
        [ref.org, ref.kind, ref.bag ?? "", ref.name],
      );
      const row = rows[0];
      if (!row) return false;
      if (ifMatch !== undefined && row.etag !== ifMatch) {
        throw new StoreError("stale", "precondition_failed", `${describe(ref)} changed since you read it (ETag ${ifMatch} no longer matches)`);
      }
      candidates = await t.deleteSearchRows("obj_id = ?", [row.id]);
      await t.db.run("DELETE FROM objects WHERE id = ?", [row.id]);
      await t.objectsChanged();
      candidates = await t.collectKeysInside(candidates);
      return true;
    }, { offThread });
    await this.collectKeysAfter(candidates);
    return deleted;
  }

  /** Bytes of an object's stored JSON (0 when it does not exist), read without reading the JSON. */
  private async storedSize(ref: ObjectRef): Promise<number> {
    const rows = await this.db.all<{ size: number | string }>("SELECT octet_length(data) AS size FROM objects WHERE org = ? AND kind = ? AND bag = ? AND name = ?", [ref.org, ref.kind, ref.bag ?? "", ref.name]);
    return Number(rows[0]?.size ?? 0);
  }

  /** Deletes every object of a kind in a bag (a data bag's items), with their search rows. */
  async deleteAllInBag(org: string, kind: ObjectKind, bag: string): Promise<number> {
    return this.transaction(async (t) => {
      await t.deleteSearchRows("obj_id IN (SELECT id FROM objects WHERE org = ? AND kind = ? AND bag = ?)", [org, kind, bag], false);
      // A data bag's items are the only objects of its index.
      if (kind === "item") await t.deleteIndexKeys("org = ? AND idx = ?", [org, `bag:${bag}`]);
      await t.objectsChanged();
      return t.db.run("DELETE FROM objects WHERE org = ? AND kind = ? AND bag = ?", [org, kind, bag]);
    });
  }

  /** Whether this store keeps keys' versions for the search result cache (SQLite: its writes cost no round trips and take no row locks). */
  private get tracked(): boolean {
    return this.driver.dialect === "sqlite";
  }

  /** Deletes the search rows and views of the objects `where` selects, bumping the versions of the keys they had. */
  private async deleteSearchRows(where: string, params: unknown[], collect = true): Promise<number[]> {
    // The keys these rows and views use: afterwards some may be used by nothing.
    const used = collect ? await this.db.all<{ id: number | string }>(`SELECT field AS id FROM search_terms WHERE ${where} UNION SELECT grp AS id FROM search_views WHERE ${where}`, [...params, ...params]) : [];
    if (this.tracked) await this.db.run(`UPDATE search_fields SET version = version + 1 WHERE id IN (SELECT DISTINCT field FROM search_terms WHERE ${where})`, params);
    await this.db.run(`DELETE FROM search_terms WHERE ${where}`, params);
    await this.db.run(`DELETE FROM search_views WHERE ${where}`, params);
    return used.map((row) => Number(row.id));
  }

  /** Deletes every search key `where` selects (their objects are gone), moving the key generation. */
  private async deleteIndexKeys(where: string, params: unknown[]): Promise<void> {
    await this.db.run("INSERT INTO store_meta (name, value) VALUES ('fields_removed', '1') ON CONFLICT (name) DO UPDATE SET value = CAST(CAST(store_meta.value AS INTEGER) + 1 AS TEXT)");
    this.fields.invalidate();
    await this.db.run(`DELETE FROM search_fields WHERE ${where}`, params);
  }

  /** Records that objects were created or deleted: searches over every object (`*:*`, NOT) depend on that. */
  private async objectsChanged(): Promise<void> {
    if (!this.tracked) return;
    await this.db.run("INSERT INTO store_meta (name, value) VALUES ('objects_version', '1') ON CONFLICT (name) DO UPDATE SET value = CAST(CAST(store_meta.value AS INTEGER) + 1 AS TEXT)");
  }

  // ---- search ----
  /**
   * Runs a query inside the database; returns the total and one page of hits, each with its whole
   * document as JSON text, or with only the top-level attributes asked for (partial search), so
   * that a page of large documents is never parsed here.
   */
  async search(scope: SearchScope, query: Query, options: SearchOptions): Promise<{ total: number; hits: SearchHit[]; cached?: boolean }> {
    return searchObjects({ driver: this.driver, db: this.db, inTransaction: this.learned !== undefined, searchCache: this.options.searchCache !== false }, scope, query, options);
  }

  // ---- cookbook files ----

  /** Which of these SHA-256 checksums the organization does not have yet. */
  async missingBlobs(org: string, checksums: readonly string[]): Promise<string[]> {
    const present = await this.blobSizes(org, checksums);
    return [...new Set(checksums)].filter((sum) => !present.has(sum));
  }

  /** The sizes in bytes of the organization's files with these checksums (those it has). */
  async blobSizes(org: string, checksums: readonly string[]): Promise<Map<string, number>> {
    const sizes = new Map<string, number>();
    const unique = [...new Set(checksums)];
    for (let start = 0; start < unique.length; start += 500) {
      const part = unique.slice(start, start + 500);
      const rows = await this.db.all<{ sha256: string; size: number | string }>(`SELECT sha256, size FROM blobs WHERE org = ? AND sha256 IN (${part.map(() => "?").join(", ")})`, [org, ...part]);
      for (const row of rows) sizes.set(row.sha256, Number(row.size));
    }
    return sizes;
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

  // ---- signed requests ----

  /**
   * Records a signed request's id (with the identity that signed it) until `expiresAtMs`; false
   * when it was recorded before, i.e. the request is a replay. Every server on the store sees it.
   */
  async rememberRequest(signer: string, requestId: string, expiresAtMs: number): Promise<boolean> {
    return this.driver.rememberOnce(`${signer}\n${requestId}`, expiresAtMs);
  }

  // ---- revoked client names ----

  /** Records that a client was revoked: its name cannot register again until `allowClientName`. */
  async revokeClientName(org: string, name: string): Promise<void> {
    await this.transaction((t) => t.db.run("INSERT INTO revoked_clients (org, name, revoked_at) VALUES (?, ?, ?) ON CONFLICT (org, name) DO NOTHING", [org, name, now()]));
  }

  /** Whether a client name was revoked (and not allowed again since). */
  async isClientNameRevoked(org: string, name: string): Promise<boolean> {
    return (await this.db.all("SELECT 1 AS one FROM revoked_clients WHERE org = ? AND name = ?", [org, name])).length > 0;
  }

  /** Allows a revoked client name again (an administrator creates the client). */
  async allowClientName(org: string, name: string): Promise<void> {
    await this.transaction((t) => t.db.run("DELETE FROM revoked_clients WHERE org = ? AND name = ?", [org, name]));
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

  /** Changes an organization's full name; with `expectedFullName`, only while it still has that one. False when nothing matched. */
  async updateOrg(name: string, fullName: string, expectedFullName?: string): Promise<boolean> {
    const changed = await this.transaction((t) =>
      expectedFullName === undefined
        ? t.db.run("UPDATE orgs SET full_name = ? WHERE name = ?", [fullName, name])
        : t.db.run("UPDATE orgs SET full_name = ? WHERE name = ? AND full_name = ?", [fullName, name, expectedFullName]),
    );
    return changed > 0;
  }
}


function describe(ref: ObjectRef): string {
  const kind = ref.kind === "item" ? `data bag item '${ref.bag}/` : ref.kind === "cookbook" ? `cookbook '${ref.bag}@` : `${ref.kind.replace("_", " ")} '`;
  return `${kind}${ref.name}'`;
}
