// The search index's layout across versions: upgraded in place from the layouts that allow it,
// rebuilt from the objects from any other (the objects are the truth; the index is derived).
import { searchEntry } from "../objects.js";
import { reversedKey } from "../search/sql.js";
import type { SqlExecutor } from "./driver.js";
import { OLD_SEARCH_TABLES, SEARCH_FORMAT, searchSchemaStatements } from "./schema.js";
import type { FieldCache } from "./search-index.js";
import { planSearch, upgradeSearchToLayout6, writeSearchRows } from "./search-index.js";

/**
 * Creates the search index, or rebuilds it from the objects when the store was written with
 * another index layout (the objects are the truth; the index is derived from them).
 */
export async function migrateSearch(db: SqlExecutor, dialect: "sqlite" | "postgres", fields: FieldCache, learned: Map<string, number>): Promise<void> {
  const format = (await db.all<{ value: string }>("SELECT value FROM store_meta WHERE name = 'search_format'"))[0]?.value;
  if (format === SEARCH_FORMAT) return;
  if (format === "3" || format === "4" || format === "5") {
    if (format === "3") {
      // Layout 3 lacked the reversed keys: add them instead of rebuilding the index.
      await db.run("ALTER TABLE search_fields ADD COLUMN rkey TEXT");
      for (let after = 0; ; ) {
        const batch = await db.all<{ id: number | string; key: string }>("SELECT id, key FROM search_fields WHERE id > ? ORDER BY id LIMIT 5000", [after]);
        if (batch.length === 0) break;
        for (const row of batch) await db.run("UPDATE search_fields SET rkey = ? WHERE id = ?", [reversedKey(row.key), row.id]);
        after = Number(batch[batch.length - 1]!.id);
      }
    }
    // Layouts 3 and 4 lacked the keys' versions.
    if (format !== "5") await db.run(`ALTER TABLE search_fields ADD COLUMN version ${dialect === "postgres" ? "BIGINT" : "INTEGER"} NOT NULL DEFAULT 0`);
    for (const statement of searchSchemaStatements(dialect)) await db.run(statement);
    // Layout 6 added `chef_type` and `data_bag` rows and the numbers of values with a unit.
    await upgradeSearchToLayout6(db, dialect);
    await setSearchFormat(db);
    return;
  }
  for (const table of [...OLD_SEARCH_TABLES, "search_terms", "search_views", "search_fields"]) await db.run(`DROP TABLE IF EXISTS ${table}`);
  if (dialect === "postgres") {
    await db.run("ALTER TABLE objects ADD COLUMN IF NOT EXISTS search_state TEXT");
  } else if ((await db.all("SELECT 1 AS one FROM pragma_table_info('objects') WHERE name = 'search_state'")).length === 0) {
    await db.run("ALTER TABLE objects ADD COLUMN search_state TEXT");
  }
  for (const statement of searchSchemaStatements(dialect)) await db.run(statement);
  let after = 0;
  for (;;) {
    const batch = await db.all<{ id: number | string; org: string; kind: string; bag: string; data: string }>(
      "SELECT id, org, kind, bag, data FROM objects WHERE id > ? AND kind IN ('node', 'role', 'environment', 'client', 'item') ORDER BY id LIMIT 500",
      [after],
    );
    if (batch.length === 0) break;
    for (const row of batch) {
      const entry = searchEntry(row.kind as "node", JSON.parse(row.data) as Record<string, unknown>, row.bag);
      const plan = planSearch(entry.document);
      await writeSearchRows(db, fields, learned, { objId: Number(row.id), org: row.org, idx: entry.idx }, plan, undefined, true);
      await db.run("UPDATE objects SET search_state = ? WHERE id = ?", [JSON.stringify(plan.state), row.id]);
    }
    after = Number(batch[batch.length - 1]!.id);
  }
  await setSearchFormat(db);
}

async function setSearchFormat(db: SqlExecutor): Promise<void> {
  await db.run("INSERT INTO store_meta (name, value) VALUES ('search_format', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", [SEARCH_FORMAT]);
}

