/**
 * The TypeScript declarations that make cookbook-defined resource types functions of every
 * recipe's `resources`: `.sous/resource-types.d.ts` adds each cookbook's `resources/<type>.ts`
 * to the global `SousCustomResources` interface. Paths in it are relative to the file, so a
 * repository checked out elsewhere (or on another machine) type-checks the same.
 */
import { dirname, join, relative } from "node:path";
import { writeGeneratedFile } from "./generated-file.js";
import type { Repository } from "./repository.js";

/** Where the declarations are written, relative to the repository root. */
export const RESOURCE_TYPES_FILE = join(".sous", "resource-types.d.ts");

/** The declarations for a repository's custom resource types (the newest version of each cookbook wins). */
export function resourceTypesDeclaration(repository: Repository): string {
  const file = join(repository.root, RESOURCE_TYPES_FILE);
  const byType = new Map<string, string>();
  // Repository cookbooks first, then installed ones; among versions of one cookbook, the order openRepository gives.
  for (const cookbook of repository.cookbooks) {
    for (const [type, path] of Object.entries(cookbook.resources)) {
      if (byType.has(type)) continue;
      let specifier = relative(dirname(file), path).split("\\").join("/").replace(/\.(ts|mts)$/, ".js");
      if (!specifier.startsWith(".")) specifier = `./${specifier}`;
      byType.set(type, specifier);
    }
  }
  const entries = [...byType.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return [
    "// Written by Sous from the cookbooks' resources/ folders; rewritten by sous cookbook check, converge and test.",
    "// It types the custom resources of every recipe's `resources`. Do not edit.",
    "export {};",
    "declare global {",
    "  interface SousCustomResources {",
    ...entries.map(([type, specifier]) => `    ${JSON.stringify(type)}: typeof import(${JSON.stringify(specifier)}).default;`),
    "  }",
    "}",
    "",
  ].join("\n");
}

/** Writes `.sous/resource-types.d.ts` when its content changed; returns its path. Best effort: a read-only repository still converges. */
export function writeResourceTypes(repository: Repository): string {
  const file = join(repository.root, RESOURCE_TYPES_FILE);
  writeGeneratedFile(file, resourceTypesDeclaration(repository));
  return file;
}

/** The custom resource types a repository's cookbooks define (compiled from their resources/ folders), with the cookbook of each. */
export async function repositoryResourceTypes(root: string): Promise<Array<{ type: import("../core/resource.js").ResourceType; cookbook: string }>> {
  const { openRepository } = await import("./repository.js");
  const { compileRepository } = await import("./compile.js");
  const { isCustomResourceType } = await import("../custom-resource.js");
  const repository = openRepository(root);
  const withResources = repository.cookbooks.filter((c) => Object.keys(c.resources).length > 0);
  if (withResources.length === 0) return [];
  const compiled = await compileRepository(repository, { definitions: false, cookbooks: withResources });
  const out: Array<{ type: import("../core/resource.js").ResourceType; cookbook: string }> = [];
  for (const cookbook of withResources) {
    for (const value of Object.values(compiled.cookbooks[cookbook.dir]?.resources ?? {})) {
      if (isCustomResourceType(value)) out.push({ type: value, cookbook: `${cookbook.name}@${cookbook.version}` });
    }
  }
  return out;
}
