// What search sees of an object: (key, value) rows following shared/SEARCH.md rules 1-5.
import { numberWithUnit } from "./units.js";

/**
 * One indexed (key, value) pair of an object, with the top-level attribute it comes from: a save
 * rewrites only the rows of the top-level attributes whose rows changed.
 */
export type SearchRow = readonly [key: string, value: string, group: string];

/** Index values longer than this are cut, so that one huge attribute cannot bloat the index (documented). */
export const MAX_INDEXED_VALUE_LENGTH = 300;

/** Keys longer than this are not indexed: with a capped value they keep an index entry within PostgreSQL's limit. */
export const MAX_INDEXED_KEY_LENGTH = 300;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isHash(value: unknown): value is Record<string, Json> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Deep-merges attribute levels, lowest precedence first: hashes merge key by key, anything else
 * replaces. A hash only one level has is shared with that level, not copied (a node's automatic
 * attributes are most of it): the result is for reading, and only hashes it made are ever changed.
 */
export function deepMerge(...levels: unknown[]): Record<string, Json> {
  const out: Record<string, Json> = {};
  const owned = new Set<object>([out]);
  for (const level of levels) {
    if (!isHash(level)) continue;
    mergeInto(out, level, owned);
  }
  return out;
}

function mergeInto(target: Record<string, Json>, source: Record<string, Json>, owned: Set<object>): void {
  for (const [key, value] of Object.entries(source)) {
    const existing = target[key];
    if (isHash(value) && isHash(existing)) {
      let base = existing;
      if (!owned.has(base)) {
        // A lower level's hash: copied before a higher level's keys go into it.
        base = { ...existing };
        owned.add(base);
        target[key] = base;
      }
      mergeInto(base, value, owned);
    } else {
      target[key] = value === undefined ? null : value;
    }
  }
}

/** The names inside a run list's `role[...]` or `recipe[...]` entries (bare names count as recipes). */
export function runListNames(runList: unknown, type: "role" | "recipe"): string[] {
  if (!Array.isArray(runList)) return [];
  const names: string[] = [];
  for (const entry of runList) {
    if (typeof entry !== "string") continue;
    const match = /^(role|recipe)\[(.+)\]$/.exec(entry);
    if (match) {
      if (match[1] === type) names.push(match[2]!);
    } else if (type === "recipe") {
      names.push(entry);
    }
  }
  return names;
}

/** How a node looks to search and partial search: its merged attributes plus name, environment, run list and `chef_type`. */
export function nodeSearchView(node: Record<string, unknown>): Record<string, Json> {
  const merged = deepMerge(node.default, node.normal, node.override, node.automatic);
  merged.name = String(node.name ?? "");
  merged.chef_environment = String(node.chef_environment ?? "_default");
  merged.run_list = (Array.isArray(node.run_list) ? node.run_list : []) as Json[];
  merged.role = runListNames(node.run_list, "role");
  merged.recipe = runListNames(node.run_list, "recipe");
  merged.chef_type = "node";
  return merged;
}

function scalarText(value: Json): string {
  if (value === null) return "";
  return typeof value === "string" ? value : String(value);
}

/**
 * Flattens a document into search rows: every value under its full `_`-joined path and under its
 * leaf key; array elements under the array's key; keys of a nested hash as values of its path.
 * Rows are grouped by top-level attribute (and unique within a group), in document order.
 */
export function flattenForSearch(document: Record<string, unknown>): SearchRow[] {
  return Object.entries(document).flatMap(([top, value]) => flattenAttribute(top, value));
}

/** The search rows of one top-level attribute of a document. */
export function flattenAttribute(top: string, value: unknown): SearchRow[] {
  const rows: SearchRow[] = [];
  if (value === undefined) return rows;
  const seen = new Set<string>();
  const emit = (key: string, fullValue: string): void => {
    if (key.length > MAX_INDEXED_KEY_LENGTH) return;
    const text = fullValue.length > MAX_INDEXED_VALUE_LENGTH ? fullValue.slice(0, MAX_INDEXED_VALUE_LENGTH) : fullValue;
    const id = `${key}\u0000${text}`;
    if (seen.has(id)) return;
    seen.add(id);
    rows.push([key, text, top]);
  };
  const walk = (item: Json, path: string, leaf: string): void => {
    if (Array.isArray(item)) {
      for (const element of item) walk(element, path, leaf);
    } else if (isHash(item)) {
      for (const [key, child] of Object.entries(item)) {
        emit(path, key);
        if (leaf !== path) emit(leaf, key);
        walk(child, `${path}_${key}`, key);
      }
    } else {
      const text = scalarText(item);
      emit(path, text);
      if (leaf !== path) emit(leaf, text);
    }
  };
  walk(value as Json, top, top);
  return rows;
}

/**
 * The number a value is compared by in numeric ranges: a plain decimal number, or a number with a
 * unit (`"8167980kB"` is 8167980; search/units.ts), or null.
 */
export function numericValue(text: string): number | null {
  return numberWithUnit(text)?.value ?? null;
}
