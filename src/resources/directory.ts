/** `directory`: a directory's existence, mode, owner and group. */
import { SousError } from "../core/errors.js";
import { type InputOf, prop } from "../core/properties.js";
import { defineType } from "../core/resource.js";
import { dirname } from "node:path";
import { applyMetadata, type CurrentMetadata, planMetadata, readMetadata, metadataProperties } from "./metadata.js";
import { pathRequirements } from "../core/preconditions.js";

const properties = {
  /** Absolute path (defaults to the resource name). */
  path: prop.absolutePath({ role: "identity" }),
  ...metadataProperties,
  /** create: make missing parents too; delete: remove the contents too. Default false. */
  recursive: prop.boolean({ role: "control", default: false }),
};

/** What a recipe writes for `directory` (derived from its property specs). */
export type DirectoryInput = InputOf<typeof properties>;

/** Actions of `directory`. */
export type DirectoryAction = (typeof directoryType.actions)[number];

interface DirectoryCurrent extends CurrentMetadata {
  parentExists: boolean;
  empty: boolean;
}

/** The `directory` resource type. */
export const directoryType = defineType({
  name: "directory",
  description: "A directory: existence, mode, owner and group; recursive create and delete.",
  actions: ["create", "delete", "nothing"],
  defaultAction: "create",
  identity: "path",
  properties,
  // recursive creates the missing parents itself.
  requires: (properties, action) => (action === "delete" ? [] : pathRequirements(properties, { parent: !properties.recursive })),
  provider: {
    async read({ host }, properties, action): Promise<DirectoryCurrent> {
      const stat = await host.tryLstat(properties.path);
      if (stat && stat.type !== "directory") throw new SousError("wrong-file-type", `${properties.path} exists and is not a directory (it is a ${stat.type === "symlink" ? "symbolic link" : stat.type})`);
      const metadata = await readMetadata(host, stat, properties);
      const parentExists = stat ? true : (await host.tryStat(dirname(properties.path)))?.type === "directory";
      const empty = stat && action === "delete" ? (await host.readdir(properties.path)).length === 0 : true;
      return { ...metadata, parentExists, empty };
    },
    plan(current, properties, action) {
      if (action === "delete") return current.stat ? { changes: [{ property: "exists", from: true, to: false }] } : { changes: [] };
      if (!current.stat) return { changes: [{ property: "exists", from: false, to: true }, ...planMetadata(current, properties)] };
      return { changes: planMetadata(current, properties) };
    },
    async apply({ host }, plan, properties, action, current) {
      if (action === "delete") {
        if (!current.empty && !properties.recursive) {
          throw new SousError("directory-not-empty", `${properties.path} is not empty; set recursive: true to delete it with its contents`);
        }
        await host.remove(properties.path, { recursive: properties.recursive });
        return;
      }
      if (!current.stat) {
        if (!current.parentExists && !properties.recursive) {
          throw new SousError("missing-parent", `cannot create ${properties.path}: ${dirname(properties.path)} does not exist (set recursive: true to create parents)`);
        }
        // As in Chef, mode (and owner and group) apply to the leaf only: parents get 0755, so that a
        // private leaf (0700) does not make its new parents untraversable.
        if (!current.parentExists) await host.mkdir(dirname(properties.path), { recursive: true, mode: 0o755 });
        await host.mkdir(properties.path, { mode: properties.mode ?? 0o755 });
      }
      // mkdir's mode is filtered by the umask; set it explicitly.
      await applyMetadata(host, properties.path, plan.changes, properties);
    },
  },
});
