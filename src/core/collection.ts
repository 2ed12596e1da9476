/**
 * The resource collection of a run: every declaration validated (all problems
 * gathered, each with its recipe file:line and property path), identities unique,
 * references resolved, and a stable order computed. Frozen once the run applies.
 */
import { errorMessage, formatLocation, type Problem, SousError, type SourceLocation, ValidationError } from "./errors.js";
import { firstForeignFrame } from "./location.js";
import { didYouMean } from "./suggest.js";
import { describeValue, PropertyCheckError } from "./properties.js";
import {
  type CommonProperties,
  type CookbookRef,
  type DeclaredResource,
  type Guard,
  type Notification,
  type NotifySpec,
  type ResourceRef,
  type ResourceType,
  type Target,
  type Timing,
  resourceId,
  resourcePath,
} from "./resource.js";

const COMMON_KEYS = new Set<string>([
  "action", "onlyIf", "notIf", "ignoreFailure", "retries", "retryDelay", "notifies", "subscribes", "requires", "before", "sensitive",
]);

/** Where a declaration comes from. */
export interface DeclarationOrigin {
  location?: SourceLocation;
  recipe?: string;
  cookbook?: CookbookRef;
  /**
   * For a custom resource (a composite type): declares the inner resources of one of its
   * actions into `scope`. Called while the run loads, for each declared action, and for an
   * action another resource notifies, before the collection freezes.
   */
  expand?: (action: string, scope: ResourceCollection, resource: DeclaredResource) => void;
}

interface PendingReferences {
  resource: DeclaredResource;
  notifies: NotifySpec | undefined;
  subscribes: NotifySpec | undefined;
  requires: Target[];
  before: Target[];
}

/** A finalized collection: resources in converge order and their notification edges. */
export interface FrozenCollection {
  readonly resources: readonly DeclaredResource[];
  /** Notifications sent when the key resource is updated. */
  readonly notifications: ReadonlyMap<DeclaredResource, readonly Notification[]>;
  find(id: string): DeclaredResource;
  tryFind(id: string): DeclaredResource | undefined;
}

/** What the collections of one run share: the run's collection and those of its custom resources. */
interface RunTree {
  problems: Problem[];
  /** Every collection of the run, the run's own first; custom resources' scopes are added as they expand. */
  collections: ResourceCollection[];
  /** The collection each resource was declared in. */
  home: Map<DeclaredResource, ResourceCollection>;
  frozen: boolean;
}

/** Every resource of a frozen collection and of its custom resources' scopes, each followed by its inner resources. */
export function allResources(collection: Pick<FrozenCollection, "resources">): DeclaredResource[] {
  const out: DeclaredResource[] = [];
  const walk = (list: readonly DeclaredResource[]) => {
    for (const resource of list) {
      out.push(resource);
      for (const scope of resource.children?.values() ?? []) walk(scope.resources);
    }
  };
  walk(collection.resources);
  return out;
}

/** Collects the declarations of a run (or, with a scope, of one action of a custom resource). */
export class ResourceCollection {
  private readonly byId = new Map<string, DeclaredResource>();
  private readonly declared: DeclaredResource[] = [];
  private readonly pending: PendingReferences[] = [];
  private readonly tree: RunTree;
  private readonly parent: ResourceCollection | undefined;
  private readonly owner: DeclaredResource | undefined;
  /** Custom resources declared here: how they expand, and their scopes by action. */
  private readonly expansions = new Map<DeclaredResource, { expand: NonNullable<DeclarationOrigin["expand"]>; scopes: Map<string, ResourceCollection>; frozen: Map<string, FrozenCollection> }>();

  constructor(scope?: { parent: ResourceCollection; owner: DeclaredResource; action: string }) {
    this.parent = scope?.parent;
    this.owner = scope?.owner;
    this.tree = scope ? scope.parent.tree : { problems: [], collections: [], home: new Map(), frozen: false };
    this.tree.collections.push(this);
  }

  private get problems(): Problem[] {
    return this.tree.problems;
  }

  private get frozen(): boolean {
    return this.tree.frozen;
  }

  /** Every problem found so far. */
  get problemList(): readonly Problem[] {
    return this.problems;
  }

  /** Records a problem that is not about one property (a recipe that threw, say). */
  addProblem(problem: Problem): void {
    this.problems.push(problem);
  }

  /** Declares a resource. Problems are collected; the returned ref is usable either way. */
  declare<P extends object>(
    type: ResourceType<P>,
    name: string,
    input: Partial<P> & CommonProperties,
    origin: DeclarationOrigin = {},
  ): ResourceRef {
    const id = resourceId(type.name, String(name));
    const ref: ResourceRef = { id, type: type.name, name: String(name) };
    const parents = this.owner ? [...this.owner.parents, this.owner] : [];
    // Problems name the resource by its path: which custom resource's declaration it is.
    const shown = resourcePath({ id, parents });
    if (this.frozen) {
      throw new ValidationError([{ path: shown, message: "declared after the run started applying; declare resources in recipes, not in providers or code blocks", location: origin.location }]);
    }
    const problemsBefore = this.problems.length;
    const at = (property: string, message: string) => this.problems.push({ path: `${shown}.${property}`, message, location: origin.location });

    if (typeof name !== "string" || name === "") {
      at(type.identity, `expected a non-empty string name, got ${describeValue(name)}`);
    }
    if (input === null || typeof input !== "object" || Array.isArray(input)) {
      this.problems.push({ path: shown, message: `properties must be an object, got ${describeValue(input)}`, location: origin.location });
      input = {};
    }

    const properties: Record<string, unknown> = {};
    const specs = type.properties as Record<string, import("./properties.js").PropertySpec>;
    for (const key of Object.keys(input)) {
      if (!(key in specs) && !COMMON_KEYS.has(key)) {
        const known = Object.keys(specs).filter((k) => k !== type.identity);
        at(key, `unknown property of ${type.name}${didYouMean(key, known)}; known properties: ${known.join(", ")}`);
      }
    }
    for (const [key, spec] of Object.entries(specs)) {
      let value = key === type.identity ? ((input as Record<string, unknown>)[key] ?? name) : (input as Record<string, unknown>)[key];
      if (value === undefined) {
        if (spec.defaultValue !== undefined) value = typeof spec.defaultValue === "function" && spec.expected !== "a function" ? (spec.defaultValue as () => unknown)() : spec.defaultValue;
        else if (spec.required) {
          at(key, `is required (${spec.expected})`);
          continue;
        } else continue;
      }
      try {
        properties[key] = spec.normalize(value);
      } catch (error) {
        if (error instanceof PropertyCheckError) at(key, error.message);
        else throw error;
      }
    }

    const common = input as CommonProperties;
    const actions = normalizeActions(type, common.action, at);
    const retries = common.retries ?? 0;
    if (!Number.isInteger(retries) || retries < 0) at("retries", `expected an integer of at least 0, got ${describeValue(retries)}`);
    const retryDelay = common.retryDelay ?? 2;
    if (typeof retryDelay !== "number" || !(retryDelay >= 0)) at("retryDelay", `expected a number of seconds (0 or more), got ${describeValue(retryDelay)}`);
    checkGuard(common.onlyIf, "onlyIf", at);
    checkGuard(common.notIf, "notIf", at);
    for (const flag of ["ignoreFailure", "sensitive"] as const) {
      if (common[flag] !== undefined && typeof common[flag] !== "boolean") at(flag, `expected true or false, got ${describeValue(common[flag])}`);
    }
    if (this.problems.length === problemsBefore && type.validate) {
      for (const [property, message] of type.validate(properties as P, actions)) at(property, message);
    }

    const resource: DeclaredResource = {
      ...ref,
      index: this.declared.length,
      resourceType: type,
      properties: Object.freeze(properties),
      actions,
      location: origin.location,
      recipe: origin.recipe,
      cookbook: origin.cookbook,
      onlyIf: common.onlyIf,
      notIf: common.notIf,
      ignoreFailure: common.ignoreFailure === true,
      retries: Number.isInteger(retries) && retries > 0 ? retries : 0,
      retryDelaySeconds: typeof retryDelay === "number" && retryDelay >= 0 ? retryDelay : 2,
      // Inside a sensitive custom resource everything is sensitive: its secrets reach its inner resources.
      sensitive: common.sensitive === true || this.owner?.sensitive === true,
      parents,
      ...(type.composite ? { children: new Map<string, FrozenCollection>() } : {}),
    };

    const existing = this.byId.get(id);
    if (existing) {
      this.problems.push({
        path: shown,
        message: `declared twice: first at ${formatLocation(existing.location)}, again at ${formatLocation(origin.location)}`,
        location: origin.location,
      });
      return ref;
    }
    this.byId.set(id, resource);
    this.declared.push(resource);
    this.pending.push({
      resource,
      notifies: common.notifies,
      subscribes: common.subscribes,
      requires: toList(common.requires),
      before: toList(common.before),
    });
    this.tree.home.set(resource, this);
    if (type.composite) {
      if (!origin.expand) {
        this.problems.push({ path: shown, message: `${type.name} is a custom resource: declare it through a recipe's resources`, location: origin.location });
      } else {
        this.expansions.set(resource, { expand: origin.expand, scopes: new Map(), frozen: resource.children as Map<string, FrozenCollection> });
        // Its inner resources are declared now, so their problems are found before anything applies.
        if (this.problems.length === problemsBefore) for (const action of actions) this.expandAction(resource, action);
      }
    }
    return ref;
  }

  /** Declares the inner resources of one action of a custom resource declared here (once per action). */
  private expandAction(resource: DeclaredResource, action: string): void {
    const entry = this.expansions.get(resource);
    if (!entry || action === "nothing" || entry.scopes.has(action)) return;
    const scope = new ResourceCollection({ parent: this, owner: resource, action });
    entry.scopes.set(action, scope);
    try {
      entry.expand(action, scope, resource);
    } catch (error) {
      const location = firstForeignFrame((error as Error)?.stack ?? "") ?? resource.location;
      const message = error instanceof SousError ? error.message : `action ${action} threw: ${errorMessage(error)}`;
      this.problems.push({ path: resourcePath(resource), message, location });
    }
  }

  /** Finds a resource declared here or, from a custom resource's scope, in the scopes around it. */
  private lookup(id: string): DeclaredResource | undefined {
    return this.byId.get(id) ?? this.parent?.lookup(id);
  }

  /** Resolves references and order (in custom resources' scopes too); throws a ValidationError listing every problem. */
  freeze(): FrozenCollection {
    if (this.parent) throw new SousError("internal", "freeze the run's collection, not the scope of a custom resource");
    const notifications = new Map<DeclaredResource, Notification[]>();
    const after = new Map<DeclaredResource, Set<DeclaredResource>>(); // resource → must come after these
    // Resolving a notification to a custom resource's action may expand it, adding a scope to the list.
    for (let i = 0; i < this.tree.collections.length; i++) this.tree.collections[i]!.resolveReferences(notifications, after);
    const frozen = new Map<ResourceCollection, FrozenCollection>();
    for (const collection of this.tree.collections) frozen.set(collection, collection.ordered(after));
    for (const collection of this.tree.collections) {
      for (const entry of collection.expansions.values()) {
        for (const [action, scope] of entry.scopes) entry.frozen.set(action, frozen.get(scope)!);
      }
    }
    const problems = this.problems;
    if (problems.length > 0) throw new ValidationError([...problems], `the run has ${problems.length} problem${problems.length === 1 ? "" : "s"}; nothing was changed`);
    this.tree.frozen = true;
    const root = frozen.get(this)!;
    return { ...root, notifications };
  }

  /** Turns this collection's notifications and dependencies into edges. */
  private resolveReferences(notifications: Map<DeclaredResource, Notification[]>, after: Map<DeclaredResource, Set<DeclaredResource>>): void {
    const problems = this.problems;
    for (const resource of this.declared) after.set(resource, new Set());
    const resolve = (target: Target, from: DeclaredResource, property: string): DeclaredResource | undefined => {
      const id = typeof target === "string" ? target : target?.id;
      // The innermost first: a custom resource's own service[x] before one of the recipe around it.
      const found = typeof id === "string" ? this.lookup(id) : undefined;
      if (!found) {
        problems.push({
          path: `${resourcePath(from)}.${property}`,
          message: typeof id === "string" ? `refers to ${id}, which no recipe in this run declares` : `expected a resource or "type[name]", got ${describeValue(target)}`,
          location: from.location,
        });
      }
      return found;
    };
    const sameScope = (other: DeclaredResource, from: DeclaredResource, property: string): boolean => {
      if (this.byId.get(other.id) === other) return true;
      problems.push({ path: `${resourcePath(from)}.${property}`, message: `${other.id} is outside this custom resource: order the custom resource itself, or notify instead`, location: from.location });
      return false;
    };
    const link = (notification: Notification, property: string) => {
      if (!addNotification(notifications, notification, problems, property)) return;
      // A notified action of a custom resource must have its inner resources before the run starts.
      if (notification.target.resourceType.composite) this.tree.home.get(notification.target)?.expandAction(notification.target, notification.action);
    };
    for (const entry of this.pending) {
      const { resource } = entry;
      for (const item of notifyEntries(entry.notifies, resource, "notifies", problems)) {
        const target = resolve(item.target, resource, "notifies");
        if (target) link({ source: resource, target, action: item.action, timing: item.timing }, "notifies");
      }
      for (const item of notifyEntries(entry.subscribes, resource, "subscribes", problems)) {
        const source = resolve(item.target, resource, "subscribes");
        if (source) link({ source, target: resource, action: item.action, timing: item.timing }, "subscribes");
      }
      for (const target of entry.requires) {
        const other = resolve(target, resource, "requires");
        if (other && sameScope(other, resource, "requires")) after.get(resource)!.add(other);
      }
      for (const target of entry.before) {
        const other = resolve(target, resource, "before");
        if (other && sameScope(other, resource, "before")) after.get(other)!.add(resource);
      }
    }
  }

  /** This collection in converge order. */
  private ordered(after: Map<DeclaredResource, Set<DeclaredResource>>): FrozenCollection {
    const order = stableOrder(this.declared, after, this.problems);
    const byId = this.byId;
    return {
      resources: order,
      notifications: new Map(),
      tryFind: (id) => byId.get(id),
      find(id) {
        const found = byId.get(id);
        if (!found) throw new ValidationError([{ path: id, message: "no such resource in this run" }]);
        return found;
      },
    };
  }
}

function toList(value: Target | readonly Target[] | undefined): Target[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? [...value] : [value as Target];
}

function normalizeActions(type: ResourceType, value: unknown, at: (property: string, message: string) => void): string[] {
  if (value === undefined) return [type.defaultAction];
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) {
    at("action", "expected at least one action");
    return [type.defaultAction];
  }
  const actions: string[] = [];
  for (const action of list) {
    if (typeof action !== "string" || !type.actions.includes(action)) {
      at("action", `${describeValue(action)} is not an action of ${type.name}; actions: ${type.actions.join(", ")}`);
    } else actions.push(action);
  }
  return actions.length ? actions : [type.defaultAction];
}

function checkGuard(guard: Guard | undefined, property: string, at: (property: string, message: string) => void): void {
  if (guard === undefined) return;
  const ok = (typeof guard === "string" && guard.trim() !== "") || typeof guard === "function" || (Array.isArray(guard) && guard.length > 0 && guard.every((x) => typeof x === "string"));
  if (!ok) at(property, `expected a shell command, an argv array or a function, got ${describeValue(guard)}`);
}

function notifyEntries(
  spec: NotifySpec | undefined,
  resource: DeclaredResource,
  property: string,
  problems: Problem[],
): Array<{ action: string; target: Target; timing: Timing }> {
  if (spec === undefined) return [];
  const out: Array<{ action: string; target: Target; timing: Timing }> = [];
  const bad = (message: string) => problems.push({ path: `${resourcePath(resource)}.${property}`, message, location: resource.location });
  const timingOf = (timing: unknown): Timing => {
    if (timing === undefined || timing === "delayed") return "delayed";
    if (timing === "immediately" || timing === "immediate") return "immediately";
    bad(`timing must be "delayed" or "immediately", got ${describeValue(timing)}`);
    return "delayed";
  };
  if (Array.isArray(spec)) {
    for (const entry of spec as Array<{ action: string; target: Target; timing?: Timing }>) {
      if (!entry || typeof entry.action !== "string") {
        bad(`expected entries like { action: "restart", target: svc }, got ${describeValue(entry)}`);
        continue;
      }
      out.push({ action: entry.action, target: entry.target, timing: timingOf(entry.timing) });
    }
    return out;
  }
  if (spec === null || typeof spec !== "object") {
    bad(`expected an object such as { restart: svc }, got ${describeValue(spec)}`);
    return out;
  }
  for (const [action, value] of Object.entries(spec)) {
    if (Array.isArray(value)) for (const target of value) out.push({ action, target, timing: "delayed" });
    else if (value && typeof value === "object" && "target" in value) out.push({ action, target: value.target, timing: timingOf(value.timing) });
    else out.push({ action, target: value as Target, timing: "delayed" });
  }
  return out;
}

function addNotification(map: Map<DeclaredResource, Notification[]>, notification: Notification, problems: Problem[], property: string): boolean {
  const { target, action, source } = notification;
  if (!target.resourceType.actions.includes(action)) {
    const owner = property === "subscribes" ? target : source;
    problems.push({
      path: `${resourcePath(owner)}.${property}`,
      message: `${JSON.stringify(action)} is not an action of ${target.resourceType.name}; actions: ${target.resourceType.actions.join(", ")}`,
      location: owner.location,
    });
    return false;
  }
  const list = map.get(source) ?? [];
  list.push(notification);
  map.set(source, list);
  return true;
}

/**
 * Declaration order, moved only as much as explicit edges require (Kahn's algorithm
 * always picking the earliest-declared ready resource). A cycle names every member.
 */
function stableOrder(resources: DeclaredResource[], after: Map<DeclaredResource, Set<DeclaredResource>>, problems: Problem[]): DeclaredResource[] {
  const remaining = new Map<DeclaredResource, number>();
  const dependents = new Map<DeclaredResource, DeclaredResource[]>();
  let hasEdges = false;
  for (const resource of resources) {
    const deps = after.get(resource)!;
    deps.delete(resource);
    remaining.set(resource, deps.size);
    if (deps.size) hasEdges = true;
    for (const dep of deps) {
      const list = dependents.get(dep) ?? [];
      list.push(resource);
      dependents.set(dep, list);
    }
  }
  if (!hasEdges) return [...resources];

  const ready: DeclaredResource[] = resources.filter((r) => remaining.get(r) === 0);
  const order: DeclaredResource[] = [];
  while (ready.length) {
    let best = 0;
    for (let i = 1; i < ready.length; i++) if (ready[i]!.index < ready[best]!.index) best = i;
    const next = ready.splice(best, 1)[0]!;
    order.push(next);
    for (const dependent of dependents.get(next) ?? []) {
      const left = remaining.get(dependent)! - 1;
      remaining.set(dependent, left);
      if (left === 0) ready.push(dependent);
    }
  }
  if (order.length < resources.length) {
    const stuck = resources.filter((r) => remaining.get(r)! > 0);
    const cycle = findCycle(stuck, after);
    problems.push({
      path: cycle[0]!.id,
      message: `dependency cycle: ${[...cycle, cycle[0]!].map((r) => `${r.id} (${formatLocation(r.location)})`).join(" → ")}`,
      location: cycle[0]!.location,
    });
  }
  return order;
}

function findCycle(stuck: DeclaredResource[], after: Map<DeclaredResource, Set<DeclaredResource>>): DeclaredResource[] {
  const stuckSet = new Set(stuck);
  // Walk "must come after" edges from a stuck resource until one repeats: that loop is a cycle.
  let current = stuck[0]!;
  const seen = new Map<DeclaredResource, number>();
  const path: DeclaredResource[] = [];
  while (!seen.has(current)) {
    seen.set(current, path.length);
    path.push(current);
    const next = [...after.get(current)!].find((r) => stuckSet.has(r));
    if (!next) break;
    current = next;
  }
  const start = seen.get(current) ?? 0;
  // Report in converge direction: each resource before the one that requires it.
  return path.slice(start).reverse();
}
