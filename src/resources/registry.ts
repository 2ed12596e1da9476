/** The explicit registry of resource types: names are unique; no module-global state. */
import { SousError } from "../core/errors.js";
import type { CookbookRef, ResourceType } from "../core/resource.js";
import * as builtin from "./builtin.js";

/** A set of resource types by name. */
export class ResourceRegistry {
  private readonly types = new Map<string, ResourceType>();
  private readonly cookbooks = new Map<ResourceType, CookbookRef>();

  /** Adds a type (a custom resource type with the cookbook defining it); a second type with the same name is refused. */
  register(type: ResourceType, cookbook?: CookbookRef): this {
    const existing = this.types.get(type.name);
    if (existing) {
      const where = (c: CookbookRef | undefined) => (c ? `cookbook ${c.name}@${c.version}` : "Sous");
      throw new SousError("duplicate-resource-type", `resource type ${type.name} is already defined by ${where(this.cookbooks.get(existing))}; ${cookbook ? `${where(cookbook)} defines it again` : "it is registered twice"}`);
    }
    this.types.set(type.name, type);
    if (cookbook) this.cookbooks.set(type, cookbook);
    return this;
  }

  /** The cookbook that defines a custom resource type (undefined for built-in types). */
  cookbookOf(type: ResourceType): CookbookRef | undefined {
    return this.cookbooks.get(type);
  }

  /** The type of that name, or undefined. */
  tryGet(name: string): ResourceType | undefined {
    return this.types.get(name);
  }

  /** The type of that name; throws naming the known types. */
  get(name: string): ResourceType {
    const type = this.types.get(name);
    if (!type) throw new SousError("unknown-resource-type", `no resource type ${JSON.stringify(name)}; known types: ${[...this.types.keys()].join(", ")}`);
    return type;
  }

  /** All types, in registration order. */
  list(): ResourceType[] {
    return [...this.types.values()];
  }
}

/** Sous's built-in resource types: every type `builtin.ts` exports, by name of their export. */
export const BUILTIN_TYPES: ReadonlyArray<(typeof builtin)[keyof typeof builtin]> = Object.values(builtin);

/** A registry holding Sous's built-in resource types. */
export function builtinRegistry(): ResourceRegistry {
  const registry = new ResourceRegistry();
  for (const type of BUILTIN_TYPES) registry.register(type as ResourceType);
  return registry;
}
