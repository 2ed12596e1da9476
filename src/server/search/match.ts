// A parsed query evaluated against one object's search rows in memory, with the meaning the SQL
// of sql.ts gives it (shared/SEARCH.md): for searching a folder of JSON without a server, where
// the objects are few and read afresh for each search.
import { numericValue } from "./flatten.js";
import type { SearchRow } from "./flatten.js";
import type { Pattern, Query } from "./query.js";
import { isLiteral, literalText } from "./query.js";

const compiled = new WeakMap<Pattern, RegExp>();

/** A wildcard pattern as an anchored, case-sensitive regular expression (`*` any run, `?` one character). */
function patternRegExp(pattern: Pattern): RegExp {
  let regexp = compiled.get(pattern);
  if (!regexp) {
    const source = pattern.parts.map((part) => (typeof part === "string" ? part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") : part.wildcard === "*" ? "[\\s\\S]*" : "[\\s\\S]")).join("");
    regexp = new RegExp(`^${source}$`, "u");
    compiled.set(pattern, regexp);
  }
  return regexp;
}

function patternMatches(pattern: Pattern, text: string): boolean {
  return isLiteral(pattern) ? literalText(pattern) === text : patternRegExp(pattern).test(text);
}

function isAnyKey(pattern: Pattern): boolean {
  return pattern.parts.length === 1 && typeof pattern.parts[0] !== "string";
}

function termMatches(query: Extract<Query, { type: "term" }>, key: string, value: string): boolean {
  if (!isAnyKey(query.key) && !patternMatches(query.key, key)) return false;
  if (query.phrase) {
    // A phrase is the whole value or whole words inside it, as in sql.ts.
    const phrase = literalText(query.value);
    return value === phrase || value.startsWith(`${phrase} `) || value.endsWith(` ${phrase}`) || value.includes(` ${phrase} `);
  }
  const anyValue = query.value.parts.length === 1 && typeof query.value.parts[0] !== "string" && query.value.parts[0]!.wildcard === "*";
  return anyValue || patternMatches(query.value, value);
}

function rangeMatches(query: Extract<Query, { type: "range" }>, key: string, value: string): boolean {
  if (!patternMatches(query.key, key)) return false;
  const minNumber = query.min === null ? null : numericValue(query.min);
  const maxNumber = query.max === null ? null : numericValue(query.max);
  // Numbers compare as numbers when both bounds are numbers (or open); otherwise text, byte order.
  const numeric = (query.min === null || minNumber !== null) && (query.max === null || maxNumber !== null) && (query.min !== null || query.max !== null);
  if (numeric) {
    const number = numericValue(value);
    if (number === null) return false;
    if (minNumber !== null && (query.minInclusive ? number < minNumber : number <= minNumber)) return false;
    if (maxNumber !== null && (query.maxInclusive ? number > maxNumber : number >= maxNumber)) return false;
    return true;
  }
  const bytes = Buffer.from(value);
  if (query.min !== null) {
    const order = bytes.compare(Buffer.from(query.min));
    if (query.minInclusive ? order < 0 : order <= 0) return false;
  }
  if (query.max !== null) {
    const order = bytes.compare(Buffer.from(query.max));
    if (query.maxInclusive ? order > 0 : order >= 0) return false;
  }
  return true;
}

/** Whether an object with these search rows is a hit of the query. */
export function matchesRows(query: Query, rows: readonly SearchRow[]): boolean {
  switch (query.type) {
    case "all":
      return true;
    case "term":
      return rows.some(([key, value]) => termMatches(query, key, value));
    case "range":
      return rows.some(([key, value]) => rangeMatches(query, key, value));
    case "and":
      return query.items.every((item) => matchesRows(item, rows));
    case "or":
      return query.items.some((item) => matchesRows(item, rows));
    case "not":
      return !matchesRows(query.item, rows);
  }
}
