/** Attribute precedence and deep merging, as Chef users know them. */
import type { AttributeTree } from "../dsl.js";

/** The precedence levels, lowest first. */
export const PRECEDENCE = ["default", "role_default", "environment_default", "normal", "role_override", "environment_override", "automatic"] as const;

/** One level of attributes. */
export type PrecedenceLevel = (typeof PRECEDENCE)[number];

/** Whether a value is an attribute hash (not an array, a Buffer or a scalar). */
export function isPlainObject(value: unknown): value is AttributeTree {
  return value !== null && typeof value === "object" && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/**
 * Merges `higher` over `lower`: objects key by key, recursively; an array or scalar from
 * the higher level replaces the lower one whole. Neither input is changed.
 */
export function deepMerge(lower: AttributeTree, higher: AttributeTree): AttributeTree {
  const out: AttributeTree = { ...lower };
  for (const [key, value] of Object.entries(higher)) {
    const existing = out[key];
    out[key] = isPlainObject(existing) && isPlainObject(value) ? deepMerge(existing, value) : cloneValue(value);
  }
  return out;
}

function cloneValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(cloneValue);
  if (isPlainObject(value)) return deepMerge({}, value);
  return value;
}

/** Merges levels in precedence order; a level may hold several trees, merged in the order given. */
export function mergeAttributes(levels: Partial<Record<PrecedenceLevel, AttributeTree[]>>): AttributeTree {
  let merged: AttributeTree = {};
  for (const level of PRECEDENCE) for (const tree of levels[level] ?? []) merged = deepMerge(merged, tree);
  return merged;
}

/** Freezes a tree deeply so recipes cannot change attributes behind the engine's back. */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as object)) deepFreeze(child);
  }
  return value;
}
