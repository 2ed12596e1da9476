// Lucene query text → a small normalized tree (shared/SEARCH.md rules 6-9), with AND binding
// tighter than OR. Parsing is the `lucene` package's; this file only interprets its output.
import lucene from "lucene";
import { badRequest } from "../errors.js";
import { checkOperators } from "./operators.js";
import { numberWithUnit, unitMismatch } from "./units.js";

/** A value pattern: literal text, or text with `*` / `?` wildcards. */
export interface Pattern {
  /** Pieces of the pattern: literal strings and wildcard markers. */
  parts: Array<string | { wildcard: "*" | "?" }>;
}

/**
 * A normalized search query. A field name with unescaped dots has two readings, and matches the
 * keys of both: `key` keeps the dots (Chef's flattened keys do, `..._addresses_10.0.1.11_family`),
 * `dotted` is Sous's dotted path (`kernel.release` = `kernel_release`).
 */
export type Query =
  | { type: "all" }
  | { type: "term"; key: Pattern; dotted?: Pattern; value: Pattern; phrase: boolean }
  | { type: "range"; key: Pattern; dotted?: Pattern; min: string | null; max: string | null; minInclusive: boolean; maxInclusive: boolean }
  | { type: "and"; items: Query[] }
  | { type: "or"; items: Query[] }
  | { type: "not"; item: Query };

/** Largest query accepted, in characters: bounds parse time and SQL size. */
export const MAX_QUERY_LENGTH = 4096;

interface LuceneNode {
  left?: LuceneNode;
  right?: LuceneNode;
  operator?: string;
  start?: string;
  parenthesized?: boolean;
  field?: string;
  fieldLocation?: { start: { offset: number } } | null;
  term?: string;
  quoted?: boolean;
  regex?: boolean;
  prefix?: string | null;
  similarity?: number | null;
  proximity?: number | null;
  termLocation?: { start: { offset: number; column: number } } | null;
  term_min?: string;
  term_max?: string;
  inclusive?: "both" | "left" | "right" | "none";
}

/** True when a pattern has no wildcard. */
export function isLiteral(pattern: Pattern): boolean {
  return pattern.parts.every((part) => typeof part === "string");
}

/** The literal text of a pattern without wildcards. */
export function literalText(pattern: Pattern): string {
  return pattern.parts.map((part) => (typeof part === "string" ? part : part.wildcard)).join("");
}

/** Reads escapes and wildcards of a term; `wildcards` false for quoted phrases (wildcards are literal there). */
export function parsePattern(text: string, wildcards: boolean, offset = 0): Pattern {
  const parts: Pattern["parts"] = [];
  let literal = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === "\\") {
      if (i + 1 >= text.length) throw badRequest("bad_query", `search query: a \\ at position ${offset + i + 1} escapes nothing`);
      literal += text[++i];
    } else if (wildcards && (ch === "*" || ch === "?")) {
      if (literal) parts.push(literal);
      literal = "";
      parts.push({ wildcard: ch });
    } else if (ch === "/" && wildcards) {
      throw badRequest("bad_query", `search query: unescaped '/' at position ${offset + i + 1}; write \\/ (a bare / starts a regular expression, which Sous does not support)`);
    } else {
      literal += ch;
    }
  }
  if (literal) parts.push(literal);
  return { parts };
}

type Clause = { operator: string | null; negate: boolean; query: Query };

function isLeaf(node: LuceneNode): boolean {
  return node.term !== undefined || node.term_min !== undefined;
}

/** Turns one lucene node into a query, applying a group's field (`x:(a OR b)`) to unfielded terms. */
function convert(node: LuceneNode, defaultField: string | null): Query {
  if (isLeaf(node)) return convertLeaf(node, defaultField).query;
  return combine(chain(node, defaultField));
}

/** A right-nested lucene chain `a OP (b OP (c ...))` as a flat list of clauses, so precedence is ours to apply. */
function chain(node: LuceneNode, defaultField: string | null): Clause[] {
  const field = node.field && node.field !== "<implicit>" ? node.field : defaultField;
  const clauses: Clause[] = [];
  if (!node.left) return clauses;
  const first = clauseOf(node.left, field);
  if (node.start === "NOT") first.negate = !first.negate;
  clauses.push(first);
  if (node.operator && node.right) {
    const rest = !isLeaf(node.right) && !node.right.parenthesized && !node.right.start ? chain(node.right, field) : [clauseOf(node.right, field)];
    if (rest[0]) {
      let operator = node.operator;
      if (operator === "AND NOT" || operator === "NOT" || operator === "&& NOT") {
        operator = "AND";
        rest[0].negate = !rest[0].negate;
      } else if (operator === "OR NOT" || operator === "|| NOT") {
        operator = "OR";
        rest[0].negate = !rest[0].negate;
      }
      rest[0].operator = operator;
    }
    clauses.push(...rest);
  }
  return clauses;
}

function clauseOf(node: LuceneNode, field: string | null): Clause {
  if (isLeaf(node)) {
    const { query, prefix } = convertLeaf(node, field);
    return { operator: null, negate: prefix === "-" || prefix === "!", query, ...(prefix === "+" ? { required: true } : {}) };
  }
  return { operator: null, negate: false, query: convert(node, field) };
}

/** Builds AND-groups separated by OR (AND binds tighter), then ORs them. */
function combine(clauses: Clause[]): Query {
  const groups: Query[][] = [];
  for (const clause of clauses) {
    const query: Query = clause.negate ? { type: "not", item: clause.query } : clause.query;
    const op = clause.operator;
    // `a -b` and `a +b` read as "a, and (not) b", as Lucene's required/prohibited clauses do.
    const joinsAnd = op === "AND" || op === "&&" || (op === "<implicit>" && (clause.negate || (clause as { required?: boolean }).required === true));
    if (groups.length === 0 || !joinsAnd) groups.push([query]);
    else groups[groups.length - 1]!.push(query);
  }
  const ands = groups.map((group) => (group.length === 1 ? group[0]! : ({ type: "and", items: group } as Query)));
  if (ands.length === 0) return { type: "all" };
  return ands.length === 1 ? ands[0]! : { type: "or", items: ands };
}

function splitFieldPrefix(field: string): { field: string; prefix: string | null } {
  const first = field[0];
  if (first === "-" || first === "+" || first === "!") return { field: field.slice(1), prefix: first };
  return { field, prefix: null };
}

/** A field's key pattern with its dots kept, and, when it has unescaped dots, its reading as a dotted path. */
function keyPatterns(field: string, offset: number): { key: Pattern; dotted?: Pattern } {
  const key = parsePattern(field, true, offset);
  // Dotted paths are full paths (kernel.release = kernel_release); an escaped dot stays a dot.
  const underscored = field.replace(/(^|[^\\])\./g, "$1_").replace(/(^|[^\\])\./g, "$1_");
  return underscored === field ? { key } : { key, dotted: parsePattern(underscored, true, offset) };
}

function convertLeaf(node: LuceneNode, defaultField: string | null): { query: Query; prefix: string | null } {
  const rawField = node.field && node.field !== "<implicit>" ? node.field : defaultField;
  const fieldOffset = node.fieldLocation?.start.offset ?? 0;
  if (rawField === null || rawField === undefined) {
    const at = (node.termLocation?.start.offset ?? 0) + 1;
    throw badRequest("bad_query", `search query: term '${node.term ?? node.term_min}' at position ${at} has no field; write field:value (or *:value for any field)`);
  }
  const { field, prefix: fieldPrefix } = splitFieldPrefix(rawField);
  const prefix = fieldPrefix ?? node.prefix ?? null;
  const { key, dotted } = keyPatterns(field, fieldOffset);
  const keys = dotted ? { key, dotted } : { key };
  if (node.term_min !== undefined) {
    const bound = (text: string | undefined): string | null => (text === undefined || text === "*" ? null : literalText(parsePattern(text, false)));
    const inclusive = node.inclusive ?? "both";
    const [min, max] = [bound(node.term_min), bound(node.term_max)];
    const mismatch = min !== null && max !== null ? unitMismatch(numberWithUnit(min), numberWithUnit(max)) : undefined;
    if (mismatch) throw badRequest("bad_query", `search query: the range of '${field}' at position ${fieldOffset + 1} has bounds ${min} and ${max}: ${mismatch}`);
    return {
      prefix,
      query: {
        type: "range",
        ...keys,
        min,
        max,
        minInclusive: inclusive === "both" || inclusive === "left",
        maxInclusive: inclusive === "both" || inclusive === "right",
      },
    };
  }
  const termOffset = node.termLocation?.start.offset ?? 0;
  if (node.regex) {
    throw badRequest("bad_query", `search query: regular expression at position ${termOffset + 1} is not supported; escape / as \\/`);
  }
  const term = node.term ?? "";
  const quoted = node.quoted === true;
  const value = parsePattern(term, !quoted, termOffset);
  if (isLiteral(key) && literalText(key) === "" ) {
    throw badRequest("bad_query", `search query: empty field name at position ${fieldOffset + 1}`);
  }
  const anyKey = key.parts.length === 1 && typeof key.parts[0] !== "string";
  const anyValue = !quoted && value.parts.length === 1 && typeof value.parts[0] !== "string" && (value.parts[0] as { wildcard: string }).wildcard === "*";
  if (anyKey && anyValue) return { prefix, query: { type: "all" } };
  return { prefix, query: { type: "term", ...keys, value, phrase: quoted } };
}

/** Parses a Lucene query; a syntax error becomes a 400 naming the position and what was expected. */
export function parseQuery(text: string): Query {
  if (text.length > MAX_QUERY_LENGTH) {
    throw badRequest("bad_query", `search query is ${text.length} characters long; the limit is ${MAX_QUERY_LENGTH}`);
  }
  if (text.trim() === "") return { type: "all" };
  checkOperators(text);
  let ast: LuceneNode;
  try {
    ast = lucene.parse(text) as LuceneNode;
  } catch (error) {
    const e = error as { location?: { start?: { offset?: number } }; found?: string | null; expected?: Array<{ type: string; text?: string; description?: string }> };
    const position = (e.location?.start?.offset ?? 0) + 1;
    const found = e.found === null || e.found === undefined ? "end of query" : `'${e.found}'`;
    const expected = summarizeExpected(e.expected ?? []);
    throw badRequest("bad_query", `search query: syntax error at position ${position}: found ${found}${expected ? `, expected ${expected}` : ""}`, { position, query: text });
  }
  return convert(ast, null);
}

function summarizeExpected(expected: Array<{ type: string; text?: string; description?: string }>): string {
  const words = new Set<string>();
  for (const item of expected) {
    if (item.type === "literal" && item.text) {
      if (["AND", "OR", "NOT", ")", "]", "}", "TO", ":"].includes(item.text.trim())) words.add(item.text.trim());
    } else if (item.type === "end") words.add("end of query");
  }
  if (expected.some((item) => item.type === "class" || item.type === "any")) words.add("a term");
  return [...words].slice(0, 6).join(", ");
}
