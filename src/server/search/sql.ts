// A normalized query → one SQL statement yielding the matching object ids (column `id`), run
// inside the database over the search_terms table: exact terms and trailing wildcards are index
// seeks on (field, value), boolean operators are set operations (INTERSECT / UNION / EXCEPT).
import { badRequest } from "../errors.js";
import type { Pattern, Query } from "./query.js";
import { isLiteral, literalText } from "./query.js";
import { comparableUnits, inUnit, numberWithUnit } from "./units.js";

/** Which objects a search runs over. */
export interface SearchScope {
  org: string;
  /** Search index name as stored in search_fields (`node`, `role`, `bag:users`...). */
  idx: string;
  /** objects.kind and objects.bag of the same objects, for "everything" and NOT. */
  kind: string;
  bag: string;
}

/** SQL text with `?` placeholders and its parameters. */
export interface SqlFragment {
  sql: string;
  params: unknown[];
}

/**
 * What a compiled query's hits depend on: the search_fields rows its key conditions select (each
 * kept as a condition on search_fields; a key's version changes whenever a row of it is added or
 * removed, and a new key matching a pattern shows up as a new row), and for "everything" and NOT
 * the set of objects. A query whose key condition is any key at all depends on every field of
 * the index and is not tracked.
 */
export interface SearchDependencies {
  fields: SqlFragment[];
  objects: boolean;
  untracked: boolean;
}

/** The highest code point: `prefix` ≤ v < `prefix + MAX` is "v starts with prefix" in byte order. */
const MAX_CHAR = "\u{10FFFF}";

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (ch) => `\\${ch}`);
}

function likeOf(pattern: Pattern): string {
  return pattern.parts.map((part) => (typeof part === "string" ? escapeLike(part) : part.wildcard === "*" ? "%" : "_")).join("");
}

function leadingLiteral(pattern: Pattern): string {
  const first = pattern.parts[0];
  return typeof first === "string" ? first : "";
}

function isOnlyTrailingStar(pattern: Pattern): boolean {
  const parts = pattern.parts;
  const last = parts[parts.length - 1];
  return parts.length >= 1 && typeof last !== "string" && last!.wildcard === "*" && parts.slice(0, -1).every((part) => typeof part === "string");
}

/** Conditions on one column for a pattern, pushed into `where` / `params`. */
function patternCondition(column: string, pattern: Pattern, where: string[], params: unknown[]): void {
  if (isLiteral(pattern)) {
    where.push(`${column} = ?`);
    params.push(literalText(pattern));
    return;
  }
  const prefix = leadingLiteral(pattern);
  if (prefix) {
    // A range on the literal prefix lets both databases seek the index before matching the rest.
    where.push(`${column} >= ?`, `${column} < ?`);
    params.push(prefix, prefix + MAX_CHAR);
  }
  if (isOnlyTrailingStar(pattern)) return;
  where.push(`${column} LIKE ? ESCAPE '\\'`);
  params.push(likeOf(pattern));
}

/** A key written backwards (by code point), for suffix patterns: `*_version` is a prefix of the reversed keys. */
export function reversedKey(key: string): string {
  return Array.from(key).reverse().join("");
}

/** Column references of search_terms as a statement names them (a probe hides value and num from the indexes with `+`). */
interface Columns {
  field: string;
  value: string;
  num: string;
}

const PLAIN: Columns = { field: "field", value: "value", num: "num" };

/** A term's key: the pattern with dots kept, and its reading as a dotted path when it has dots. */
interface KeyPatterns {
  key: Pattern;
  dotted?: Pattern | undefined;
}

/** The search_fields conditions (after org and idx) for one wildcard key pattern. */
function keyPatternConditions(pattern: Pattern): { where: string[]; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  patternCondition("key", pattern, where, params);
  const last = pattern.parts[pattern.parts.length - 1];
  if (!leadingLiteral(pattern) && typeof last === "string" && last !== "") {
    where.push("rkey >= ?", "rkey < ?");
    params.push(reversedKey(last), reversedKey(last) + MAX_CHAR);
  }
  return { where, params };
}

/**
 * The field numbers a key pattern denotes: a literal key is one lookup, a wildcard key expands to
 * the known keys it matches. A key pattern that starts with a wildcard and ends with text seeks
 * the reversed keys, so `*_product_name` does not scan every key (there are millions on a large
 * fleet: each address and interface name makes its own). A field with dots matches the keys of
 * both its readings: the key with the dots kept (Chef's flattened keys keep an address's dots)
 * and its dotted path.
 */
function fieldCondition(scope: SearchScope, keys: KeyPatterns | undefined, column: string, where: string[], params: unknown[], deps?: SearchDependencies): void {
  const pattern = keys?.key;
  const dotted = keys?.dotted;
  if (pattern && isLiteral(pattern) && !dotted) {
    // An equality, not IN: the index then yields the term's objects in id order.
    const fields = "org = ? AND idx = ? AND key = ?";
    where.push(`${column} = (SELECT id FROM search_fields WHERE ${fields})`);
    params.push(scope.org, scope.idx, literalText(pattern));
    deps?.fields.push({ sql: fields, params: [scope.org, scope.idx, literalText(pattern)] });
    return;
  }
  if (pattern && isLiteral(pattern) && dotted && isLiteral(dotted)) {
    const fields = "org = ? AND idx = ? AND key IN (?, ?)";
    const fieldParams = [scope.org, scope.idx, literalText(pattern), literalText(dotted)];
    where.push(`${column} IN (SELECT id FROM search_fields WHERE ${fields})`);
    params.push(...fieldParams);
    deps?.fields.push({ sql: fields, params: fieldParams });
    return;
  }
  const innerParams: unknown[] = [scope.org, scope.idx];
  let inner = "";
  if (pattern) {
    const readings = [pattern, ...(dotted ? [dotted] : [])].map(keyPatternConditions);
    if (readings.length === 1) inner = readings[0]!.where.map((w) => ` AND ${w}`).join("");
    else inner = ` AND (${readings.map((reading) => `(${reading.where.join(" AND ")})`).join(" OR ")})`;
    for (const reading of readings) innerParams.push(...reading.params);
  }
  const fields = `org = ? AND idx = ?${inner}`;
  where.push(`${column} IN (SELECT id FROM search_fields WHERE ${fields})`);
  params.push(...innerParams);
  if (deps) {
    if (pattern) deps.fields.push({ sql: fields, params: innerParams });
    else deps.untracked = true;
  }
}

function rowsSelect(where: string[], params: unknown[]): SqlFragment {
  return { sql: `SELECT obj_id AS id FROM search_terms WHERE ${where.join(" AND ")}`, params };
}

/**
 * Whether a compiled query is one term's rows, which may name an object twice (one value under
 * several top-level attributes, for leaf keys); set operations never repeat an id.
 */
export function mayRepeatIds(fragment: SqlFragment): boolean {
  return fragment.sql.startsWith("SELECT obj_id AS id FROM search_terms ");
}

function allSelect(scope: SearchScope, deps?: SearchDependencies): SqlFragment {
  if (deps) deps.objects = true;
  return { sql: "SELECT id FROM objects WHERE org = ? AND kind = ? AND bag = ?", params: [scope.org, scope.kind, scope.bag] };
}

function isAnyKey(query: Extract<Query, { type: "term" }>): boolean {
  return query.key.parts.length === 1 && typeof query.key.parts[0] !== "string";
}

/**
 * "The value's unit is exactly `unit`", for a row whose number is known (its text is a number,
 * perhaps a space, then its unit): the text ends with the unit, after a digit, a point or the space.
 */
function unitCondition(valueColumn: string, unit: string, params: unknown[]): string {
  params.push(unit);
  const length = unit.length;
  return `substr(${valueColumn}, length(${valueColumn}) - ${length - 1}) = ? AND substr(${valueColumn}, length(${valueColumn}) - ${length}, 1) IN ('0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '.', ' ')`;
}

/** The conditions on one search_terms row for a term or a range. */
function rowConditions(scope: SearchScope, query: Extract<Query, { type: "term" | "range" }>, columns: Columns, deps?: SearchDependencies): { where: string[]; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  if (query.type === "range") {
    fieldCondition(scope, query, columns.field, where, params, deps);
    const minNumber = query.min === null ? null : numberWithUnit(query.min);
    const maxNumber = query.max === null ? null : numberWithUnit(query.max);
    const numeric = (query.min === null || minNumber !== null) && (query.max === null || maxNumber !== null) && (query.min !== null || query.max !== null);
    const unit = minNumber?.unit || maxNumber?.unit || "";
    if (numeric && unit !== "") {
      // Bounds with a unit: a value compares in its own unit, converted, if it has one the bound's unit converts into.
      where.push(`${columns.num} IS NOT NULL`);
      const alternatives = comparableUnits(unit).map((valueUnit) => {
        const conditions = [unitCondition(columns.value, valueUnit, params)];
        if (minNumber) {
          conditions.push(`${columns.num} ${query.minInclusive ? ">=" : ">"} ?`);
          params.push(inUnit(minNumber, valueUnit));
        }
        if (maxNumber) {
          conditions.push(`${columns.num} ${query.maxInclusive ? "<=" : "<"} ?`);
          params.push(inUnit(maxNumber, valueUnit));
        }
        return `(${conditions.join(" AND ")})`;
      });
      where.push(`(${alternatives.join(" OR ")})`);
      return { where, params };
    }
    // Plain numbers as bounds compare values as numbers, a value with a unit by its number.
    const column = numeric ? columns.num : columns.value;
    if (numeric) where.push(`${columns.num} IS NOT NULL`);
    if (query.min !== null) {
      where.push(`${column} ${query.minInclusive ? ">=" : ">"} ?`);
      params.push(numeric ? minNumber!.value : query.min);
    }
    if (query.max !== null) {
      where.push(`${column} ${query.maxInclusive ? "<=" : "<"} ?`);
      params.push(numeric ? maxNumber!.value : query.max);
    }
  } else {
    fieldCondition(scope, isAnyKey(query) ? undefined : query, columns.field, where, params, deps);
    if (query.phrase) {
      // Sous matches a phrase as the whole value or as whole words inside it.
      const phrase = literalText(query.value);
      const like = escapeLike(phrase);
      const v = columns.value;
      where.push(`(${v} = ? OR ${v} LIKE ? ESCAPE '\\' OR ${v} LIKE ? ESCAPE '\\' OR ${v} LIKE ? ESCAPE '\\')`);
      params.push(phrase, `${like} %`, `% ${like}`, `% ${like} %`);
    } else {
      const anyValue = query.value.parts.length === 1 && typeof query.value.parts[0] !== "string" && (query.value.parts[0] as { wildcard: string }).wildcard === "*";
      if (!anyValue) patternCondition(columns.value, query.value, where, params);
    }
  }
  return { where, params };
}

// One alias for every operand: each is its own scope, and the same query must compile to the
// same text (prepared statements and cached results are found by it).
function wrap(fragment: SqlFragment): string {
  return `SELECT id FROM (${fragment.sql}) q`;
}

/**
 * Most operands of one compound SELECT. SQLite refuses more than 500 and its parser's depth grows
 * with each: a longer UNION or INTERSECT (a query of hundreds of OR terms) is nested in groups.
 */
const MAX_COMPOUND = 50;

function setOperation(operator: "INTERSECT" | "UNION" | "EXCEPT", first: SqlFragment, rest: SqlFragment[]): SqlFragment {
  if (rest.length === 0) return first;
  let operands = [first, ...rest];
  // UNION and INTERSECT are associative: groups of MAX_COMPOUND, then groups of groups.
  while (operator !== "EXCEPT" && operands.length > MAX_COMPOUND) {
    const groups: SqlFragment[] = [];
    for (let start = 0; start < operands.length; start += MAX_COMPOUND) groups.push(setOperation(operator, operands[start]!, operands.slice(start + 1, start + MAX_COMPOUND)));
    operands = groups;
  }
  return {
    sql: operands.map(wrap).join(` ${operator} `),
    params: operands.flatMap((fragment) => fragment.params),
  };
}

/** Most terms (field:value, ranges) one query may have; the query length limit keeps real ones far below. */
export const MAX_QUERY_TERMS = 1024;

function countTerms(query: Query): number {
  switch (query.type) {
    case "all":
      return 0;
    case "term":
    case "range":
      return 1;
    case "not":
      return countTerms(query.item);
    case "or":
    case "and":
      return query.items.reduce((sum, item) => sum + countTerms(item), 0);
  }
}

/** Throws 400 `bad_query` when a query has more terms than MAX_QUERY_TERMS. */
export function checkQueryTerms(query: Query): void {
  const terms = countTerms(query);
  if (terms > MAX_QUERY_TERMS) throw badRequest("bad_query", `search query has ${terms} terms; the limit is ${MAX_QUERY_TERMS} terms (split it into several searches)`, { limit: MAX_QUERY_TERMS });
}

/**
 * Compiles a query to a statement selecting the ids of matching objects in `scope`; `deps`, when
 * given, collects what the hits depend on.
 */
export function compileQuery(query: Query, scope: SearchScope, deps?: SearchDependencies): SqlFragment {
  switch (query.type) {
    case "all":
      return allSelect(scope, deps);
    case "term":
    case "range": {
      const row = rowConditions(scope, query, PLAIN, deps);
      return rowsSelect(row.where, row.params);
    }
    case "not":
      return setOperation("EXCEPT", allSelect(scope, deps), [compileQuery(query.item, scope, deps)]);
    case "or":
      return setOperation("UNION", compileQuery(query.items[0]!, scope, deps), query.items.slice(1).map((item) => compileQuery(item, scope, deps)));
    case "and": {
      const positives = query.items.filter((item) => item.type !== "not");
      const negatives = query.items.filter((item): item is Extract<Query, { type: "not" }> => item.type === "not").map((item) => compileQuery(item.item, scope, deps));
      const base = positives.length === 0 ? allSelect(scope, deps) : setOperation("INTERSECT", compileQuery(positives[0]!, scope, deps), positives.slice(1).map((item) => compileQuery(item, scope, deps)));
      if (negatives.length === 0) return base;
      // EXCEPT of a UNION: one set difference however many negatives.
      return setOperation("EXCEPT", base, [setOperation("UNION", negatives[0]!, negatives.slice(1))]);
    }
  }
}

function isEqualityTerm(query: Query): query is Extract<Query, { type: "term" }> {
  // A dotted field is two keys, whose rows do not come out of the index in one id order.
  return query.type === "term" && !query.phrase && isLiteral(query.key) && !query.dotted && isLiteral(query.value);
}

function isProbe(query: Query): query is Extract<Query, { type: "term" | "range" }> {
  return query.type === "range" || (query.type === "term" && !isAnyKey(query));
}

const DRIVER: Columns = { field: "t.field", value: "t.value", num: "t.num" };
// `+` keeps SQLite from answering a probe through the value or number index: the primary key
// (object, field) finds the object's rows for that field directly.
const PROBE: Columns = { field: "u.field", value: "+u.value", num: "+u.num" };

/**
 * The hits of a query as a statement that yields ids in id order without looking at every hit,
 * so that a page cut with LIMIT stops early: an exact term drives (its index entries are in id
 * order) and the other parts of an AND are checked per object through the primary key. Counting
 * every hit stays with `compileQuery` (merging whole sets is faster there). Undefined when no
 * exact term can drive. SQLite only: PostgreSQL's planner, not knowing the field numbers when it
 * plans, turns these probes into nested scans (0.5 s on 10,000 nodes) and does better with sets.
 */
export function compileStream(query: Query, scope: SearchScope): SqlFragment | undefined {
  const items = query.type === "and" ? query.items : [query];
  // Each item is one condition of a flat AND, which the parser nests one level deeper per item.
  if (items.length > MAX_COMPOUND) return undefined;
  const driverAt = items.findIndex(isEqualityTerm);
  if (driverAt < 0) return undefined;
  const driver = rowConditions(scope, items[driverAt] as Extract<Query, { type: "term" }>, DRIVER);
  const where = [...driver.where];
  const params = [...driver.params];
  items.forEach((item, index) => {
    if (index === driverAt) return;
    const negated = item.type === "not";
    const inner = item.type === "not" ? item.item : item;
    if (isProbe(inner)) {
      const probe = rowConditions(scope, inner, PROBE);
      where.push(`${negated ? "NOT " : ""}EXISTS (SELECT 1 FROM search_terms u WHERE u.obj_id = t.obj_id AND ${probe.where.join(" AND ")})`);
      params.push(...probe.params);
    } else {
      const set = compileQuery(inner, scope);
      where.push(`t.obj_id ${negated ? "NOT IN" : "IN"} (${set.sql})`);
      params.push(...set.params);
    }
  });
  return { sql: `SELECT DISTINCT t.obj_id AS id FROM search_terms t WHERE ${where.join(" AND ")}`, params };
}

/** Most keys one key pattern of a cached search may match. */
const MAX_TRACKED_KEYS = 1000;

/**
 * One row (column `sig`) that changes whenever the hits of a query with these dependencies may
 * have: for the keys each key condition selects, how many there are and the sum of their versions
 * (versions only go up, so any new key or any change moves one of the two; keys are deleted only
 * when unused, which moves the key generation, also part of it), and the objects' version when
 * the query depends on the set of objects; NULL when a key
 * pattern matches too many keys to track. Undefined for an untracked query.
 */
export function dependencySignature(deps: SearchDependencies): SqlFragment | undefined {
  if (deps.untracked) return undefined;
  // A key pattern that matches more than MAX_TRACKED_KEYS keys (say one per address on a large
  // fleet) gives NULL, and so does the whole signature: such a search is not cached, rather than
  // reading every key's version each time.
  const parts = deps.fields.map(
    (fields) =>
      `(SELECT CASE WHEN (SELECT count(*) FROM (SELECT 1 FROM search_fields WHERE ${fields.sql} LIMIT ${MAX_TRACKED_KEYS + 1})) > ${MAX_TRACKED_KEYS} THEN NULL ELSE (SELECT count(*) || '.' || coalesce(sum(version), 0) FROM search_fields WHERE ${fields.sql}) END)`,
  );
  if (deps.objects) parts.push("coalesce((SELECT value FROM store_meta WHERE name = 'objects_version'), '-')");
  // Keys no object uses are deleted: a new key matching a pattern could then bring back a count
  // and a sum seen before. Every deletion moves this generation.
  if (deps.fields.length > 0) parts.push("coalesce((SELECT value FROM store_meta WHERE name = 'fields_removed'), '-')");
  if (parts.length === 0) return undefined;
  return { sql: `SELECT ${balancedConcat(parts)} AS sig`, params: deps.fields.flatMap((fields) => [...fields.params, ...fields.params]) };
}

/** Parts joined with `|` as a balanced tree of `||`: a flat chain of hundreds goes past SQLite's expression depth (1000). */
function balancedConcat(parts: readonly string[]): string {
  if (parts.length === 1) return parts[0]!;
  const half = parts.length >> 1;
  return `(${balancedConcat(parts.slice(0, half))} || '|' || ${balancedConcat(parts.slice(half))})`;
}
