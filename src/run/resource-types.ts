/** The resource types a recipe can declare: the built-in ones, then (in a repository) its cookbooks' custom resources. */
import type { ResourceType } from "../core/resource.js";

/** A resource type and, for a custom resource, the cookbook that defines it. */
export interface AvailableType {
  type: ResourceType;
  cookbook?: string;
}

/** Every built-in type, then the custom resources of the repository at `root` (compiled for it) when there is one. */
export async function availableResourceTypes(root: string | undefined): Promise<AvailableType[]> {
  const custom = root ? await (await import("../cookbook/resource-types.js")).repositoryResourceTypes(root) : [];
  const builtin = (await import("../resources/registry.js")).builtinRegistry().list().map((type) => ({ type }));
  return [...builtin, ...custom];
}
