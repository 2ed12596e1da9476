// A parsed query evaluated against one object's search rows in memory, with the meaning the SQL
// of sql.ts gives it (shared/SEARCH.md): for searching a folder of JSON without a server, where
// the objects are few and read afresh for each search.
import type { SearchRow } from "./flatten.js";
import type { Pattern, Query } from "./query.js";
import { isLiteral, literalText } from "./query.js";
import { comparableUnits, inUnit, numberWithUnit } from "./units.js";

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

/** A key matches a field's pattern, or, for a field with dots, its reading as a dotted path (as in sql.ts). */
function keyMatches(query: Extract<Query, { type: "term" | "range" }>, key: string): boolean {
  return patternMatches(query.key, key) || (query.dotted !== undefined && patternMatches(query.dotted, key));
}

function termMatches(query: Extract<Query, { type: "term" }>, key: string, value: string): boolean {
  if (!isAnyKey(query.key) && !keyMatches(query, key)) return false;
  if (query.phrase) {
    // A phrase is the whole value or whole words inside it, as in sql.ts.
    const phrase = literalText(query.value);
    return value === phrase || value.startsWith(`${phrase} `) || value.endsWith(` ${phrase}`) || value.includes(` ${phrase} `);
  }
  const anyValue = query.value.parts.length === 1 && typeof query.value.parts[0] !== "string" && query.value.parts[0]!.wildcard === "*";
  return anyValue || patternMatches(query.value, value);
}

function rangeMatches(query: Extract<Query, { type: "range" }>, key: string, value: string): boolean {
  if (!keyMatches(query, key)) return false;
  const minNumber = query.min === null ? null : numberWithUnit(query.min);
  const maxNumber = query.max === null ? null : numberWithUnit(query.max);
  // Numbers compare as numbers when both bounds are numbers (or open); otherwise text, byte order.
  const numeric = (query.min === null || minNumber !== null) && (query.max === null || maxNumber !== null) && (query.min !== null || query.max !== null);
  if (numeric) {
    const number = numberWithUnit(value);
    if (number === null) return false;
    // Plain bounds compare a value's number whatever its unit; bounds with a unit compare a value
    // in a unit they convert into, the bounds expressed in that unit (search/units.ts).
    const unit = minNumber?.unit || maxNumber?.unit || "";
    if (unit !== "" && !comparableUnits(unit).includes(number.unit)) return false;
    const low = minNumber === null ? null : unit === "" ? minNumber.value : inUnit(minNumber, number.unit);
    const high = maxNumber === null ? null : unit === "" ? maxNumber.value : inUnit(maxNumber, number.unit);
    if (low !== null && (query.minInclusive ? number.value < low : number.value <= low)) return false;
    if (high !== null && (query.maxInclusive ? number.value > high : number.value >= high)) return false;
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
