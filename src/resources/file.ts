/** `file`: a regular file's content, mode, owner and group; delete; touch. */
import { prop } from "../core/properties.js";
import type { ResourceType } from "../core/resource.js";
import { applyCreate, applyDelete, type ManagedFileCurrent, type ManagedFileProperties, planCreate, planDelete, readManagedFile, managedFileProperties } from "./managed-file.js";
import { pathRequirements } from "../core/preconditions.js";

/** Actions of `file`. */
export type FileAction = "create" | "create_if_missing" | "delete" | "touch" | "nothing";

/** What a recipe writes for `file`. */
export interface FileInput {
  /** Absolute path (defaults to the resource name). */
  path?: string;
  /** The content; omitted, the content is not managed. */
  content?: string | Buffer;
  /** A file from the cookbook's `files/` folder to use as content. */
  source?: string;
  /** Mode as a number (0o644) or an octal string ("0644"). */
  mode?: number | string;
  owner?: string | number;
  group?: string | number;
  /** How many previous versions to keep under the backup folder (default 5; 0 keeps none). */
  backup?: number;
  /** Replace a symbolic link found at the path (default false: fail). */
  forceUnlink?: boolean;
}

interface FileProperties extends ManagedFileProperties {
  content?: string | Buffer;
  source?: string;
}

/** The `file` resource type. */
export const fileType: ResourceType<FileProperties, ManagedFileCurrent> = {
  name: "file",
  description: "A regular file: content, mode, owner and group, written atomically with backups.",
  actions: ["create", "create_if_missing", "delete", "touch", "nothing"],
  defaultAction: "create",
  identity: "path",
  properties: {
    path: prop.absolutePath({ role: "identity" }),
    content: prop.content(),
    source: prop.string({ nonEmpty: true }),
    ...managedFileProperties,
  },
  validate(properties) {
    return properties.content !== undefined && properties.source !== undefined ? [["source", "give either content or source, not both"]] : [];
  },
  // The real run needs the owner, the group and the directory the file goes in.
  requires: (properties, action) => (action === "delete" ? [] : pathRequirements(properties, { parent: true })),
  provider: {
    // A missing cookbook file stops the run before anything changes.
    async prepare(context, properties, actions) {
      return properties.source !== undefined && actions.some((a) => a !== "delete") ? (await context.cookbookFile("files", properties.source)).content : undefined;
    },
    async read(context, properties, action) {
      let desired: Buffer | undefined;
      if (action !== "delete") {
        if (properties.source !== undefined) desired = Buffer.isBuffer(context.prepared) ? context.prepared : (await context.cookbookFile("files", properties.source)).content;
        else if (properties.content !== undefined) desired = Buffer.isBuffer(properties.content) ? properties.content : Buffer.from(properties.content, "utf8");
      }
      return readManagedFile(context, properties, desired);
    },
    plan(current, properties, action) {
      switch (action) {
        case "delete":
          return planDelete(current);
        case "create_if_missing":
          return current.stat ? { changes: [] } : planCreate(current, properties);
        case "touch": {
          const plan = planCreate(current, properties);
          return plan.changes.length ? plan : { changes: [{ property: "mtime", from: current.stat ? new Date(current.stat.mtimeMs).toISOString() : undefined, to: "now" }] };
        }
        default:
          return planCreate(current, properties);
      }
    },
    async apply(context, plan, properties, action, current) {
      if (action === "delete") return applyDelete(context, properties, current);
      if (plan.changes.some((c) => c.property !== "mtime")) await applyCreate(context, plan, properties, current);
      if (action === "touch") await context.host.touch(properties.path);
    },
  },
};
