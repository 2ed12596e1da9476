import type { SqlExecutor } from "./driver.js";
// The store's tables, written once; the few types that differ between SQLite and PostgreSQL
// are filled in per dialect.

function types(dialect: "sqlite" | "postgres"): { text: string; id: string; real: string; blob: string; bigint: string } {
  const pg = dialect === "postgres";
  return {
    // Byte-order comparison on both databases: search is case-sensitive and ranges compare bytes.
    text: pg ? 'TEXT COLLATE "C"' : "TEXT",
    id: pg ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY",
    real: pg ? "DOUBLE PRECISION" : "REAL",
    blob: pg ? "BYTEA" : "BLOB",
    bigint: pg ? "BIGINT" : "INTEGER",
  };
}

/** The statements that create the store's tables and indexes for a dialect (the search index apart). */
export function schemaStatements(dialect: "sqlite" | "postgres"): string[] {
  const { text, id, blob, bigint } = types(dialect);
  return [
    `CREATE TABLE IF NOT EXISTS server_admins (name ${text} PRIMARY KEY, public_key TEXT NOT NULL, created_at TEXT NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS orgs (name ${text} PRIMARY KEY, full_name TEXT NOT NULL, created_at TEXT NOT NULL)`,
    // search_state: a digest of each top-level attribute's search rows, so that a save finds
    // what changed without reading the rows back. data comes last: a row's small columns are
    // then read without walking the pages of a large document.
    `CREATE TABLE IF NOT EXISTS objects (
       id ${id},
       org ${text} NOT NULL,
       kind ${text} NOT NULL,
       bag ${text} NOT NULL DEFAULT '',
       name ${text} NOT NULL,
       etag TEXT NOT NULL,
       updated_at TEXT NOT NULL,
       search_state TEXT,
       data TEXT NOT NULL,
       UNIQUE (org, kind, bag, name))`,
    `CREATE TABLE IF NOT EXISTS blobs (org ${text} NOT NULL, sha256 ${text} NOT NULL, size ${bigint} NOT NULL, content ${blob} NOT NULL, PRIMARY KEY (org, sha256))`,
    `CREATE TABLE IF NOT EXISTS bootstrap_tokens (token_hash ${text} PRIMARY KEY, org ${text} NOT NULL, expires_at TEXT NOT NULL, created_by TEXT NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS store_meta (name ${text} PRIMARY KEY, value TEXT NOT NULL)`,
    // Clients an administrator revoked: their names cannot register again until allowed.
    `CREATE TABLE IF NOT EXISTS revoked_clients (org ${text} NOT NULL, name ${text} NOT NULL, revoked_at TEXT NOT NULL, PRIMARY KEY (org, name))`,
    // Ids of signed requests seen within the clock-skew window (replays are refused). SQLite keeps
    // them in a file of their own (see SqliteDriver), so that recording one never waits for a save.
    ...(dialect === "postgres"
      ? [`CREATE TABLE IF NOT EXISTS request_ids (id ${text} PRIMARY KEY, expires_at BIGINT NOT NULL)`, "CREATE INDEX IF NOT EXISTS request_ids_by_expiry ON request_ids (expires_at)"]
      : []),
    ...fleetSchemaStatements(dialect),
  ];
}

/**
 * Run reports, each node's status (its last report, kept up to date by every report so that
 * `sous node status` reads one row per node), and run-now requests with the nodes each asked.
 * Times are ISO 8601 UTC text (they order as text).
 */
function fleetSchemaStatements(dialect: "sqlite" | "postgres"): string[] {
  const { text, bigint } = types(dialect);
  return [
    `CREATE TABLE IF NOT EXISTS run_reports (
       org ${text} NOT NULL,
       id ${text} NOT NULL,
       node ${text} NOT NULL,
       status ${text} NOT NULL,
       started_at ${text} NOT NULL,
       ended_at ${text} NOT NULL,
       received_at ${text} NOT NULL,
       run_request ${text},
       updated ${bigint} NOT NULL,
       data TEXT NOT NULL,
       PRIMARY KEY (org, id))`,
    "CREATE INDEX IF NOT EXISTS run_reports_by_node ON run_reports (org, node, ended_at)",
    "CREATE INDEX IF NOT EXISTS run_reports_by_org_time ON run_reports (org, ended_at)",
    "CREATE INDEX IF NOT EXISTS run_reports_by_time ON run_reports (ended_at)",
    "CREATE INDEX IF NOT EXISTS run_reports_by_request ON run_reports (org, run_request)",
    `CREATE TABLE IF NOT EXISTS node_status (
       org ${text} NOT NULL,
       node ${text} NOT NULL,
       last_checkin ${text} NOT NULL,
       last_status ${text} NOT NULL,
       last_report ${text} NOT NULL,
       updated ${bigint} NOT NULL,
       resources ${bigint} NOT NULL,
       PRIMARY KEY (org, node))`,
    `CREATE TABLE IF NOT EXISTS run_requests (org ${text} NOT NULL, id ${text} NOT NULL, query TEXT NOT NULL, nodes TEXT NOT NULL, created_at ${text} NOT NULL, created_by TEXT NOT NULL, PRIMARY KEY (org, id))`,
    "CREATE INDEX IF NOT EXISTS run_requests_by_time ON run_requests (created_at)",
    `CREATE TABLE IF NOT EXISTS run_request_nodes (org ${text} NOT NULL, request_id ${text} NOT NULL, node ${text} NOT NULL, created_at ${text} NOT NULL, report_id ${text}, PRIMARY KEY (org, request_id, node))`,
    "CREATE INDEX IF NOT EXISTS run_request_nodes_by_node ON run_request_nodes (org, node, created_at)",
  ];
}

/** Version of the search index's layout; a store with another one is reindexed when it opens. */
// 6: `chef_type` and `data_bag` rows, and numbers of values with a unit (`"8167980kB"`).
export const SEARCH_FORMAT = "6";

/** Tables of older search index layouts, dropped when the index is rebuilt. */
export const OLD_SEARCH_TABLES = ["search_rows", "search_keys"] as const;

/**
 * The search index: every flattened key of an index gets a number once (search_fields), and each
 * object's rows are (object, key number, value, top-level group). Numbers instead of repeated
 * organization, index and key texts keep the index small; the group (the number of the top-level
 * attribute's key) lets a save rewrite only the top-level attributes that changed. search_views
 * holds each top-level attribute of what search sees (a node's merged attributes) as JSON, so
 * partial search reads a few small values per hit instead of parsing whole documents.
 */
export function searchSchemaStatements(dialect: "sqlite" | "postgres"): string[] {
  const pg = dialect === "postgres";
  const { text, id, real, bigint } = types(dialect);
  return [
    // rkey: the key reversed, so that a suffix pattern (`*_product_name`) is an index seek.
    // version: bumped whenever a row of this key is added or removed (SQLite), so that a cached
    // search result can tell whether the keys it depends on changed.
    `CREATE TABLE IF NOT EXISTS search_fields (id ${id}, org ${text} NOT NULL, idx ${text} NOT NULL, key ${text} NOT NULL, rkey ${text}, version ${bigint} NOT NULL DEFAULT 0, UNIQUE (org, idx, key))`,
    "CREATE INDEX IF NOT EXISTS search_fields_by_suffix ON search_fields (org, idx, rkey)",
    // Clustered by object in SQLite (WITHOUT ROWID): a save deletes and inserts one object's rows together.
    `CREATE TABLE IF NOT EXISTS search_terms (
       obj_id ${bigint} NOT NULL,
       field ${bigint} NOT NULL,
       value ${text} NOT NULL,
       grp ${bigint} NOT NULL,
       num ${real},
       PRIMARY KEY (obj_id, field, value, grp))${pg ? "" : " WITHOUT ROWID"}`,
    "CREATE INDEX IF NOT EXISTS search_terms_by_value ON search_terms (field, value, obj_id)",
    "CREATE INDEX IF NOT EXISTS search_terms_by_number ON search_terms (field, num, obj_id) WHERE num IS NOT NULL",
    `CREATE TABLE IF NOT EXISTS search_views (obj_id ${bigint} NOT NULL, grp ${bigint} NOT NULL, json TEXT NOT NULL, PRIMARY KEY (obj_id, grp))${pg ? "" : " WITHOUT ROWID"}`,
    // Whether any object still has a top-level attribute (a key no longer used is deleted).
    "CREATE INDEX IF NOT EXISTS search_views_by_group ON search_views (grp)",
  ];
}

/** Whether the store's tables are those of `fingerprint` already (its `store_meta` row `schema`); false for a new store. */
export async function schemaIsCurrent(tx: SqlExecutor, dialect: "sqlite" | "postgres", fingerprint: string): Promise<boolean> {
  const present = dialect === "postgres" ? await tx.all("SELECT 1 AS one WHERE to_regclass('store_meta') IS NOT NULL") : await tx.all("SELECT 1 AS one FROM sqlite_master WHERE type = 'table' AND name = 'store_meta'");
  if (present.length === 0) return false;
  return (await tx.all<{ value: string }>("SELECT value FROM store_meta WHERE name = 'schema'"))[0]?.value === fingerprint;
}
