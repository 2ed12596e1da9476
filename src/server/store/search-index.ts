// Keeping an object's search rows in step with the object, inside the write's transaction.
//
// Each flattened key gets a number once per (organization, index) in search_fields; rows are
// stored as (object, field number, value, group) where the group is the number of the top-level
// attribute the row comes from. The object keeps a digest of each top-level attribute
// (search_state), so an agent's save, which changes a few facts, rewrites only the attributes
// whose digest changed, without reading the object's rows back.
import { createHash } from "node:crypto";
import { flattenAttribute, MAX_INDEXED_KEY_LENGTH, numericValue } from "../search/flatten.js";
import { reversedKey } from "../search/sql.js";
import type { SqlExecutor } from "./driver.js";

/** The digest of each top-level group's rows, as kept in objects.search_state. */
export type SearchState = Record<string, string>;

/**
 * Field numbers known to be committed, shared by every transaction of one store. Numbers are
 * never deleted or reused, so a cached number stays right for the life of the process.
 */
export class FieldCache {
  private readonly known = new Map<string, number>();

  get(id: string): number | undefined {
    return this.known.get(id);
  }

  /** Adds numbers learned by a transaction that committed. */
  addAll(learned: ReadonlyMap<string, number>): void {
    // Bounded: a store with millions of distinct keys keeps only recent ones.
    if (this.known.size + learned.size > 500_000) this.known.clear();
    for (const [id, value] of learned) this.known.set(id, value);
  }
}

function fieldId(org: string, idx: string, key: string): string {
  return `${org}\u0000${idx}\u0000${key}`;
}

/** The most parameters one statement gets (SQLite's limit is far higher; PostgreSQL's is 65535). */
const CHUNK = 500;

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
  for (let start = 0; start < missing.length; start += CHUNK) {
    const part = missing.slice(start, start + CHUNK);
    await db.insertMany("search_fields", [["org", "text"], ["idx", "text"], ["key", "text"], ["rkey", "text"]], part.map((key) => [org, idx, key, reversedKey(key)]), true);
    const rows = await db.all<{ id: number | string; key: string }>(
      `SELECT id, key FROM search_fields WHERE org = ? AND idx = ? AND key IN (${part.map(() => "?").join(", ")})`,
      [org, idx, ...part],
    );
    for (const row of rows) {
      numbers.set(row.key, Number(row.id));
      learned.set(fieldId(org, idx, row.key), Number(row.id));
    }
  }
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
    state[top] = json.length <= 24 ? `=${json}` : createHash("sha1").update(json).digest("base64").slice(0, 16);
  }
  return { attributes, state };
}

function placeholders(count: number): string {
  return Array.from({ length: count }, () => "?").join(", ");
}

/**
 * Brings object `objId`'s search rows and views to the plan's. `previous` is the state written
 * with what is now in the index (undefined: unknown, so everything is replaced; `fresh`: nothing
 * is there yet).
 */
export async function writeSearchRows(
  db: SqlExecutor,
  cache: FieldCache,
  learned: Map<string, number>,
  target: { objId: number; org: string; idx: string },
  plan: SearchPlan,
  previous: SearchState | undefined,
  fresh: boolean,
): Promise<void> {
  const { attributes, state } = plan;
  let changed: string[];
  if (fresh) {
    changed = [...attributes.keys()];
  } else if (previous === undefined) {
    await db.run("DELETE FROM search_terms WHERE obj_id = ?", [target.objId]);
    await db.run("DELETE FROM search_views WHERE obj_id = ?", [target.objId]);
    changed = [...attributes.keys()];
  } else {
    changed = [...attributes.keys()].filter((top) => previous[top] !== state[top]);
    const removed = Object.keys(previous).filter((top) => !attributes.has(top));
    const stale = [...changed.filter((top) => previous[top] !== undefined), ...removed];
    if (stale.length > 0) {
      const numbers = await fieldNumbers(db, cache, learned, target.org, target.idx, stale);
      const ids = stale.map((top) => numbers.get(top)!);
      for (let start = 0; start < ids.length; start += CHUNK) {
        const part = ids.slice(start, start + CHUNK);
        await db.run(`DELETE FROM search_terms WHERE obj_id = ? AND grp IN (${placeholders(part.length)})`, [target.objId, ...part]);
        await db.run(`DELETE FROM search_views WHERE obj_id = ? AND grp IN (${placeholders(part.length)})`, [target.objId, ...part]);
      }
    }
  }
  if (changed.length === 0) return;
  const rows = changed.flatMap((top) => flattenAttribute(top, attributes.get(top)!.value));
  const numbers = await fieldNumbers(db, cache, learned, target.org, target.idx, [...changed, ...rows.map(([key]) => key)]);
  await db.insertMany(
    "search_terms",
    [["obj_id", "bigint"], ["field", "bigint"], ["value", "text"], ["grp", "bigint"], ["num", "double precision"]],
    rows.map(([key, value, top]) => [target.objId, numbers.get(key)!, value, numbers.get(top)!, numericValue(value)]),
  );
  await db.insertMany(
    "search_views",
    [["obj_id", "bigint"], ["grp", "bigint"], ["json", "text"]],
    changed.map((top) => [target.objId, numbers.get(top)!, attributes.get(top)!.json]),
  );
}
