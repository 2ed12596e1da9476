/** The explicit registry of resource types: names are unique; no module-global state. */
import { SousError } from "../core/errors.js";
import type { CookbookRef, ResourceType } from "../core/resource.js";
import { codeType } from "./code.js";
import { directoryType } from "./directory.js";
import { executeType } from "./execute.js";
import { fileType } from "./file.js";
import { gitType } from "./git.js";
import { mountType } from "./mount.js";
import { sysctlType } from "./sysctl.js";
import { hostnameType } from "./hostname.js";
import { systemdUnitType } from "./systemd_unit.js";
import { serviceType } from "./service.js";
import { linkType } from "./link.js";
import { packageType } from "./package.js";
import { aptUpdateType } from "./apt_update.js";
import { lineType } from "./line.js";
import { userType } from "./user.js";
import { groupType } from "./group.js";
import { archiveType } from "./archive.js";
import { cronType } from "./cron.js";
import { aptRepositoryType } from "./apt_repository.js";
import { remoteFileType } from "./remote_file.js";
import { templateType } from "./template.js";

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

/**
 * Sous's built-in resource types. A new type is its file and its entry here: its recipe
 * function (`resources.NAME`) and, for types made with `defineType`, that function's
 * TypeScript type follow from the type itself.
 */
export const BUILTIN_TYPES: readonly [
  typeof fileType,
  typeof directoryType,
  typeof linkType,
  typeof templateType,
  typeof remoteFileType,
  typeof executeType,
  typeof codeType,
  typeof gitType,
  typeof mountType,
  typeof sysctlType,
  typeof hostnameType,
  typeof systemdUnitType,
  typeof serviceType,
  typeof packageType,
  typeof aptUpdateType,
  typeof lineType,
  typeof cronType,
  typeof aptRepositoryType,
  typeof userType,
  typeof groupType,
  typeof archiveType,
] = [
  fileType,
  directoryType,
  linkType,
  templateType,
  remoteFileType,
  executeType,
  codeType,
  gitType,
  mountType,
  sysctlType,
  hostnameType,
  systemdUnitType,
  serviceType,
  packageType,
  aptUpdateType,
  lineType,
  cronType,
  aptRepositoryType,
  userType,
  groupType,
  archiveType,
];

/** A registry holding Sous's built-in resource types. */
export function builtinRegistry(): ResourceRegistry {
  const registry = new ResourceRegistry();
  for (const type of BUILTIN_TYPES) registry.register(type as ResourceType);
  return registry;
}
