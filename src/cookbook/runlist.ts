/** Run lists: parsing `recipe[...]` / `role[...]` items and expanding roles. */
// Only the functions used: the whole semver package costs a no-op run noticeable start-up time.
import valid from "semver/functions/valid.js";
import { SousError } from "../core/errors.js";
import type { RoleDefinition } from "../dsl.js";

/** One run list item; a recipe may pin its cookbook's version, as in Chef (`recipe[web@1.2.0]`). */
export type RunListItem = { kind: "recipe"; name: string; version?: string } | { kind: "role"; name: string };

const NAME = /^[A-Za-z0-9_.-]+$/;

/** Parses one item: `recipe[web]`, `recipe[web::site]`, `recipe[web@1.2.0]`, `role[base]`, or a bare `web::site`. */
export function parseRunListItem(text: string): RunListItem {
  if (typeof text !== "string") throw new SousError("bad-run-list", `run list item ${JSON.stringify(text)} is not a string`);
  const trimmed = text.trim();
  const match = /^(recipe|role)\[(.*)\]$/.exec(trimmed);
  const kind = match ? (match[1] as "recipe" | "role") : "recipe";
  const name = match ? match[2]!.trim() : trimmed;
  if (kind === "role" && NAME.test(name)) return { kind, name };
  if (kind === "recipe") {
    const [unversioned, version, extraAt] = name.split("@");
    const [cookbook, recipe, extra] = unversioned!.split("::");
    const versionOk = version === undefined || (valid(version) !== null && extraAt === undefined);
    if (cookbook && NAME.test(cookbook) && extra === undefined && (recipe === undefined || NAME.test(recipe)) && versionOk) {
      return { kind, name: `${cookbook}::${recipe ?? "default"}`, ...(version !== undefined ? { version } : {}) };
    }
  }
  throw new SousError("bad-run-list", `run list item ${JSON.stringify(text)} is not recipe[cookbook], recipe[cookbook::recipe], recipe[cookbook@1.2.3], role[name] or cookbook::recipe`);
}

/** Parses a comma-separated or array run list. */
export function parseRunList(value: string | readonly string[]): RunListItem[] {
  const items = typeof value === "string" ? value.split(",").filter((s) => s.trim() !== "") : value;
  return items.map(parseRunListItem);
}

/** Formats an item back to text. */
export function formatRunListItem(item: RunListItem): string {
  return `${item.kind}[${item.name}${item.kind === "recipe" && item.version ? `@${item.version}` : ""}]`;
}

/** The result of expanding a run list. */
export interface ExpandedRunList {
  /** Recipes in order, duplicates removed keeping the first. */
  recipes: string[];
  /** Cookbook versions the run list asks for (`recipe[web@1.2.0]`), with the item that asked. */
  versions: Record<string, { version: string; item: string }>;
  /** Roles in the order they were expanded, each once. */
  roles: string[];
  /**
   * The same roles in the order their attributes apply: each role after the roles it
   * includes (so it wins over them) and after the roles before it in the run list.
   */
  rolesByPrecedence: string[];
}

/**
 * Expands roles depth-first, in order; a recipe or role seen before is skipped (first
 * occurrence wins). A role that includes itself, directly or not, is an error naming the chain.
 */
export function expandRunList(items: readonly RunListItem[], roles: Pick<ReadonlyMap<string, RoleDefinition>, "get" | "keys">, environment: string): ExpandedRunList {
  const recipes: string[] = [];
  const seenRoles: string[] = [];
  const rolesByPrecedence: string[] = [];
  const versions: ExpandedRunList["versions"] = {};
  const visit = (list: readonly RunListItem[], chain: string[]) => {
    for (const item of list) {
      if (item.kind === "recipe") {
        if (!recipes.includes(item.name)) recipes.push(item.name);
        if (item.version !== undefined) {
          const cookbook = item.name.split("::")[0]!;
          const other = versions[cookbook];
          if (other && other.version !== item.version) throw new SousError("bad-run-list", `the run list asks for two versions of cookbook ${cookbook}: ${other.item} and ${formatRunListItem(item)}`);
          versions[cookbook] = { version: item.version, item: formatRunListItem(item) };
        }
        continue;
      }
      if (chain.includes(item.name)) throw new SousError("role-cycle", `roles include each other: ${[...chain, item.name].map((r) => `role[${r}]`).join(" → ")}`);
      if (seenRoles.includes(item.name)) continue;
      const role = roles.get(item.name);
      if (!role) {
        const known = [...roles.keys()];
        throw new SousError("unknown-role", `role[${item.name}] is not defined (roles/${item.name}.ts or .json)${known.length ? `; known roles: ${known.join(", ")}` : ""}`);
      }
      seenRoles.push(item.name);
      const runList = role.envRunLists?.[environment] ?? role.runList ?? [];
      let parsed: RunListItem[];
      try {
        parsed = parseRunList(runList);
      } catch (error) {
        throw new SousError("bad-run-list", `role[${item.name}]: ${(error as Error).message}`);
      }
      visit(parsed, [...chain, item.name]);
      rolesByPrecedence.push(item.name);
    }
  };
  visit(items, []);
  return { recipes, roles: seenRoles, rolesByPrecedence, versions };
}
