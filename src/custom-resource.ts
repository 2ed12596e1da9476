/**
 * Custom resources (Chef's custom resources, Puppet's defined types): a resource type a
 * cookbook defines in `resources/<type>.ts`, made of other resources. Its properties are
 * specs like a built-in type's, so validation, roles (identity, state, sensitive) and the
 * TypeScript type recipes see all come from one place; each action is a function that
 * declares inner resources, which the engine converges in the custom resource's place.
 */
import { prop, type OutputOf, type PropertySpec, type PropertySpecs } from "./core/properties.js";
import { type CommonProperties, type CookbookRef, type DeclarationFunction, defineType, type ResourceRef, type ResourceType } from "./core/resource.js";

export type { DeclarationFunction };
import { SousError } from "./core/errors.js";
import type { AttributeTree, CustomResources, NodeView, Resources } from "./dsl.js";

/** What one action of a custom resource receives. */
export interface ResourceActionContext<P> {
  /** The resource's name (its identity). */
  readonly name: string;
  /** Its properties, checked and normalized (defaults filled in). */
  readonly properties: P;
  /** The resource functions, as a recipe has them: what they declare belongs to this resource. */
  readonly resources: Resources & CustomResources;
  /** The node being converged. */
  readonly node: NodeView;
  /** The cookbook defining this type: its `templates/` and `files/` serve the inner resources. */
  readonly cookbook: CookbookRef;
  /** Declares a resource of any registered type by name. */
  declare(type: string, name: string, properties?: AttributeTree & CommonProperties): ResourceRef;
}

/** How a cookbook writes a custom resource type. */
export interface CustomResourceOptions<S extends PropertySpecs, A extends string> {
  /** One line for `sous resources` and documentation. */
  description?: string;
  /**
   * The properties, built with `prop` (`port: prop.integer({ min: 1, max: 65535, default: 80 })`).
   * Without a property of role "identity", the resource has an implicit `name`.
   */
  properties: S;
  /** Each action declares the inner resources that make it true. `nothing` is always there. */
  actions: { readonly [K in A]: (context: ResourceActionContext<OutputOf<S> & { readonly name: string }>) => void };
  /** The action when a declaration names none (default: the first of `actions`). */
  defaultAction?: NoInfer<A>;
  /** Checks across properties, after each passed its own: [property, message] pairs. */
  validate?(properties: OutputOf<S>, actions: readonly string[]): Array<[string, string]>;
}

const CUSTOM = Symbol.for("sous.customResource");

/** A custom resource type: a resource type whose actions declare other resources. */
export interface CustomResourceType<N extends string = string, S extends PropertySpecs = PropertySpecs, A extends string = string> extends ResourceType<Record<string, unknown>> {
  readonly name: N;
  readonly composite: true;
  readonly [CUSTOM]: { readonly actions: Readonly<Record<string, (context: ResourceActionContext<never>) => void>> };
  /** Type-level only (never set): how recipes declare it. */
  readonly __declare?: DeclarationFunction<S, A>;
}

const NAME = /^[a-z][a-z0-9_]*$/;

/**
 * Defines a custom resource type (the default export of a cookbook's `resources/<name>.ts`):
 *
 * ```ts
 * export default defineResource("webapp_site", {
 *   properties: { port: prop.integer({ min: 1, max: 65535, default: 80 }), root: prop.absolutePath({ required: true }) },
 *   actions: {
 *     create: ({ name, properties, resources: { directory, template } }) => { ... },
 *     delete: ({ name, resources: { file } }) => { ... },
 *   },
 * });
 * ```
 *
 * Recipes then call it as `resources.webappSite("shop", { root: "/srv/shop" })`, typed.
 */
export function defineResource<const N extends string, const S extends PropertySpecs, A extends string>(name: N, options: CustomResourceOptions<S, A>): CustomResourceType<N, S, A> {
  if (typeof name !== "string" || !NAME.test(name)) {
    throw new SousError("bad-custom-resource", `a custom resource's name is lower case letters, digits and _ (such as "webapp_site"), got ${JSON.stringify(name)}`);
  }
  const actionNames = Object.keys(options.actions ?? {});
  if (actionNames.length === 0) throw new SousError("bad-custom-resource", `custom resource ${name} has no actions: give at least one, such as create`);
  for (const action of actionNames) {
    if (typeof (options.actions as Record<string, unknown>)[action] !== "function") throw new SousError("bad-custom-resource", `custom resource ${name}: action ${action} must be a function that declares resources`);
  }
  const specs: Record<string, PropertySpec> = { ...(options.properties as Record<string, PropertySpec>) };
  let identity = Object.keys(specs).find((key) => specs[key]!.role === "identity");
  if (identity === undefined) {
    if ("name" in specs) throw new SousError("bad-custom-resource", `custom resource ${name}: a property called name must have role "identity" (it is the resource's name)`);
    specs.name = prop.string({ role: "identity", nonEmpty: true });
    identity = "name";
  }
  const defaultAction = options.defaultAction ?? actionNames[0]!;
  if (!actionNames.includes(defaultAction)) throw new SousError("bad-custom-resource", `custom resource ${name}: defaultAction ${JSON.stringify(defaultAction)} is not one of its actions (${actionNames.join(", ")})`);
  // The same path as a built-in type: defineType, with the actions as data beside it.
  const type = defineType({
    name,
    description: options.description ?? `A custom resource (${actionNames.join(", ")}).`,
    actions: [...actionNames.filter((a) => a !== "nothing"), "nothing"],
    defaultAction,
    identity,
    properties: specs as PropertySpecs,
    composite: true,
    ...(options.validate ? { validate: options.validate as ResourceType["validate"] } : {}),
    provider: {
      // Never called: the engine converges a composite type's inner resources instead.
      read: () => Promise.reject(new SousError("internal", `${name} is a custom resource: its inner resources converge, not a provider`)),
      plan: () => ({ changes: [] }),
      apply: () => Promise.resolve(),
    },
  });
  return Object.assign(type, { composite: true as const, [CUSTOM]: { actions: options.actions as unknown as Record<string, (context: ResourceActionContext<never>) => void> } }) as unknown as CustomResourceType<N, S, A>;
}

/** Whether a value is a type made by `defineResource`. */
export function isCustomResourceType(value: unknown): value is CustomResourceType {
  return typeof value === "object" && value !== null && CUSTOM in value;
}

/** The action bodies of a custom resource type. */
export function customActions(type: ResourceType): Readonly<Record<string, (context: ResourceActionContext<never>) => void>> | undefined {
  return isCustomResourceType(type) ? type[CUSTOM].actions : undefined;
}
