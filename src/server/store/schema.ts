// The store's tables, written once; the few types that differ between SQLite and PostgreSQL
// are filled in per dialect.

/** The statements that create the store's tables and indexes for a dialect. */
export function schemaStatements(dialect: "sqlite" | "postgres"): string[] {
  const pg = dialect === "postgres";
  // Byte-order comparison on both databases: search is case-sensitive and ranges compare bytes.
  const text = pg ? 'TEXT COLLATE "C"' : "TEXT";
  const id = pg ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY";
  const real = pg ? "DOUBLE PRECISION" : "REAL";
  const blob = pg ? "BYTEA" : "BLOB";
  const bigint = pg ? "BIGINT" : "INTEGER";
  return [
    `CREATE TABLE IF NOT EXISTS server_admins (name ${text} PRIMARY KEY, public_key TEXT NOT NULL, created_at TEXT NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS orgs (name ${text} PRIMARY KEY, full_name TEXT NOT NULL, created_at TEXT NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS objects (
       id ${id},
       org ${text} NOT NULL,
       kind ${text} NOT NULL,
       bag ${text} NOT NULL DEFAULT '',
       name ${text} NOT NULL,
       data TEXT NOT NULL,
       etag TEXT NOT NULL,
       updated_at TEXT NOT NULL,
       UNIQUE (org, kind, bag, name))`,
    // Clustered by object in SQLite (WITHOUT ROWID): an object's rows are read together when it is
    // saved (to write only the difference) and deleted together; searches use the value index.
    `CREATE TABLE IF NOT EXISTS search_rows (
       obj_id ${bigint} NOT NULL,
       key ${text} NOT NULL,
       value ${text} NOT NULL,
       org ${text} NOT NULL,
       idx ${text} NOT NULL,
       num ${real},
       PRIMARY KEY (obj_id, key, value))${pg ? "" : " WITHOUT ROWID"}`,
    "CREATE INDEX IF NOT EXISTS search_rows_by_value ON search_rows (org, idx, key, value, obj_id)",
    "CREATE INDEX IF NOT EXISTS search_rows_by_number ON search_rows (org, idx, key, num) WHERE num IS NOT NULL",
    // Every key ever indexed, so that a wildcard key (`*_version:1.2*`) expands to the matching keys
    // first instead of scanning every row. Keys of deleted objects may linger: they only cost a seek.
    `CREATE TABLE IF NOT EXISTS search_keys (org ${text} NOT NULL, idx ${text} NOT NULL, key ${text} NOT NULL, PRIMARY KEY (org, idx, key))${pg ? "" : " WITHOUT ROWID"}`,
    `CREATE TABLE IF NOT EXISTS blobs (org ${text} NOT NULL, sha256 ${text} NOT NULL, size ${bigint} NOT NULL, content ${blob} NOT NULL, PRIMARY KEY (org, sha256))`,
    `CREATE TABLE IF NOT EXISTS bootstrap_tokens (token_hash ${text} PRIMARY KEY, org ${text} NOT NULL, expires_at TEXT NOT NULL, created_by TEXT NOT NULL)`,
  ];
}
