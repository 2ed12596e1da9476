// A search run inside the database: the query compiled to SQL over the index, one page of hits
// in the order asked, whole documents or partial rows, and on SQLite the search thread's cache.
import type { Query } from "../search/query.js";
import type { SearchDependencies, SearchScope } from "../search/sql.js";
import { checkQueryTerms, compileQuery, compileStream, dependencySignature, mayRepeatIds } from "../search/sql.js";
import type { SqlDriver, SqlExecutor } from "./driver.js";
import type { SearchHit, SearchOptions } from "./types.js";

/** Where a search runs: the driver, the connection (a transaction's, or the driver itself) and whether results may be cached. */
export interface SearchConnection {
  driver: SqlDriver;
  db: SqlExecutor;
  /** Inside a transaction the reads see its writes: no cache, no reads off this thread. */
  inTransaction: boolean;
  searchCache: boolean;
}

/**
 * Runs a query inside the database; returns the total and one page of hits, each with its whole
 * document as JSON text, or with only the top-level attributes asked for (partial search), so
 * that a page of large documents is never parsed here.
 */
export async function searchObjects(on: SearchConnection, scope: SearchScope, query: Query, options: SearchOptions): Promise<{ total: number; hits: SearchHit[]; cached?: boolean }> {
  checkQueryTerms(query);
  const deps: SearchDependencies = { fields: [], objects: false, untracked: false };
  const set = compileQuery(query, scope, deps);
  const repeats = mayRepeatIds(set);
  const direction = options.descending ? "DESC" : "ASC";
  const sort = options.sort ?? "created";
  // The page: ids in order. By creation, hits stream out of the index in id order and the
  // LIMIT stops the scan; other orders look at every hit.
  let page: { sql: string; params: unknown[] };
  if (sort === "created") {
    const stream = on.driver.dialect === "sqlite" ? compileStream(query, scope) : undefined;
    page = stream
      ? { sql: `${stream.sql} ORDER BY id ${direction} LIMIT ? OFFSET ?`, params: [...stream.params, options.rows, options.start] }
      : { sql: `SELECT ${repeats ? "DISTINCT " : ""}id FROM (${set.sql}) s ORDER BY id ${direction} LIMIT ? OFFSET ?`, params: [...set.params, options.rows, options.start] };
  } else if (sort === "name") {
    page = { sql: `SELECT o.id, o.name AS sk FROM objects o WHERE o.id IN (${set.sql}) ORDER BY o.name ${direction} LIMIT ? OFFSET ?`, params: [...set.params, options.rows, options.start] };
  } else {
    page = {
      sql: `SELECT o.id, (SELECT min(t.value) FROM search_terms t WHERE t.obj_id = o.id AND t.field IN (SELECT id FROM search_fields WHERE org = ? AND idx = ? AND key = ?)) AS sk FROM objects o WHERE o.id IN (${set.sql}) ORDER BY sk ${direction} NULLS LAST, o.name LIMIT ? OFFSET ?`,
      params: [scope.org, scope.idx, sort.key, ...set.params, options.rows, options.start],
    };
  }
  const attributes = options.attributes;
  const params: unknown[] = [...page.params];
  let columns = "o.data AS doc";
  const rowsInSql = options.partialRows !== undefined && on.driver.dialect === "sqlite" && options.partialRows.entries.every(({ path }) => path.length > 0 && path.every(isPlainPathPart));
  if (rowsInSql) {
    // The row's JSON is put together by SQLite: a path below a top-level attribute is its `->`,
    // which keeps the stored text of numbers, and is NULL (so null) where the path does not lead.
    const { urlPrefix, entries } = options.partialRows!;
    const parts = entries.map(({ path }) => `? || coalesce((SELECT v.json${path.length > 1 ? " -> ?" : ""} FROM search_views v WHERE v.obj_id = o.id AND v.grp IN (SELECT id FROM search_fields WHERE org = ? AND idx = ? AND key = ?)), 'null')`);
    columns = `'{"name":' || json_quote(o.name) || ',"url":' || json_quote(? || o.name) || ',"data":{' || ${parts.length > 0 ? parts.join(" || ',' || ") : "''"} || '}}' AS row`;
    params.push(urlPrefix);
    for (const { key, path } of entries) {
      params.push(`${JSON.stringify(key)}:`);
      if (path.length > 1) params.push(`$${path.slice(1).map((part) => `."${part}"`).join("")}`);
      params.push(scope.org, scope.idx, path[0]);
    }
  } else if (attributes) {
    columns = attributes.map((_, index) => `(SELECT v.json FROM search_views v WHERE v.obj_id = o.id AND v.grp IN (SELECT id FROM search_fields WHERE org = ? AND idx = ? AND key = ?)) AS a${index}`).join(", ") || "NULL AS none";
    for (const attribute of attributes) params.push(scope.org, scope.idx, attribute);
  }
  const order = sort === "created" ? `p.id ${direction}` : sort === "name" ? `p.sk ${direction}` : `p.sk ${direction} NULLS LAST, o.name`;
  const count = { sql: `SELECT count(${repeats ? "DISTINCT id" : "*"}) AS n FROM (${set.sql}) c`, params: set.params };
  // A sort key's values order the page: the page depends on that key too.
  if (typeof sort === "object") deps.fields.push({ sql: "org = ? AND idx = ? AND key = ?", params: [scope.org, scope.idx, sort.key] });
  const signature = dependencySignature(deps);
  let counted: Array<{ n: number | string }>;
  let rows: Array<Record<string, unknown> & { name: string; doc?: string }>;
  let cached: boolean | undefined;
  if (!on.inTransaction && signature && on.driver.searchCached && on.searchCache) {
    // Outside a transaction on SQLite: the count and the page's ids come from the search
    // thread's cache while the keys they depend on are unchanged; the rows are read again, or
    // (partial rows) kept while their objects' ETags are unchanged.
    const rowParams = params.slice(page.params.length);
    const result = await on.driver.searchCached({
      key: JSON.stringify([count.sql, count.params, page.sql, page.params, columns, rowParams]),
      signature,
      count,
      ids: page,
      rows: { sql: `WITH p AS (SELECT key, value FROM json_each(?)) SELECT o.id, o.name, o.etag, ${columns} FROM p JOIN objects o ON o.id = p.value ORDER BY p.key`, params: rowParams },
      // Partial rows are small: they are kept, each while its object is unchanged (whole documents are not).
      ...(rowsInSql ? { etags: { sql: "WITH p AS (SELECT key, value FROM json_each(?)) SELECT o.id, o.etag FROM p JOIN objects o ON o.id = p.value ORDER BY p.key", params: [] } } : {}),
    });
    counted = [{ n: result.count }];
    rows = result.rows as typeof rows;
    cached = result.cached;
  } else {
    const reads = [count, { sql: `WITH page AS (${page.sql}) SELECT o.id, o.name, ${columns} FROM page p JOIN objects o ON o.id = p.id ORDER BY ${order}`, params }];
    // Outside a transaction the reads run off this thread (SQLite), so saves go on meanwhile; both see one snapshot.
    [counted, rows] = (on.inTransaction ? await Promise.all(reads.map((read) => on.db.all(read.sql, read.params))) : await on.driver.readInBackground(reads)) as [typeof counted, typeof rows];
  }
  const hits = rows.map((row): SearchHit => {
    if (rowsInSql) return { name: row.name, row: row.row as string };
    if (!attributes) return { name: row.name, json: row.doc! };
    const found: Record<string, string> = {};
    attributes.forEach((attribute, index) => {
      const json = row[`a${index}`];
      if (typeof json === "string") found[attribute] = json;
    });
    return { name: row.name, attributes: found };
  });
  return { total: Number(counted[0]?.n ?? 0), hits, ...(cached === undefined ? {} : { cached }) };
}

/**
 * A key SQLite's JSON path can name inside double quotes (no quote, backslash or control
 * character), and not a whole number: partial search reads that as an array index on an array
 * (protocol/partial-search.ts), which a quoted JSON path would not.
 */
function isPlainPathPart(part: string): boolean {
  if (/^\d+$/.test(part)) return false;
  for (let i = 0; i < part.length; i++) {
    const code = part.charCodeAt(i);
    if (code < 0x20 || part[i] === '"' || part[i] === "\\") return false;
  }
  return true;
}
