/**
 * The resource model: a resource type is a typed description (its properties and their
 * roles, its actions) plus a provider in three steps: read the current state, a pure
 * plan (diff) of what must change, and apply. Only the engine calls apply.
 */
import type { Requirement } from "./preconditions.js";
import type { ExecOptions, Host } from "../host/host.js";
import type { SourceLocation } from "./errors.js";
import type { FrozenCollection } from "./collection.js";
import type { InputOf, OutputOf, PropertySpec, PropertySpecs } from "./properties.js";

/** One changed property, as reported to people and scripts. */
export interface Change {
  property: string;
  from: unknown;
  to: unknown;
}

/** What a provider found must change. An empty `changes` means up to date. */
export interface Plan {
  changes: Change[];
  /** A unified diff of content, and the property it belongs to (for redaction). */
  diff?: { property: string; text: string };
  /**
   * What a dry run's plan took for granted because earlier resources of the run did not
   * really change (a package's candidate from a repository only added earlier in the run).
   */
  assumptions?: string[];
  /** Why the resource is up to date or must change, when its properties alone do not say (an execute's `creates` file). */
  reason?: string;
}

/** Where a resource's cookbook lives on the workstation, for templates and files. */
export interface CookbookRef {
  name: string;
  version: string;
  dir: string;
}

/** What a provider gets to work with. */
export interface ProviderContext {
  readonly host: Host;
  readonly resource: DeclaredResource;
  /** What the provider's prepare step returned for this resource (undefined without one). */
  readonly prepared: unknown;
  /** Where previous versions of changed files are kept. */
  readonly backupDir: string;
  /**
   * In a dry run, the resources before this one that would have changed but did not (the
   * host is as it was): a plan that depends on them states its assumption instead of failing.
   * Empty in a real run.
   */
  readonly notYetChanged: ReadonlyArray<{ readonly id: string; readonly type: string }>;
  /** Reads a file shipped in the resource's cookbook (`templates/` or `files/`). */
  cookbookFile(kind: "templates" | "files", name: string): Promise<{ path: string; content: Buffer }>;
  /** Emits a log line attached to the resource. */
  log(message: string): void;
}

/** The read → plan → apply steps of one resource type. */
export interface Provider<P, Current> {
  /**
   * Optional, read-only work done for every resource before anything is applied (rendering
   * a template, reading a cookbook file), so that its mistakes stop the run while nothing
   * has changed. What it returns reaches later steps as `context.prepared`.
   */
  prepare?(context: ProviderContext, desired: Readonly<P>, actions: readonly string[]): Promise<unknown>;
  /** Reads the current state from the host. Never changes anything. */
  read(context: ProviderContext, desired: Readonly<P>, action: string): Promise<Current>;
  /** Pure: what must change for the action to be true. */
  plan(current: Current, desired: Readonly<P>, action: string): Plan;
  /** Makes the planned changes. Called by the engine only, never in a dry run. */
  apply(context: ProviderContext, plan: Plan, desired: Readonly<P>, action: string, current: Current): Promise<void>;
}

/** A resource type: its name, actions, properties and provider. */
export interface ResourceType<P extends object = any, Current = any> {
  readonly name: string;
  /** One line for documentation and `sous resources`. */
  readonly description: string;
  readonly actions: readonly string[];
  readonly defaultAction: string;
  /** The property holding the resource's name. */
  readonly identity: keyof P & string;
  readonly properties: { readonly [K in keyof P]-?: PropertySpec };
  /** Checks across properties, after each passed its own; returns [property, message] pairs. */
  validate?(properties: Readonly<P>, action: readonly string[]): Array<[string, string]>;
  readonly provider: Provider<P, Current>;
  /**
   * What a change of this resource needs from the host (users, groups, the directory it goes
   * in, a command): a dry run checks them, so that it refuses what the real run would.
   */
  requires?(properties: Readonly<P>, action: string): Requirement[];
  /** How this type's command guards run (an execute's guard runs in its cwd, as its user), as Chef's guards inherit them. */
  guardOptions?(properties: Readonly<P>): ExecOptions;
  /**
   * Set for a type made of other resources (a custom resource): each of its actions declares
   * inner resources while recipes load, and the engine converges those instead of calling the
   * provider. Such a resource is updated when any of its inner resources was.
   */
  readonly composite?: boolean;
  /** How recipes call this type: the name of its function in `resources` (default: the type's name in camel case). */
  readonly dslName?: string;
  /** Adjusts a declaration before validation (the template's `node` variable, a default name). */
  prepareDeclaration?(name: string | undefined, properties: Record<string, unknown>, scope: { node: unknown }): { name: string; properties: Record<string, unknown> };
}

/** Type-level only: a recipe function's signature stated by hand, where specs cannot say it (a type parameter). */
export interface DeclarationShape<F> {
  /** Never set. */
  readonly __shape?: F;
}

/**
 * States the recipe function's signature for a type whose specs cannot express it alone
 * (template's `variables` typed by a type argument, apt_update's optional name):
 * `declaration: declaredAs<(path: string, properties: ...) => ResourceRef>()`.
 */
export function declaredAs<F extends (...args: never[]) => ResourceRef>(): DeclarationShape<F> {
  return {};
}

/** What `defineType` takes: everything about a resource type, with the provider typed from the specs. */
export interface TypeDefinition<N extends string, S extends PropertySpecs, A extends string, Current, F, R extends boolean = false> {
  name: N;
  description: string;
  actions: readonly A[];
  defaultAction: NoInfer<A>;
  identity: keyof S & string;
  properties: S;
  validate?(properties: Readonly<OutputOf<S>>, actions: readonly string[]): Array<[string, string]>;
  provider: Provider<OutputOf<S>, Current>;
  requires?(properties: Readonly<OutputOf<S>>, action: string): Requirement[];
  guardOptions?(properties: Readonly<OutputOf<S>>): ExecOptions;
  composite?: boolean;
  dslName?: string;
  prepareDeclaration?: ResourceType["prepareDeclaration"];
  /**
   * Recipes must give the properties argument even though no single property is required
   * (a `line` needs `line` or `regexp`, which `validate` checks): leaving it out is a compile error.
   */
  propertiesRequired?: R;
  /** The recipe function's signature, when it is not the one derived from the specs. */
  declaration?: DeclarationShape<F>;
}

/** A type made by `defineType`: its name as a literal and, type-level only, its recipe function. */
export type DefinedType<N extends string, S extends PropertySpecs, Current, F> = ResourceType<OutputOf<S>, Current> & {
  readonly name: N;
  /** Type-level only (never set): how recipes declare it. */
  readonly __declare?: F;
};

/**
 * Defines a resource type from its property specs: the provider's properties and the recipe
 * function's type (`resources.group(name, { gid, members })`) are both derived from them, so a
 * new type is this one definition (and its line in `resources/builtin.ts`), with no interface
 * written by hand for recipes or for the provider.
 */
export function defineType<const N extends string, const S extends PropertySpecs, const A extends string, Current, const R extends boolean = false, F = DeclarationFunction<S, A, R>>(
  definition: TypeDefinition<N, S, A, Current, F, R>,
): DefinedType<N, S, Current, F> {
  const { declaration: _declaration, propertiesRequired: _required, ...type } = definition;
  return type as unknown as DefinedType<N, S, Current, F>;
}

type RequiredKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? never : K }[keyof T];

/**
 * The function recipes call to declare a resource with these specs and actions (the properties
 * argument is optional when none is required). A `name` property is the first argument, never
 * a property too (an identity with another name, such as a file's `path`, may be given).
 */
export type DeclarationFunction<S extends PropertySpecs, A extends string, R extends boolean = false> =
  [RequiredKeys<InputOf<S, "name">>, R] extends [never, false]
    ? (name: string, properties?: InputOf<S, "name"> & CommonProperties<A | "nothing">) => ResourceRef
    : (name: string, properties: InputOf<S, "name"> & CommonProperties<A | "nothing">) => ResourceRef;

/** A guard: a shell command string, an argv array, or a function. */
export type Guard = string | readonly string[] | (() => boolean | Promise<boolean>);

/** When a notification runs. */
export type Timing = "delayed" | "immediately";

/** A reference to a declared resource: the value a declaration returns, or `"type[name]"`. */
export type Target = ResourceRef | string;

/** A notification as written in a recipe: `{ restart: svc }`, or a list of explicit entries. */
export type NotifySpec =
  | { readonly [action: string]: Target | readonly Target[] | { target: Target; timing?: Timing } }
  | ReadonlyArray<{ action: string; target: Target; timing?: Timing }>;

/** The properties every resource accepts, handled by the engine alone. */
export interface CommonProperties<A extends string = string> {
  /** The action, or actions in order. */
  action?: A | readonly A[];
  /** Apply only if this guard succeeds (exit 0 / true). */
  onlyIf?: Guard;
  /** Skip when this guard succeeds (exit 0 / true). */
  notIf?: Guard;
  /** A failure is reported and the run goes on. */
  ignoreFailure?: boolean;
  /** How many more times to try a failing action. */
  retries?: number;
  /** Seconds between tries. */
  retryDelay?: number;
  /** Actions to run on other resources when this one is updated. */
  notifies?: NotifySpec;
  /** Actions to run on this resource when another one is updated. */
  subscribes?: NotifySpec;
  /** Resources to converge before this one. */
  requires?: Target | readonly Target[];
  /** Resources to converge after this one. */
  before?: Target | readonly Target[];
  /** Never print this resource's state values or diffs. */
  sensitive?: boolean;
}

/** A handle on a declared resource, usable as a notification or dependency target. */
export interface ResourceRef {
  readonly id: string;
  readonly type: string;
  readonly name: string;
}

/** A resolved notification edge. */
export interface Notification {
  readonly source: DeclaredResource;
  readonly target: DeclaredResource;
  readonly action: string;
  readonly timing: Timing;
}

/** A resource as declared in a recipe, validated and normalized. */
export interface DeclaredResource extends ResourceRef {
  readonly index: number;
  readonly resourceType: ResourceType;
  readonly properties: Readonly<Record<string, unknown>>;
  readonly actions: readonly string[];
  readonly location?: SourceLocation;
  /** `cookbook::recipe`, when declared by a recipe. */
  readonly recipe?: string;
  readonly cookbook?: CookbookRef;
  readonly onlyIf?: Guard;
  readonly notIf?: Guard;
  readonly ignoreFailure: boolean;
  readonly retries: number;
  readonly retryDelaySeconds: number;
  readonly sensitive: boolean;
  /** The custom resources this one was declared by, outermost first (empty at the top of a run). */
  readonly parents: readonly DeclaredResource[];
  /** For a custom resource: the inner resources of each of its actions, in converge order. */
  readonly children?: ReadonlyMap<string, FrozenCollection>;
}

/** How a resource shows in reports: `webapp_site[shop] > template[/etc/shop.conf]`. */
export function resourcePath(resource: Pick<DeclaredResource, "id" | "parents">): string {
  return [...resource.parents.map((p) => p.id), resource.id].join(" > ");
}

/** The id of a resource: `type[name]`. */
export function resourceId(type: string, name: string): string {
  return `${type}[${name}]`;
}
