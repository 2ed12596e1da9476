/** `file`: a regular file's content, mode, owner and group; delete; touch. */
import { type InputOf, prop } from "../core/properties.js";
import { defineType } from "../core/resource.js";
import { applyCreate, applyDelete, planCreate, planDelete, readManagedFile, managedFileProperties } from "./managed-file.js";
import { pathRequirements } from "../core/preconditions.js";

const properties = {
  /** Absolute path (defaults to the resource name). */
  path: prop.absolutePath({ role: "identity" }),
  /** The content; omitted, the content is not managed. */
  content: prop.content(),
  /** A file from the cookbook's `files/` folder to use as content. */
  source: prop.string({ nonEmpty: true }),
  ...managedFileProperties,
};

/** What a recipe writes for `file` (derived from its property specs). */
export type FileInput = InputOf<typeof properties>;

/** Actions of `file`. */
export type FileAction = (typeof fileType.actions)[number];

/** The `file` resource type. */
export const fileType = defineType({
  name: "file",
  description: "A regular file: content, mode, owner and group, written atomically with backups.",
  actions: ["create", "create_if_missing", "delete", "touch", "nothing"],
  defaultAction: "create",
  identity: "path",
  properties,
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
});
