// A large save's search index work, done off the request thread (index-threads.ts): on SQLite
// in the writer thread's transaction (indexInTransaction), on PostgreSQL planned on a planning
// thread as array literals that this thread passes on to the database (writeLargeSearchRows).
import { availableParallelism } from "node:os";
import type { IndexLimits } from "../limits.js";
import { flattenAttribute, numericValue } from "../search/flatten.js";
import type { SqlExecutor } from "./driver.js";
import { PlanningThreads } from "./index-threads.js";
import { reversedKey } from "../search/sql.js";
import type { FieldCache } from "./search-index.js";
import { changedAttributes, collectUnusedKeys, parseSearchState, planSearch, writeInOneStatement, writeSearchRows } from "./search-index.js";

let planning: PlanningThreads | undefined;

/** The planning threads of this process, started on first use (idle, they do not keep it alive). */
function planningThreads(): PlanningThreads {
  return (planning ??= new PlanningThreads(Math.max(1, Math.min(2, availableParallelism() - 1))));
}

/** Starts this process's first planning thread now rather than at the first large save. */
export function startPlanningThread(): void {
  planningThreads().start();
}

/** A large save's search work, for the thread that does it: SQLite's writer thread (indexInTransaction) or a planning thread (planPostgresRows). */
export interface IndexJob {
  objId: number;
  org: string;
  idx: string;
  document: Record<string, unknown>;
  /** The object's search_state as stored before this save (null: unknown or none). */
  previous: string | null;
  /** The object was created by this transaction: nothing of it is in the index yet. */
  fresh: boolean;
}

/**
 * Throws 400 `index_limit` when a large document goes past the limits, checked on a planning
 * thread before the save's transaction begins: a refused save takes no lock and writes nothing.
 */
export async function checkLimitsOffThread(document: Record<string, unknown>, limits: IndexLimits): Promise<void> {
  await planningThreads().call<void>({ check: { document, limits } });
}

/**
 * Plans and writes a document's search rows (its limits were checked before: checkLimitsOffThread)
 * and its search_state, and deletes the keys no object uses any more, all in the caller's
 * transaction (tracked mode: SQLite). Runs where the connection is: the writer thread, for a large save.
 */
export async function indexInTransaction(db: SqlExecutor, cache: FieldCache, learned: Map<string, number>, job: IndexJob): Promise<void> {
  const plan = planSearch(job.document);
  const candidates = await writeSearchRows(db, cache, learned, job, plan, parseSearchState(job.previous), job.fresh, { tracked: true });
  await db.run("UPDATE objects SET search_state = ? WHERE id = ?", [JSON.stringify(plan.state), job.objId]);
  await collectUnusedKeys(db, cache, candidates);
}

/**
 * A large PostgreSQL save's change as a planning thread sends it: the keys it names, and its rows
 * and views with keys as (1-based) positions in `keys`, all as PostgreSQL array literals. The
 * request thread passes them on as they are and the database numbers the keys: it neither
 * flattens the document nor looks up, builds or serializes anything per row or per key.
 */
export interface PostgresRows {
  stateJson: string;
  /** Undefined when no attribute changed. */
  change?: {
    keys: string;
    /** The keys reversed, in the same order (search_fields.rkey). */
    reversed: string;
    /** Positions of the stale attributes' keys (undefined: every row of the object). */
    stale: string | undefined;
    views: string;
    viewJson: string;
    field: string;
    value: string;
    grp: string;
    num: string;
  };
}

/** A PostgreSQL array literal of texts. */
function textArray(items: readonly string[]): string {
  return `{${items.map((item) => `"${item.replace(/["\\]/g, "\\$&")}"`).join(",")}}`;
}

/** A PostgreSQL array literal of numbers. */
function numberArray(items: readonly number[]): string {
  return `{${items.join(",")}}`;
}

/** Computes a large document's PostgreSQL change (its limits were checked before): the work of a planning thread. */
export function planPostgresRows(job: IndexJob): PostgresRows {
  const plan = planSearch(job.document);
  const stateJson = JSON.stringify(plan.state);
  const { changed, stale } = changedAttributes(plan, parseSearchState(job.previous), job.fresh);
  if (changed.length === 0 && stale !== undefined && stale.length === 0) return { stateJson };
  const positions = new Map<string, number>();
  const position = (key: string): number => {
    let at = positions.get(key);
    if (at === undefined) positions.set(key, (at = positions.size + 1));
    return at;
  };
  const views = changed.map(position);
  const stalePositions = stale?.map(position);
  const fields: number[] = [];
  const groups: number[] = [];
  const values: string[] = [];
  const numbers: string[] = [];
  for (const top of changed) {
    const group = position(top);
    for (const [key, value] of flattenAttribute(top, plan.attributes.get(top)!.value)) {
      fields.push(position(key));
      groups.push(group);
      values.push(value);
      numbers.push(String(numericValue(value) ?? "NULL"));
    }
  }
  const keys = [...positions.keys()];
  return {
    stateJson,
    change: {
      keys: textArray(keys),
      reversed: textArray(keys.map(reversedKey)),
      stale: stalePositions && numberArray(stalePositions),
      views: numberArray(views),
      viewJson: textArray(changed.map((top) => plan.attributes.get(top)!.json)),
      field: numberArray(fields),
      value: textArray(values),
      grp: numberArray(groups),
      num: `{${numbers.join(",")}}`,
    },
  };
}

/**
 * PostgreSQL, a large save: its rows are planned on a planning thread (planPostgresRows), and this
 * thread sends them on in two statements, which add the keys the store lacks and write the rows
 * with the keys' numbers looked up in the database; the object's search state is written too.
 * Returns the keys whose rows or views went (collectUnusedKeys).
 */
export async function writeLargeSearchRows(db: SqlExecutor, job: IndexJob): Promise<number[]> {
  const { stateJson, change } = await planningThreads().call<PostgresRows>({ job });
  await db.run("UPDATE objects SET search_state = ? WHERE id = ?", [stateJson, job.objId]);
  if (!change) return [];
  // Held shared until commit: no key this write uses is deleted meanwhile (see writeSearchRows).
  await db.all("SELECT value FROM store_meta WHERE name = 'fields_removed' FOR SHARE");
  // In the keys' order, so that two saves adding the same new keys wait for each other instead of deadlocking.
  await db.run("INSERT INTO search_fields (org, idx, key, rkey) SELECT ?, ?, u.key, u.rkey FROM unnest(?::text[], ?::text[]) AS u(key, rkey) ORDER BY u.key ON CONFLICT DO NOTHING", [job.org, job.idx, change.keys, change.reversed]);
  // Each position's key number, as one array (a key missing would be a NULL, refused by search_terms).
  const prelude = {
    sql: `ids AS (SELECT array_agg(f.id ORDER BY u.at) AS id FROM unnest(?::text[]) WITH ORDINALITY AS u(key, at) LEFT JOIN search_fields f ON f.org = ? AND f.idx = ? AND f.key = u.key)`,
    params: [change.keys, job.org, job.idx],
  };
  return writeInOneStatement(db, job.objId, {
    prelude,
    newRows: {
      sql: "SELECT ids.id[n.at] AS field, n.value, ids.id[n.grp] AS grp, n.num FROM ids, unnest(?::int[], ?::text[], ?::int[], ?::double precision[]) AS n(at, value, grp, num)",
      params: [change.field, change.value, change.grp, change.num],
    },
    stale: change.stale === undefined ? undefined : { sql: "SELECT ids.id[s.at] AS g FROM ids, unnest(?::int[]) AS s(at)", params: [change.stale] },
    views: { sql: "SELECT ids.id[w.at] AS g, w.j FROM ids, unnest(?::int[], ?::text[]) AS w(at, j)", params: [change.views, change.viewJson] },
  });
}
