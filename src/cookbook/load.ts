/**
 * From a repository and a run list to a frozen resource collection: compile the code,
 * expand roles, resolve cookbook versions, merge attributes by precedence, run the
 * recipes (includeRecipe once each) and gather every problem before anything applies.
 */
import { readFileSync } from "node:fs";
import { ResourceCollection, type FrozenCollection } from "../core/collection.js";
import { errorMessage, type Problem, SousError, ValidationError } from "../core/errors.js";
import { firstForeignFrame } from "../core/location.js";
import type { CookbookRef } from "../core/resource.js";
import { type AttributeTree, type EnvironmentDefinition, isRecipe, type NodeView, type RecipeContext, resourceFunctions, type RoleDefinition, type SousConfig } from "../dsl.js";
import { isCustomResourceType } from "../custom-resource.js";
import { builtinRegistry, ResourceRegistry } from "../resources/registry.js";
import type { SearchBackend } from "../search/backend.js";
import { recipeSearchFunctions } from "../search/recipe.js";
import { deepFreeze, deepMerge, mergeAttributes } from "./attributes.js";
import { undeclaredKeys, writeAttributeTypes } from "./attribute-types.js";
import { compileRepository } from "./compile.js";
import { lockedPins, readLock, verifyLocked } from "./lock.js";
import { writeMachineTsconfig } from "./editor-config.js";
import { writeResourceTypes } from "./resource-types.js";
import { type CookbookOnDisk, openRepository, type Repository } from "./repository.js";
import { resolveCookbooks } from "../protocol/resolve.js";
import { type ExpandedRunList, expandRunList, formatRunListItem, parseRunList } from "./runlist.js";

/** What a run needs to know to load its recipes. */
export interface LoadOptions {
  root: string;
  /** The run list; without one, sous.config.ts's runList is used. */
  runList?: string | readonly string[];
  environment?: string;
  nodeName?: string;
  /** Normal attributes (a node's own, e.g. from a JSON file). */
  normal?: AttributeTree;
  /** Override attributes of the node itself. */
  override?: AttributeTree;
  /** Automatic attributes: the facts (a promise lets facts be gathered while the code loads). */
  facts: AttributeTree | Promise<AttributeTree>;
  registry?: ResourceRegistry;
  /**
   * Whether sous.lock.json, when the repository has one, fixes the cookbook versions and
   * refuses cookbooks whose files changed since (default true; in-memory tests say false).
   */
  useLock?: boolean;
  /**
   * Where recipes' search() and dataBagItem() get their answers: a backend, or a function that
   * makes one from the repository's settings when a recipe first asks (so a run whose recipes
   * never search opens nothing). Without it, a recipe that searches fails naming its line.
   */
  search?: SearchBackend | ((settings: SousConfig) => SearchBackend | undefined);
}

/** A loaded run, ready to converge. */
export interface LoadedRun {
  repository: Repository;
  collection: FrozenCollection;
  node: NodeView;
  expanded: ExpandedRunList;
  cookbooks: Map<string, CookbookOnDisk>;
  /** Whether the compiled code came from the cache. */
  cached: boolean;
  /** The repository's sous.config.ts settings. */
  settings: SousConfig;
  /** Attribute keys set by roles, environments or the node that no cookbook of the run declares (a misspelling, or a left-over). */
  warnings: string[];
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new SousError("bad-json", `${file}: ${errorMessage(error)}`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function snakeCase(field: string): string {
  return field.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

/**
 * Role or environment definitions by name, each read and checked when first asked for:
 * like Chef, a run reads only the roles and the environment it uses, so a broken file
 * elsewhere does not stop it.
 */
function definitionsOf<T>(kind: string, files: Record<string, string>, compiled: Record<string, unknown>): Pick<ReadonlyMap<string, T>, "get" | "keys"> {
  const checked = new Map<string, T>();
  return {
    keys: () => Object.keys(files)[Symbol.iterator](),
    get: (name) => {
      const file = files[name];
      if (file === undefined) return undefined;
      const known = checked.get(name);
      if (known) return known;
      const definition = checkDefinition<T>(kind, file, file.endsWith(".json") ? readJson(file) : compiled[name]);
      checked.set(name, definition);
      return definition;
    },
  };
}

function checkDefinition<T>(kind: string, file: string, value: unknown): T {
  const expected = file.endsWith(".json") ? "a JSON object" : `${kind}({ ... })`;
  if (!isObject(value)) throw new SousError(`bad-${kind}`, `${file}: ${file.endsWith(".json") ? "the file" : "the default export"} must be ${expected}`);
  const raw = value as Record<string, unknown>;
  // Chef's JSON spelling is accepted too.
  const normalized = {
    ...raw,
    runList: raw.runList ?? raw.run_list,
    envRunLists: raw.envRunLists ?? raw.env_run_lists,
    defaultAttributes: raw.defaultAttributes ?? raw.default_attributes,
    overrideAttributes: raw.overrideAttributes ?? raw.override_attributes,
    cookbookVersions: raw.cookbookVersions ?? raw.cookbook_versions,
  };
  // Checked here because JSON files (and untyped JS) bypass the type checker.
  const bad = (field: string, what: string) => new SousError(`bad-${kind}`, `${file}: ${field} must be ${what}, got ${JSON.stringify(raw[field] ?? raw[snakeCase(field)])}`);
  const stringList = (list: unknown) => Array.isArray(list) && list.every((item) => typeof item === "string");
  if (normalized.runList !== undefined && !stringList(normalized.runList)) throw bad("runList", 'a list of run list items such as ["recipe[web]"]');
  if (normalized.envRunLists !== undefined && !(isObject(normalized.envRunLists) && Object.values(normalized.envRunLists).every(stringList))) throw bad("envRunLists", "an object of environment name → run list");
  for (const field of ["defaultAttributes", "overrideAttributes"] as const) {
    if (normalized[field] !== undefined && !isObject(normalized[field])) throw bad(field, "an object of attributes");
  }
  if (normalized.cookbookVersions !== undefined && !(isObject(normalized.cookbookVersions) && Object.values(normalized.cookbookVersions).every((v) => typeof v === "string"))) {
    throw bad("cookbookVersions", 'an object of cookbook name → version constraint such as "~> 1.2"');
  }
  return normalized as T;
}

/**
 * The run list's cookbooks in order, each after its dependencies (Chef's attribute file
 * order), so a cookbook's defaults win over those of the cookbooks it depends on.
 */
function dependenciesFirst(wanted: readonly string[], resolved: ReadonlyMap<string, CookbookOnDisk>): CookbookOnDisk[] {
  const ordered: CookbookOnDisk[] = [];
  const visited = new Set<string>();
  const visit = (name: string) => {
    const cookbook = resolved.get(name);
    if (!cookbook || visited.has(name)) return;
    visited.add(name);
    for (const dependency of Object.keys(cookbook.dependencies)) visit(dependency);
    ordered.push(cookbook);
  };
  for (const name of wanted) visit(name);
  return ordered;
}

/** A repository's roles, environments and settings, each read and checked when first asked for. */
export interface RepositoryDefinitions {
  roles: Pick<ReadonlyMap<string, RoleDefinition>, "get" | "keys">;
  environments: Pick<ReadonlyMap<string, EnvironmentDefinition>, "get" | "keys">;
  settings: SousConfig;
  /** Whether the compiled code came from the cache. */
  cached: boolean;
}

/** Compiles (or finds cached) and reads a repository's roles, environments and sous.config.ts. */
export async function repositoryDefinitions(repository: Repository): Promise<RepositoryDefinitions> {
  const definitions = await compileRepository(repository, { definitions: true, cookbooks: [] });
  return {
    roles: definitionsOf<RoleDefinition>("role", repository.roles, definitions.roles),
    environments: definitionsOf<EnvironmentDefinition>("environment", repository.environments, definitions.environments),
    settings: (definitions.settings ?? {}) as SousConfig,
    cached: definitions.cached,
  };
}

/** Loads the recipes of a run list into a frozen collection, or throws with every problem found. */
export async function loadRun(options: LoadOptions): Promise<LoadedRun> {
  const repository = openRepository(options.root);
  const definitions = await repositoryDefinitions(repository);
  const { roles, environments, settings } = definitions;
  const environmentName = options.environment ?? settings.environment ?? "_default";
  const environment = environments.get(environmentName);
  if (!environment && environmentName !== "_default") {
    throw new SousError("unknown-environment", `environment ${environmentName} is not defined (environments/${environmentName}.ts or .json); known: ${[...environments.keys()].join(", ") || "none"}`);
  }

  const runList = options.runList ?? settings.runList;
  if (runList === undefined || runList.length === 0) {
    throw new SousError("no-run-list", "no run list: pass --run-list (-r) 'recipe[cookbook]', or set runList in sous.config.ts");
  }
  const items = parseRunList(runList);
  const expanded = expandRunList(items, roles, environmentName);
  const wanted = [...new Set(expanded.recipes.map((r) => r.split("::")[0]!))];
  const lock = options.useLock === false ? undefined : readLock(repository.root);
  const pins = lock ? lockedPins(lock, environmentName, environment?.cookbookVersions ?? {}) : (environment?.cookbookVersions ?? {});
  const resolved = resolveCookbooks(wanted, repository.cookbooks, pins, environmentName, expanded.versions) as Map<string, CookbookOnDisk>;
  // What was locked is what runs: a cookbook whose files changed since is refused, naming them.
  if (lock) verifyLocked(lock, repository.root, [...resolved.values()]);
  // Only the cookbooks this run uses are compiled: a broken one elsewhere does not stop it.
  const compiled = await compileRepository(repository, { definitions: false, cookbooks: [...resolved.values()] });

  const facts = await options.facts;
  const roleDefs = expanded.rolesByPrecedence.map((r) => roles.get(r)!);
  const cookbookDefaults = dependenciesFirst(wanted, resolved).map((c) => (compiled.cookbooks[c.dir]?.attributes ?? {}) as AttributeTree);
  const attributes = deepFreeze(
    mergeAttributes({
      default: cookbookDefaults,
      role_default: roleDefs.map((r) => r.defaultAttributes ?? {}),
      environment_default: [environment?.defaultAttributes ?? {}],
      normal: [settings.attributes ?? {}, options.normal ?? {}],
      role_override: [...roleDefs.map((r) => r.overrideAttributes ?? {}), options.override ?? {}],
      environment_override: [environment?.overrideAttributes ?? {}],
      automatic: [facts],
    }),
  );
  const node: NodeView = deepFreeze({
    name: options.nodeName ?? settings.nodeName ?? String(facts.fqdn ?? facts.hostname ?? "localhost"),
    environment: environmentName,
    runList: items.map(formatRunListItem),
    recipes: expanded.recipes,
    roles: expanded.roles,
    attributes,
    automatic: facts,
    platform: String(facts.platform ?? ""),
    platformFamily: String(facts.platform_family ?? ""),
    platformVersion: String(facts.platform_version ?? ""),
    hostname: String(facts.hostname ?? ""),
    ipaddress: typeof facts.ipaddress === "string" ? facts.ipaddress : undefined,
  });

  const problems: Problem[] = [];
  const registry = runRegistry(options.registry ?? builtinRegistry(), [...resolved.values()], compiled.cookbooks, problems);
  writeResourceTypes(repository);
  writeAttributeTypes(repository);
  writeMachineTsconfig(repository.root);
  const declared = cookbookDefaults.reduce((merged, tree) => deepMerge(merged, tree), {} as AttributeTree);
  // Not checked: a key naming a cookbook this run does not use (another node's), or one of
  // this run that declares no attributes (nothing to compare with).
  const otherCookbooks = new Set([
    ...repository.cookbooks.map((c) => c.name).filter((name) => !resolved.has(name)),
    ...[...resolved.values()].filter((c) => !c.attributesFile).map((c) => c.name),
  ]);
  const sources: Array<[string, AttributeTree | undefined]> = [
    ...expanded.rolesByPrecedence.flatMap((name): Array<[string, AttributeTree | undefined]> => [
      [`role ${name} defaultAttributes`, roles.get(name)?.defaultAttributes],
      [`role ${name} overrideAttributes`, roles.get(name)?.overrideAttributes],
    ]),
    [`environment ${environmentName} defaultAttributes`, environment?.defaultAttributes],
    [`environment ${environmentName} overrideAttributes`, environment?.overrideAttributes],
    ["sous.config.ts attributes", settings.attributes],
    ["the node's attributes", options.normal],
  ];
  const warnings = sources.flatMap(([where, tree]) =>
    undeclaredKeys(declared, tree ?? {})
      .filter((path) => !otherCookbooks.has(path.split(".")[0]!))
      .map((path) => `${where}: ${path} is not an attribute any cookbook of this run declares (misspelled, or left over?)`),
  );
  const collection = new ResourceCollection();
  const included = new Set<string>();
  let backend: SearchBackend | undefined;
  const searching = recipeSearchFunctions(() => (backend ??= typeof options.search === "function" ? options.search(settings) : options.search));

  const include = (name: string, from: string) => {
    const full = name.includes("::") ? name : `${name}::default`;
    if (included.has(full)) return;
    const [cookbookName, recipeName] = full.split("::") as [string, string];
    const cookbook = resolved.get(cookbookName);
    if (!cookbook) {
      throw new SousError("recipe-not-available", `${from} includes ${full}, but cookbook ${cookbookName} is not a dependency; add it to "dependencies" in the including cookbook's package.json`);
    }
    const file = cookbook.recipes[recipeName];
    if (!file) throw new SousError("unknown-recipe", `${from} wants ${full}, but cookbook ${cookbookName}@${cookbook.version} has no recipes/${recipeName}.ts (it has: ${Object.keys(cookbook.recipes).join(", ") || "none"})`);
    const definition = compiled.cookbooks[cookbook.dir]?.recipes[recipeName];
    if (!isRecipe(definition)) {
      problems.push({ path: full, message: "the default export is not recipe(...)", location: { file, line: 1 } });
      return;
    }
    included.add(full);
    const ref: CookbookRef = { name: cookbook.name, version: cookbook.version, dir: cookbook.dir };
    const resources = resourceFunctions(() => ({ collection, registry, recipe: full, cookbook: ref }), node);
    const { declare, ...typed } = resources;
    const context: RecipeContext = {
      node,
      resources: typed,
      cookbook: ref,
      includeRecipe: (other) => include(other, full),
      declare,
      search: searching.search as RecipeContext["search"],
      dataBagItem: searching.dataBagItem as RecipeContext["dataBagItem"],
    };
    try {
      const returned: unknown = definition.body(context);
      if (returned !== null && typeof returned === "object" && typeof (returned as PromiseLike<unknown>).then === "function") {
        // Declarations after an await would land in a collection that is already applying;
        // whatever the promise does later is refused, so its failure must not crash the process.
        (returned as Promise<unknown>).then(undefined, () => undefined);
        problems.push({ path: full, message: "the recipe is async (it returned a Promise): declare resources synchronously, and do asynchronous work inside a code resource", location: { file, line: 1 } });
        throw new RecipeAbort();
      }
    } catch (error) {
      if (error instanceof RecipeAbort) throw error;
      const location = firstForeignFrame((error as Error)?.stack ?? "") ?? { file, line: 1 };
      const message = error instanceof SousError ? error.message : `recipe threw: ${errorMessage(error)}`;
      problems.push({ path: full, message, location });
      throw new RecipeAbort();
    }
  };

  for (const recipeName of expanded.recipes) {
    try {
      include(recipeName, "the run list");
    } catch (error) {
      if (error instanceof RecipeAbort) break;
      throw error;
    }
  }
  for (const problem of problems) collection.addProblem(problem);
  return { repository, collection: collection.freeze(), node, expanded, cookbooks: resolved, cached: definitions.cached && compiled.cached, settings, warnings };
}

/**
 * The run's resource types: the built-in ones and the custom resources of the cookbooks it
 * uses (every resolved cookbook's `resources/`, as Chef loads them), each checked.
 */
function runRegistry(base: ResourceRegistry, cookbooks: readonly CookbookOnDisk[], compiled: Record<string, { resources?: Record<string, unknown> }>, problems: Problem[]): ResourceRegistry {
  const registry = new ResourceRegistry();
  for (const type of base.list()) registry.register(type, base.cookbookOf(type));
  for (const cookbook of cookbooks) {
    for (const [typeName, file] of Object.entries(cookbook.resources)) {
      const type = compiled[cookbook.dir]?.resources?.[typeName];
      const at = (message: string) => problems.push({ path: `${cookbook.name}/resources/${typeName}`, message, location: { file, line: 1 } });
      if (!isCustomResourceType(type)) {
        at("the default export is not defineResource(...)");
        continue;
      }
      // The file's name is the type's name: the declarations recipes are typed with are made from file names.
      if (type.name !== typeName) {
        at(`defines ${type.name}, but a resources/ file defines the type it is named after: rename it resources/${type.name}.ts or the type ${typeName}`);
        continue;
      }
      try {
        registry.register(type, { name: cookbook.name, version: cookbook.version, dir: cookbook.dir });
      } catch (error) {
        if (error instanceof SousError) at(error.message);
        else throw error;
      }
    }
  }
  return registry;
}

/** Stops loading after a recipe threw; its problem is already recorded. */
class RecipeAbort extends Error {}

/** Re-exported for callers that report load failures. */
export { ValidationError };
