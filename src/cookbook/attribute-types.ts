/**
 * Typed role and environment attributes. `.sous/attribute-types.d.ts` merges the type of
 * every cookbook's `attributes.ts` into the global `SousAttributes` interface, which types
 * `role()` and `environment()`: a misspelled key or a string for a number is a type error in
 * `sous cookbook check` and in editors. At converge time, keys that no cookbook of the run
 * declares are warned about (the type check cannot see JSON roles or node files).
 */
import { dirname, join, relative } from "node:path";
import type { AttributeTree } from "../dsl.js";
import { isPlainObject } from "./attributes.js";
import { writeGeneratedFile } from "./generated-file.js";
import type { Repository } from "./repository.js";

/** Where the declarations are written, relative to the repository root. */
export const ATTRIBUTE_TYPES_FILE = join(".sous", "attribute-types.d.ts");

/** The declarations of a repository's attribute types: the first cookbook of each name (the repository's own before installed ones). */
export function attributeTypesDeclaration(repository: Repository): string {
  const file = join(repository.root, ATTRIBUTE_TYPES_FILE);
  const seen = new Set<string>();
  const aliases: string[] = [];
  for (const cookbook of repository.cookbooks) {
    if (!cookbook.attributesFile || seen.has(cookbook.name)) continue;
    seen.add(cookbook.name);
    let specifier = relative(dirname(file), cookbook.attributesFile).split("\\").join("/").replace(/\.(ts|mts)$/, ".js");
    if (!specifier.startsWith(".")) specifier = `./${specifier}`;
    aliases.push(`type Cookbook${aliases.length} = typeof import(${JSON.stringify(specifier)}).default; // ${cookbook.name}`);
  }
  return [
    "// Written by Sous from the cookbooks' attributes.ts; rewritten by sous cookbook check and converge.",
    "// It types the attributes that roles and environments set. Do not edit.",
    "export {};",
    ...aliases,
    "declare global {",
    `  interface SousAttributes${aliases.length ? ` extends ${aliases.map((_, i) => `Cookbook${i}`).join(", ")}` : ""} {}`,
    "}",
    "",
  ].join("\n");
}

/** Writes `.sous/attribute-types.d.ts` when its content changed; returns its path. */
export function writeAttributeTypes(repository: Repository): string {
  const file = join(repository.root, ATTRIBUTE_TYPES_FILE);
  writeGeneratedFile(file, attributeTypesDeclaration(repository));
  return file;
}

/**
 * The keys of `tree` that `declared` (the cookbooks' merged defaults) does not have, as dotted
 * paths. Only where the declared value is an object are its keys compared: under a declared
 * scalar, array or free-form hash nothing is reported.
 */
export function undeclaredKeys(declared: AttributeTree, tree: AttributeTree, prefix = ""): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(tree)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (!(key in declared)) out.push(path);
    else {
      const known = declared[key];
      if (isPlainObject(known) && Object.keys(known).length > 0 && isPlainObject(value)) out.push(...undeclaredKeys(known, value, path));
    }
  }
  return out;
}
