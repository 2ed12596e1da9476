/**
 * What recipe authors write: `recipe(...)`, `attributes(...)`, `role(...)`, `environment(...)`,
 * and the typed resource functions a recipe receives. All pure values: loading a recipe
 * file changes nothing until the engine runs it.
 */
import type { ResourceCollection } from "./core/collection.js";
import type { SourceLocation } from "./core/errors.js";
import { callerLocation } from "./core/location.js";
import type { CommonProperties, CookbookRef, DeclaredResource, ResourceRef, ResourceType } from "./core/resource.js";
import { customActions, type CustomResourceType } from "./custom-resource.js";
import type { ResourceRegistry } from "./resources/registry.js";

/** A JSON-like attribute tree. */
export type AttributeTree = { [key: string]: unknown };

/** The node a recipe converges, as recipes see it. */
export interface NodeView<A extends object = AttributeTree> {
  readonly name: string;
  readonly environment: string;
  /** The run list as given (`recipe[...]`, `role[...]`). */
  readonly runList: readonly string[];
  /** Expanded recipe names (`cookbook::recipe`). */
  readonly recipes: readonly string[];
  /** Expanded role names. */
  readonly roles: readonly string[];
  /** Merged attributes: default < role < environment < normal < override < automatic. */
  readonly attributes: A & AttributeTree;
  /** The facts gathered from the machine. */
  readonly automatic: AttributeTree;
  readonly platform: string;
  readonly platformFamily: string;
  readonly platformVersion: string;
  readonly hostname: string;
  readonly ipaddress: string | undefined;
}

type BuiltinType = (typeof import("./resources/registry.js").BUILTIN_TYPES)[number];

/**
 * The resource functions available to recipes: one per built-in type (`resources/builtin.ts`),
 * named after it in camel case, typed from its property specs by `defineType`.
 */
export type Resources = {
  readonly [T in BuiltinType as T extends { readonly name: infer N extends string } ? (string extends N ? never : CamelCase<N>) : never]: T extends { readonly __declare?: infer D } ? NonNullable<D> : never;
};

declare global {
  /**
   * The resource types a repository's cookbooks define, by type name. Filled in by the
   * declarations Sous writes in `.sous/resource-types.d.ts` (`sous cookbook check`,
   * `sous converge`, `sous test`), so recipes see each custom type with its properties.
   */
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface SousCustomResources {}
  /**
   * The attributes the repository's cookbooks declare (each `attributes.ts` merged). Filled in
   * by `.sous/attribute-types.d.ts` (`sous cookbook check`, `sous converge`), it types what
   * roles and environments set.
   */
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface SousAttributes {}
}

/** Any part of `T`: every key optional, hashes partial all the way down; arrays and scalars whole. */
export type PartialAttributes<T> = { [K in keyof T]?: T[K] extends readonly unknown[] ? T[K] : T[K] extends object ? PartialAttributes<T[K]> : T[K] };

/**
 * What a role or environment may set: any part of the cookbooks' declared attributes (a
 * misspelled key or a wrong type is a type error), or any tree while none are declared.
 */
export type RoleAttributes = keyof SousAttributes extends never ? AttributeTree : PartialAttributes<SousAttributes>;

type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}` ? `${Head}${Capitalize<CamelCase<Tail>>}` : S;

/** The functions of cookbook-defined resource types in `resources` (`webapp_site` → `webappSite`). */
export type CustomResources = {
  readonly [K in keyof SousCustomResources & string as CamelCase<K>]: SousCustomResources[K] extends CustomResourceType<string, infer S, infer A> ? NonNullable<CustomResourceType<string, S, A>["__declare"]> : never;
};

/** What a recipe function receives. */
export interface RecipeContext<A extends object = AttributeTree> {
  readonly node: NodeView<A>;
  readonly resources: Resources & CustomResources;
  /** The cookbook this recipe belongs to. */
  readonly cookbook: CookbookRef;
  /** Runs another recipe (`cookbook` or `cookbook::recipe`) here, once per run. */
  includeRecipe(name: string): void;
  /** Declares a resource of any registered type by name (for types added by plugins). */
  declare(type: string, name: string, properties?: AttributeTree & CommonProperties): ResourceRef;
  /**
   * Every object a query finds on an index (`node`, `role`, `environment`, `client` or a data bag
   * name), in name order, as stored: `search("users", "*:*")`. Answered by the Sous server (or a
   * folder of JSON without one), consistent with every write the server acknowledged before the call.
   */
  search<T extends object = AttributeTree>(index: string, query: string): T[];
  /**
   * Partial search: each hit as the values `keys` names, by result name (a path that leads
   * nowhere is null). `search("node", "role:app AND chef_environment:production", { keys: { ip:
   * ["ipaddress"], name: ["name"] } })`; rows are typed `{ ip: unknown; name: unknown }`, or as
   * given: `search<{ ip: string; name: string }>(...)`.
   */
  search<R extends object>(index: string, query: string, options: { keys: { readonly [P in keyof R]: readonly string[] } }): R[];
  /** A data bag item (throws when it does not exist); an encrypted one is decrypted with `secret` (text) or `secretFile`. */
  dataBagItem<T extends object = AttributeTree>(bag: string, id: string, options?: { secret?: string; secretFile?: string }): T;
}

const RECIPE = Symbol.for("sous.recipe");
const ATTRIBUTES = Symbol.for("sous.attributes");
const ROLE = Symbol.for("sous.role");
const ENVIRONMENT = Symbol.for("sous.environment");

/** A recipe: a function of its context that declares resources. */
export interface RecipeDefinition<A extends object = AttributeTree> {
  readonly [RECIPE]: true;
  readonly body: (context: RecipeContext<A>) => void;
}

/**
 * Makes an async recipe body a type error (where `R` is inferred): its resources declared
 * after an await would come too late, and the loader refuses it at run time anyway.
 */
type SynchronousBody<R> = R extends PromiseLike<unknown> ? "a recipe declares its resources synchronously: do asynchronous work in a code resource" : unknown;

/** Defines a recipe. `A` types the node's attributes (often `typeof` the cookbook's attributes). */
export function recipe<A extends object = AttributeTree, R = void>(body: (context: RecipeContext<A>) => R & SynchronousBody<R>): RecipeDefinition<A> {
  return { [RECIPE]: true, body: body as (context: RecipeContext<A>) => void };
}

/** Whether a module's default export is a recipe. */
export function isRecipe(value: unknown): value is RecipeDefinition<any> {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[RECIPE] === true;
}

/** A cookbook's default attributes; its type is what recipes see. */
export function attributes<T extends AttributeTree>(defaults: T): T {
  Object.defineProperty(defaults, ATTRIBUTES, { value: true, enumerable: false });
  return defaults;
}

/** A role: a run list and attributes shared by many nodes. */
export interface RoleDefinition {
  description?: string;
  runList?: string[];
  /** Run lists for particular environments, replacing `runList` there. */
  envRunLists?: Record<string, string[]>;
  defaultAttributes?: RoleAttributes;
  overrideAttributes?: RoleAttributes;
}

/** Defines a role (`roles/<name>.ts`). */
export function role(definition: RoleDefinition): RoleDefinition {
  Object.defineProperty(definition, ROLE, { value: true, enumerable: false });
  return definition;
}

/** An environment: cookbook version pins and attributes. */
export interface EnvironmentDefinition {
  description?: string;
  /** Cookbook name → semver range (`"^1.2.0"`, `"= 2.0.1"`), or Chef's pessimistic `"~> 1.2"` (>= 1.2.0 < 2.0.0). */
  cookbookVersions?: Record<string, string>;
  defaultAttributes?: RoleAttributes;
  overrideAttributes?: RoleAttributes;
}

/** Defines an environment (`environments/<name>.ts`). */
export function environment(definition: EnvironmentDefinition): EnvironmentDefinition {
  Object.defineProperty(definition, ENVIRONMENT, { value: true, enumerable: false });
  return definition;
}

/** Where resources declared by a recipe go, and how they are attributed. */
export interface DeclarationScope {
  collection: ResourceCollection;
  registry: ResourceRegistry;
  recipe: string;
  cookbook: CookbookRef;
}

/** `remote_file` → `remoteFile`: a type's function name in `resources`. */
export function dslName(type: Pick<ResourceType, "name" | "dslName">): string {
  return type.dslName ?? type.name.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
}

/**
 * Declares one resource in a scope. A custom resource's inner resources are declared here
 * too (through the collection's `expand`), with the defining cookbook's files and the same
 * resource functions a recipe has.
 */
function declareIn(scope: DeclarationScope, type: ResourceType, name: string | undefined, properties: object | undefined, node: NodeView<any>, location: SourceLocation | undefined): ResourceRef {
  let input = (properties ?? {}) as Record<string, unknown>;
  let finalName = name as string;
  if (type.prepareDeclaration && input !== null && typeof input === "object") ({ name: finalName, properties: input } = type.prepareDeclaration(name, input, { node }));
  const actions = customActions(type);
  const expand = actions
    ? (action: string, inner: ResourceCollection, resource: DeclaredResource) => {
        const cookbook = scope.registry.cookbookOf(type) ?? scope.cookbook;
        const innerScope: DeclarationScope = { collection: inner, registry: scope.registry, recipe: scope.recipe, cookbook };
        const { declare, ...resources } = resourceFunctions(() => innerScope, node);
        actions[action]!({ name: resource.name, properties: resource.properties as never, resources, node, cookbook, declare });
      }
    : undefined;
  return scope.collection.declare(type, finalName, input as never, { location, recipe: scope.recipe, cookbook: scope.cookbook, ...(expand ? { expand } : {}) });
}

/**
 * Builds the resource functions bound to one recipe's scope: one per registered type, named
 * by `dslName`, so a type added to the registry (built in, or a cookbook's custom resource)
 * is a function in `resources` without code here.
 */
export function resourceFunctions(scope: () => DeclarationScope, node: NodeView<any>): Resources & CustomResources & { declare: RecipeContext["declare"] } {
  const functions: Record<string, unknown> = {};
  for (const type of scope().registry.list()) {
    functions[dslName(type)] = (name: string | undefined, properties?: object) => declareIn(scope(), type, name, properties, node, callerLocation());
  }
  functions.declare = (type: string, name: string, properties?: object) => {
    const current = scope();
    return declareIn(current, current.registry.get(type), name, properties, node, callerLocation());
  };
  return functions as unknown as Resources & CustomResources & { declare: RecipeContext["declare"] };
}

/** The repository's settings (`sous.config.ts`). */
export interface SousConfig {
  /** Run list used when none is given on the command line. */
  runList?: string[];
  /** Environment used when none is given (default `_default`). */
  environment?: string;
  /** The node's name (default: the machine's FQDN). */
  nodeName?: string;
  /** Where previous versions of changed files are kept (default /var/lib/sous/backup). */
  backupDir?: string;
  /** Normal attributes of the node. */
  attributes?: AttributeTree;
  /**
   * The Sous server the CLI's server commands talk to from inside this repository (flags and
   * SOUS_* variables override it; ~/.sous/config.json fills what it leaves out).
   */
  server?: {
    /** e.g. `https://sous.example.com:8787`. */
    url?: string;
    /** Organization. */
    org?: string;
    /** Client name that signs requests. */
    client?: string;
    /** The client's private key file, relative to the repository root (`~/` is the home directory). Keep keys out of the repository. */
    key?: string;
  };
}

/** Defines the repository's settings (`export default config({ ... })` in sous.config.ts). */
export function config(settings: SousConfig): SousConfig {
  return settings;
}
