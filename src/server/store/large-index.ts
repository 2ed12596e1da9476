// A large save's search index work, done off the request thread (index-threads.ts): on SQLite
// in the writer thread's transaction (indexInTransaction), on PostgreSQL planned on a planning
// thread as array literals that this thread sends as one statement (writeLargeSearchRows).
import { availableParallelism } from "node:os";
import type { IndexLimits } from "../limits.js";
import { flattenAttribute, numericValue } from "../search/flatten.js";
import type { SqlExecutor } from "./driver.js";
import { PlanningThreads } from "./index-threads.js";
import type { FieldCache, NewRows } from "./search-index.js";
import { changedAttributes, checkIndexLimits, collectUnusedKeys, fieldNumbers, parseSearchState, planSearch, writeInOneStatement, writeSearchRows } from "./search-index.js";

let planning: PlanningThreads | undefined;

/** The planning threads of this process, started on first use (idle, they do not keep it alive). */
function planningThreads(): PlanningThreads {
  return (planning ??= new PlanningThreads(Math.max(1, Math.min(2, availableParallelism() - 1))));
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
  limits: IndexLimits;
}

/**
 * Checks the job's document against the limits, plans and writes its search rows and its
 * search_state, and deletes the keys no object uses any more, all in the caller's transaction
 * (tracked mode: SQLite). Runs where the connection is: the writer thread, for a large save.
 */
export async function indexInTransaction(db: SqlExecutor, cache: FieldCache, learned: Map<string, number>, job: IndexJob): Promise<void> {
  checkIndexLimits(job.document, job.limits);
  const plan = planSearch(job.document);
  const candidates = await writeSearchRows(db, cache, learned, job, plan, parseSearchState(job.previous), job.fresh, { tracked: true });
  await db.run("UPDATE objects SET search_state = ? WHERE id = ?", [JSON.stringify(plan.state), job.objId]);
  await collectUnusedKeys(db, cache, candidates);
}

/**
 * A large PostgreSQL save's change as a planning thread sends it: the keys it names, and its rows
 * and views with keys as (1-based) positions in `keys`, as PostgreSQL array literals, so that the
 * request thread neither flattens the document nor builds or serializes arrays of its rows.
 */
export interface PostgresRows {
  stateJson: string;
  /** Undefined when no attribute changed. */
  change?: {
    keys: string[];
    /** Positions of the stale attributes' keys (undefined: every row of the object). */
    stale: number[] | undefined;
    views: number[];
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

/** Checks a large document against the limits and computes its PostgreSQL change: the work of a planning thread. */
export function planPostgresRows(job: IndexJob): PostgresRows {
  checkIndexLimits(job.document, job.limits);
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
  return {
    stateJson,
    change: {
      keys: [...positions.keys()],
      stale: stalePositions,
      views,
      viewJson: textArray(changed.map((top) => plan.attributes.get(top)!.json)),
      field: `{${fields.join(",")}}`,
      value: textArray(values),
      grp: `{${groups.join(",")}}`,
      num: `{${numbers.join(",")}}`,
    },
  };
}

/**
 * PostgreSQL, a large save: its rows are planned on a planning thread (planPostgresRows), this
 * thread numbers the keys they name and sends the change as one statement, and the object's
 * search state is written. Returns the keys whose rows or views went (collectUnusedKeys).
 */
export async function writeLargeSearchRows(db: SqlExecutor, cache: FieldCache, learned: Map<string, number>, job: IndexJob): Promise<number[]> {
  const { stateJson, change } = await planningThreads().call<PostgresRows>({ job });
  await db.run("UPDATE objects SET search_state = ? WHERE id = ?", [stateJson, job.objId]);
  if (!change) return [];
  const generation = await db.all<{ value: string }>("SELECT value FROM store_meta WHERE name = 'fields_removed' FOR SHARE");
  cache.sync(generation[0]?.value ?? "0", learned);
  const numbers = await fieldNumbers(db, cache, learned, job.org, job.idx, change.keys);
  const ids = change.keys.map((key) => numbers.get(key)!);
  const rows: NewRows = {
    sql: `SELECT f.id AS field, n.value, g.id AS grp, n.num FROM unnest(?::int[], ?::text[], ?::int[], ?::double precision[]) AS n(fi, value, gi, num)
      JOIN unnest(?::bigint[]) WITH ORDINALITY AS f(id, i) ON f.i = n.fi JOIN unnest(?::bigint[]) WITH ORDINALITY AS g(id, i) ON g.i = n.gi`,
    params: [change.field, change.value, change.grp, change.num, ids, ids],
  };
  return writeInOneStatement(db, job.objId, rows, change.stale?.map((at) => ids[at - 1]!), { groups: change.views.map((at) => ids[at - 1]!), json: change.viewJson });
}

