// Keeping an object's search rows in step with the object, inside the write's transaction.
//
// Each flattened key gets a number once per (organization, index) in search_fields; rows are
// stored as (object, field number, value, group) where the group is the number of the top-level
// attribute the row comes from. The object keeps a digest of each top-level attribute
// (search_state), so an agent's save, which changes a few facts, looks only at the attributes
// whose digest changed (and, on SQLite, rewrites only those attributes' rows that changed).
import { hash } from "node:crypto";
import type { IndexLimits } from "../limits.js";
import { indexLimitError, keyLengthError } from "../limits.js";
import type { SearchRow } from "../search/flatten.js";
import { flattenAttribute, MAX_INDEXED_KEY_LENGTH, numericValue } from "../search/flatten.js";
import { reversedKey } from "../search/sql.js";
import type { SqlExecutor } from "./driver.js";

/** The digest of each top-level group's rows, as kept in objects.search_state. */
export type SearchState = Record<string, string>;

/**
 * Field numbers known to be committed, shared by every transaction of one store. Keys no object
 * uses any more are deleted (`collectUnusedKeys`), and each deletion moves the store's key
 * generation (store_meta `fields_removed`): a transaction reads it before using cached numbers
 * (`sync`), and the cache forgets every number when it moved, here or in another server process.
 */
export class FieldCache {
  private readonly known = new Map<string, number>();
  private generation: string | undefined;
  private readonly learnedAt = new WeakMap<ReadonlyMap<string, number>, string>();

  get(id: string): number | undefined {
    return this.known.get(id);
  }

  /** Brings the cache to the store's key generation, read by the transaction that learns into `learned`. */
  sync(generation: string, learned: ReadonlyMap<string, number>): void {
    if (generation !== this.generation) {
      this.known.clear();
      this.generation = generation;
    }
    this.learnedAt.set(learned, generation);
  }

  /** Forgets every number at once (this process deleted keys). */
  invalidate(): void {
    this.known.clear();
    this.generation = undefined;
  }

  /** Adds numbers learned by a transaction that committed, unless keys were deleted since it read them. */
  addAll(learned: ReadonlyMap<string, number>): void {
    const at = this.learnedAt.get(learned);
    if (at !== undefined && at !== this.generation) return;
    // Bounded: a store with millions of distinct keys keeps only recent ones.
    if (this.known.size + learned.size > 500_000) this.known.clear();
    for (const [id, value] of learned) this.known.set(id, value);
  }
}

/** Lets other requests run between the statements of a large index write (SQLite runs them on this thread). */
export function yieldToOthers(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function fieldId(org: string, idx: string, key: string): string {
  return `${org}\u0000${idx}\u0000${key}`;
}

/** The most parameters one statement gets (SQLite's limit is far higher; PostgreSQL's is 65535). */
const CHUNK = 500;

/** Runs `fn` on `items` CHUNK at a time, one after the other, letting other requests run between chunks. */
export async function inChunks<T>(items: readonly T[], fn: (part: T[]) => Promise<unknown>): Promise<void> {
  for (let start = 0; start < items.length; start += CHUNK) {
    if (start > 0) await yieldToOthers();
    await fn(items.slice(start, start + CHUNK));
  }
}

/**
 * Resolves keys to field numbers, creating missing ones. Numbers learned here go to `learned`
 * and become shared only after the transaction commits (a rolled-back insert must not be cached).
 */
export async function fieldNumbers(
  db: SqlExecutor,
  cache: FieldCache,
  learned: Map<string, number>,
  org: string,
  idx: string,
  keys: Iterable<string>,
): Promise<Map<string, number>> {
  const numbers = new Map<string, number>();
  const missing: string[] = [];
  for (const key of new Set(keys)) {
    const id = fieldId(org, idx, key);
    const known = learned.get(id) ?? cache.get(id);
    if (known === undefined) missing.push(key);
    else numbers.set(key, known);
  }
  await inChunks(missing, async (part) => {
    await db.insertMany("search_fields", [["org", "text"], ["idx", "text"], ["key", "text"], ["rkey", "text"]], part.map((key) => [org, idx, key, reversedKey(key)]), true);
    const rows = await db.all<{ id: number | string; key: string }>(`SELECT id, key FROM search_fields WHERE org = ? AND idx = ? AND key IN (${placeholders(part.length)})`, [org, idx, ...part]);
    for (const row of rows) {
      numbers.set(row.key, Number(row.id));
      learned.set(fieldId(org, idx, row.key), Number(row.id));
    }
  });
  return numbers;
}

/** Parses objects.search_state; anything unreadable counts as "unknown" (every row is rewritten). */
export function parseSearchState(text: string | null | undefined): SearchState | undefined {
  if (!text) return undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as SearchState) : undefined;
  } catch {
    return undefined;
  }
}

/** What search sees of an object, by top-level attribute (as JSON), with the state to store beside the object. */
export interface SearchPlan {
  attributes: Map<string, { value: unknown; json: string }>;
  state: SearchState;
}

/**
 * Serializes and digests each top-level attribute of the searched document (no database work: done
 * before the write's statements). An attribute whose JSON is unchanged has unchanged rows.
 */
export function planSearch(document: Record<string, unknown>): SearchPlan {
  const attributes = new Map<string, { value: unknown; json: string }>();
  const state: SearchState = {};
  for (const [top, value] of Object.entries(document)) {
    if (value === undefined || top.length > MAX_INDEXED_KEY_LENGTH) continue;
    const json = JSON.stringify(value);
    attributes.set(top, { value, json });
    // A short value is its own digest (most facts are: times, addresses, names); no hash to compute.
    state[top] = json.length <= 24 ? `=${json}` : hash("sha1", json, "base64").slice(0, 16);
  }
  return { attributes, state };
}

/** Checks a document against the limits and plans its search rows (a small document: on this thread). */
export function planDocument(document: Record<string, unknown>, limits: IndexLimits): { plan: SearchPlan; stateJson: string } {
  checkIndexLimits(document, limits);
  const plan = planSearch(document);
  return { plan, stateJson: JSON.stringify(plan.state) };
}

/**
 * Throws 400 `index_limit` when a document would give more distinct search keys or values than
 * `limits` allow, or a key longer than MAX_INDEXED_KEY_LENGTH: counted over the whole document
 * (not only what a save changed) without building its rows, and stopped as soon as a limit is passed.
 */
export function checkIndexLimits(document: Record<string, unknown>, limits: IndexLimits): void {
  const keys = new Set<string>();
  let values = 0;
  const key = (name: string): void => {
    if (keys.has(name)) return;
    if (name.length > MAX_INDEXED_KEY_LENGTH) keyLengthError(name, MAX_INDEXED_KEY_LENGTH);
    keys.add(name);
    if (keys.size > limits.maxKeys) indexLimitError("keys", limits.maxKeys, keys.size);
  };
  const walk = (value: unknown, path: string, leaf: string): void => {
    if (Array.isArray(value)) {
      for (const element of value) walk(element, path, leaf);
    } else if (typeof value === "object" && value !== null) {
      for (const [name, child] of Object.entries(value)) {
        if (++values > limits.maxRows) indexLimitError("rows", limits.maxRows, values);
        const full = `${path}_${name}`;
        key(full);
        key(name);
        walk(child, full, name);
      }
    } else if (++values > limits.maxRows) {
      indexLimitError("rows", limits.maxRows, values);
    }
  };
  for (const [top, value] of Object.entries(document)) {
    key(top);
    walk(value, top, top);
  }
}

function placeholders(count: number): string {
  return Array.from({ length: count }, () => "?").join(", ");
}

/**
 * How a store writes search rows: `tracked` (SQLite) rewrites only the rows that changed and
 * bumps their keys' versions, for the search result cache; `oneStatement` (PostgreSQL, where each
 * statement is a round trip) makes the whole change one statement.
 */
export interface SearchWriteMode {
  tracked?: boolean;
  oneStatement?: boolean;
}

/**
 * The top-level attributes whose rows must be written (`changed`), and those whose rows are in the
 * index and no longer right (`stale`; undefined: every row of the object), given the state written
 * with what is now in the index (undefined: unknown; `fresh`: nothing is there yet).
 */
export function changedAttributes(plan: SearchPlan, previous: SearchState | undefined, fresh: boolean): { changed: string[]; stale: string[] | undefined } {
  const { attributes, state } = plan;
  if (fresh) return { changed: [...attributes.keys()], stale: [] };
  if (previous === undefined) return { changed: [...attributes.keys()], stale: undefined };
  const changed = [...attributes.keys()].filter((top) => previous[top] !== state[top]);
  const removed = Object.keys(previous).filter((top) => !attributes.has(top));
  return { changed, stale: [...changed.filter((top) => previous[top] !== undefined), ...removed] };
}

/**
 * Brings object `objId`'s search rows and views to the plan's. `previous` is the state written
 * with what is now in the index (undefined: unknown, so everything is replaced; `fresh`: nothing
 * is there yet).
 *
 * Tracked mode (SQLite, where statements cost no round trip) reads the rows of the attributes
 * that changed, deletes only the rows that went and inserts only the new ones (an agent's save
 * changes a free-memory figure, not the other rows of `memory`), and bumps the version of every
 * key whose rows changed: a cached search result stays valid exactly as long as the versions of
 * the keys it depends on do.
 */
export async function writeSearchRows(
  db: SqlExecutor,
  cache: FieldCache,
  learned: Map<string, number>,
  target: { objId: number; org: string; idx: string },
  plan: SearchPlan,
  previous: SearchState | undefined,
  fresh: boolean,
  mode: SearchWriteMode = {},
): Promise<number[]> {
  const { attributes } = plan;
  const { changed, stale } = changedAttributes(plan, previous, fresh);
  if (changed.length === 0 && stale !== undefined && stale.length === 0) return [];
  // Cached key numbers are good only while no key was deleted; on PostgreSQL the shared lock also
  // keeps a deletion from committing until this write has (collectUnusedKeys takes it exclusively).
  const generation = await db.all<{ value: string }>(`SELECT value FROM store_meta WHERE name = 'fields_removed'${mode.oneStatement ? " FOR SHARE" : ""}`);
  cache.sync(generation[0]?.value ?? "0", learned);
  const rows: SearchRow[] = [];
  let sinceYield = 0;
  for (const top of changed) {
    const attributeRows = flattenAttribute(top, attributes.get(top)!.value);
    for (const row of attributeRows) rows.push(row);
    sinceYield += attributeRows.length;
    if (sinceYield > 5000) {
      sinceYield = 0;
      await yieldToOthers();
    }
  }
  const numbers = await fieldNumbers(db, cache, learned, target.org, target.idx, [...changed, ...(stale ?? []), ...rows.map(([key]) => key)]);
  const large = rows.length > 5000;
  if (large) await yieldToOthers();
  const staleGroups = stale?.map((top) => numbers.get(top)!);
  const newRows = rows.map(([key, value, top]): [number, string, number] => [numbers.get(key)!, value, numbers.get(top)!]);
  if (large) await yieldToOthers();
  let insert = newRows;
  if (mode.oneStatement) {
    // Building the arrays of a large write is work on this thread: let other requests run before sending it.
    if (large) await yieldToOthers();
    return writeInOneStatement(db, target.objId, {
      newRows: rowArrays(newRows),
      stale: staleGroups && { sql: "SELECT unnest(?::bigint[]) AS g", params: [staleGroups] },
      views: { sql: "SELECT * FROM unnest(?::bigint[], ?::text[]) AS w(g, j)", params: [changed.map((top) => numbers.get(top)!), changed.map((top) => attributes.get(top)!.json)] },
    });
  }
  /** Keys whose rows or views this write removed: they may be used by no object any more. */
  let candidates: number[] = staleGroups ?? [];
  if (mode.tracked) {
    // The rows now in the index for the stale attributes, to compare with the new ones.
    const old: Array<{ field: number; value: string; grp: number }> = [];
    if (staleGroups === undefined) old.push(...(await db.all<{ field: number; value: string; grp: number }>("SELECT field, value, grp FROM search_terms WHERE obj_id = ?", [target.objId])));
    else {
      await inChunks(staleGroups, async (part) =>
        old.push(...(await db.all<{ field: number; value: string; grp: number }>(`SELECT field, value, grp FROM search_terms WHERE obj_id = ? AND grp IN (${placeholders(part.length)})`, [target.objId, ...part]))),
      );
    }
    const rowId = (field: number, value: string, grp: number): string => `${field}\u0000${grp}\u0000${value}`;
    const comparing = large || old.length > 5000;
    if (comparing) await yieldToOthers();
    const wanted = new Set(newRows.map(([field, value, grp]) => rowId(field, value, grp)));
    if (comparing) await yieldToOthers();
    const present = new Set(old.map((row) => rowId(Number(row.field), row.value, Number(row.grp))));
    if (comparing) await yieldToOthers();
    const gone = old.filter((row) => !wanted.has(rowId(Number(row.field), row.value, Number(row.grp))));
    insert = newRows.filter(([field, value, grp]) => !present.has(rowId(field, value, grp)));
    if (comparing) await yieldToOthers();
    await inChunks(gone, async (part) => {
      for (const row of part) await db.run("DELETE FROM search_terms WHERE obj_id = ? AND field = ? AND value = ? AND grp = ?", [target.objId, row.field, row.value, row.grp]);
    });
    candidates = [...new Set([...candidates, ...gone.map((row) => Number(row.field))])];
    const touched = [...new Set([...gone.map((row) => Number(row.field)), ...insert.map(([field]) => field)])];
    await inChunks(touched, (part) => db.run(`UPDATE search_fields SET version = version + 1 WHERE id IN (${placeholders(part.length)})`, part));
  } else if (staleGroups === undefined) {
    await db.run("DELETE FROM search_terms WHERE obj_id = ?", [target.objId]);
  } else {
    await inChunks(staleGroups, (part) => db.run(`DELETE FROM search_terms WHERE obj_id = ? AND grp IN (${placeholders(part.length)})`, [target.objId, ...part]));
  }
  if (staleGroups === undefined) await db.run("DELETE FROM search_views WHERE obj_id = ?", [target.objId]);
  else await inChunks(staleGroups, (part) => db.run(`DELETE FROM search_views WHERE obj_id = ? AND grp IN (${placeholders(part.length)})`, [target.objId, ...part]));
  if (large) await yieldToOthers();
  await db.insertMany(
    "search_terms",
    [["obj_id", "bigint"], ["field", "bigint"], ["value", "text"], ["grp", "bigint"], ["num", "double precision"]],
    insert.map(([field, value, grp]) => [target.objId, field, value, grp, numericValue(value)]),
  );
  await db.insertMany(
    "search_views",
    [["obj_id", "bigint"], ["grp", "bigint"], ["json", "text"]],
    changed.map((top) => [target.objId, numbers.get(top)!, attributes.get(top)!.json]),
  );
  return mode.tracked ? candidates : [];
}

/** A query (or common table expression) and its parameters, in the order of their `?`s. */
export interface SqlPart {
  sql: string;
  params: unknown[];
}

/** New rows given as four arrays, one element a row. */
function rowArrays(rows: ReadonlyArray<readonly [field: number, value: string, grp: number]>): SqlPart {
  return {
    sql: "SELECT * FROM unnest(?::bigint[], ?::text[], ?::bigint[], ?::double precision[]) AS n(field, value, grp, num)",
    params: [rows.map(([field]) => field), rows.map(([, value]) => value), rows.map(([, , grp]) => grp), rows.map(([, value]) => numericValue(value))],
  };
}

/** What one PostgreSQL statement writes of an object's search rows (writeInOneStatement). */
export interface OneStatementWrite {
  /** Common table expressions the other parts use (`name AS (...)`), first in the statement. */
  prelude?: SqlPart;
  /** The object's rows of the changed attributes: `(field, value, grp, num)`. */
  newRows: SqlPart;
  /** The groups whose rows and views are in the index and may no longer be right: `(g)`; undefined: every row of the object. */
  stale: SqlPart | undefined;
  /** The views of the changed attributes: `(g, j)`, a group and its JSON. */
  views: SqlPart;
}

/**
 * PostgreSQL: the rows of the stale attributes that are not among the new rows go, the new rows
 * not already there come, the views of attributes that went are deleted and the changed ones
 * written, in one statement (one round trip). The rows deleted and inserted never overlap, so
 * the sub-statements, which run on one snapshot, cannot collide. Returns the keys whose rows or
 * views went.
 */
export async function writeInOneStatement(db: SqlExecutor, objId: number, write: OneStatementWrite): Promise<number[]> {
  const everything = write.stale === undefined;
  const stale = write.stale ?? { sql: "SELECT NULL::bigint AS g WHERE false", params: [] };
  const removed = await db.all<{ fields: string | null }>(
    `WITH ${write.prelude ? `${write.prelude.sql},` : ""}
     new_rows AS (${write.newRows.sql}),
     stale AS (${stale.sql}),
     changed AS (${write.views.sql}),
     gone AS (DELETE FROM search_terms t WHERE t.obj_id = ? AND (?::boolean OR t.grp IN (SELECT g FROM stale))
       AND NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.field = t.field AND n.value = t.value AND n.grp = t.grp) RETURNING t.field),
     added AS (INSERT INTO search_terms (obj_id, field, value, grp, num) SELECT ?, n.field, n.value, n.grp, n.num FROM new_rows n
       WHERE NOT EXISTS (SELECT 1 FROM search_terms t WHERE t.obj_id = ? AND t.field = n.field AND t.value = n.value AND t.grp = n.grp)),
     views_gone AS (DELETE FROM search_views v WHERE v.obj_id = ? AND (?::boolean OR v.grp IN (SELECT g FROM stale)) AND v.grp NOT IN (SELECT g FROM changed) RETURNING v.grp),
     views_set AS (INSERT INTO search_views (obj_id, grp, json) SELECT ?, g, j FROM changed ON CONFLICT (obj_id, grp) DO UPDATE SET json = excluded.json)
     SELECT array_to_string(array_agg(field), ',') AS fields FROM (SELECT field FROM gone UNION SELECT grp FROM views_gone) went`,
    [...(write.prelude?.params ?? []), ...write.newRows.params, ...stale.params, ...write.views.params, objId, everything, objId, objId, objId, everything, objId],
  );
  // One row of text, not a row per key: a save that replaced 20,000 keys is not 20,000 rows to parse here.
  const fields = removed[0]?.fields;
  return fields ? fields.split(",").map(Number) : [];
}

/**
 * Deletes the keys among `candidates` that no object uses any more (no row has them as its key,
 * no view as its group), and moves the key generation so that every process forgets its cached
 * numbers. Without it the key table only grew: a node saved again and again with new key names
 * (or deleted) left every key behind. On PostgreSQL the generation row's exclusive lock waits
 * for writes that hold it shared (they may be about to use a key), and the deletion re-checks.
 */
export async function collectUnusedKeys(db: SqlExecutor, cache: FieldCache, candidates: readonly number[]): Promise<number> {
  const unused = await unusedKeys(db, candidates);
  return unused.length === 0 ? 0 : deleteKeys(db, cache, unused);
}

/** Which of `candidates` no search row and no view refers to. */
export async function unusedKeys(db: SqlExecutor, candidates: readonly number[]): Promise<number[]> {
  const unused: number[] = [];
  await inChunks(candidates, async (part) => {
    const rows = await db.all<{ id: number | string }>(`SELECT id FROM search_fields f WHERE id IN (${placeholders(part.length)}) AND ${UNUSED}`, part);
    unused.push(...rows.map((row) => Number(row.id)));
  });
  return unused;
}

/** Deletes the keys of `unused` that are still unused once the key generation is locked and moved; see collectUnusedKeys. */
export async function deleteKeys(db: SqlExecutor, cache: FieldCache, unused: readonly number[]): Promise<number> {
  await db.run("INSERT INTO store_meta (name, value) VALUES ('fields_removed', '1') ON CONFLICT (name) DO UPDATE SET value = CAST(CAST(store_meta.value AS INTEGER) + 1 AS TEXT)");
  cache.invalidate();
  let deleted = 0;
  await inChunks(unused, async (part) => {
    deleted += await db.run(`DELETE FROM search_fields WHERE id IN (${placeholders(part.length)}) AND ${UNUSED.replaceAll("f.id", "search_fields.id")}`, part);
  });
  return deleted;
}

/** A key (search_fields row `f`) that no search row and no view refers to. */
const UNUSED = "NOT EXISTS (SELECT 1 FROM search_terms t WHERE t.field = f.id) AND NOT EXISTS (SELECT 1 FROM search_views v WHERE v.grp = f.id)";

/** The objects that have search rows, and the index and `chef_type` each one's rows are under. */
const SEARCHED = "o.kind IN ('node', 'role', 'environment', 'client', 'item')";
const INDEX_OF = "CASE o.kind WHEN 'item' THEN 'bag:' || o.bag ELSE o.kind END";
const CHEF_TYPE_OF = "CASE o.kind WHEN 'item' THEN 'data_bag_item' ELSE o.kind END";
// A number, or a number and a unit (search/units.ts), as PostgreSQL reads it; group 1 is the number.
const NUMBER_WITH_UNIT = "^(-?(?:[0-9]+\\.?[0-9]*|\\.[0-9]+)) ?(?:[A-Za-z]{1,5}|%)$";

/**
 * Brings a layout-5 index to layout 6 in place, instead of flattening every object again (11 s
 * per 1,000 nodes of real facts here): each object gets its `chef_type` row and view (and a data
 * bag item its `data_bag`), replacing rows of a top-level attribute of that name, and a value
 * with a unit gets its number. Objects' digests are cleared, so each one's next save compares
 * all its rows once.
 */
export async function upgradeSearchToLayout6(db: SqlExecutor, dialect: "sqlite" | "postgres"): Promise<void> {
  const added: Array<{ key: string; value: string; where: string }> = [
    { key: "chef_type", value: CHEF_TYPE_OF, where: SEARCHED },
    { key: "data_bag", value: "o.bag", where: "o.kind = 'item'" },
  ];
  for (const { key, value, where } of added) {
    const fieldOf = `SELECT f.id FROM search_fields f WHERE f.org = o.org AND f.idx = ${INDEX_OF} AND f.key = '${key}'`;
    await db.run(`INSERT INTO search_fields (org, idx, key, rkey) SELECT DISTINCT o.org, ${INDEX_OF}, ?, ? FROM objects o WHERE ${where} ON CONFLICT (org, idx, key) DO NOTHING`, [key, reversedKey(key)]);
    // What search saw of an attribute of that name is replaced (data_bag only on items).
    const replaced = `obj_id IN (SELECT o.id FROM objects o WHERE ${where}) AND grp IN (SELECT id FROM search_fields WHERE key = '${key}')`;
    await db.run(`DELETE FROM search_terms WHERE ${replaced}`);
    await db.run(`DELETE FROM search_views WHERE ${replaced}`);
    await db.run(`INSERT INTO search_terms (obj_id, field, value, grp, num) SELECT o.id, (${fieldOf}), ${value}, (${fieldOf}), NULL FROM objects o WHERE ${where}`);
    // Names of kinds and bags need no JSON escaping (letters, digits, _ - . :).
    await db.run(`INSERT INTO search_views (obj_id, grp, json) SELECT o.id, (${fieldOf}), '"' || ${value} || '"' FROM objects o WHERE ${where}`);
  }
  await db.run(`UPDATE objects SET search_state = NULL WHERE kind IN ('node', 'role', 'environment', 'client', 'item')`);
  if (dialect === "postgres") {
    // The pattern is a parameter: its `?` must not be read as placeholders.
    await db.run("UPDATE search_terms SET num = CAST(substring(value from ?) AS double precision) WHERE num IS NULL AND value ~ ?", [NUMBER_WITH_UNIT, NUMBER_WITH_UNIT]);
    return;
  }
  // SQLite has no regular expressions: candidates (text starting like a number) are read a range
  // of objects at a time, in process, and those numericValue reads get their number.
  const [{ last }] = (await db.all<{ last: number | null }>("SELECT max(id) AS last FROM objects")) as [{ last: number | null }];
  for (let from = 0; from <= Number(last ?? 0); from += 1000) {
    const candidates = await db.all<{ obj_id: number; field: number; value: string; grp: number }>(
      "SELECT obj_id, field, value, grp FROM search_terms WHERE obj_id > ? AND obj_id <= ? AND num IS NULL AND value >= '-' AND value < ':'",
      [from, from + 1000],
    );
    for (const row of candidates) {
      const number = numericValue(row.value);
      if (number !== null) await db.run("UPDATE search_terms SET num = ? WHERE obj_id = ? AND field = ? AND value = ? AND grp = ?", [number, row.obj_id, row.field, row.value, row.grp]);
    }
  }
}
