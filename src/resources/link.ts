/** `link`: a symbolic or hard link, replaced when it points elsewhere. */
import { randomBytes } from "node:crypto";
import { basename, dirname, join, resolve } from "node:path";
import { SousError } from "../core/errors.js";
import { type InputOf, prop } from "../core/properties.js";
import { defineType } from "../core/resource.js";
import type { FileStat } from "../host/host.js";
import { applyMetadata, type CurrentMetadata, planMetadata, readMetadata, requireParentDirectory } from "./metadata.js";
import { pathRequirements } from "../core/preconditions.js";

const properties = {
  /** The link's own path (defaults to the resource name). */
  path: prop.absolutePath({ role: "identity" }),
  /** What the link points to. */
  to: prop.string({ nonEmpty: true, required: true }),
  /** "symbolic" (default) or "hard". */
  linkType: prop.oneOf(["symbolic", "hard"], { default: "symbolic" }),
  /** The link's owner: a user name or uid. */
  owner: prop.principal("user"),
  /** The link's group: a group name or gid. */
  group: prop.principal("group"),
  /** Replace a regular file found at the path (default false: fail, so no data is lost silently). */
  force: prop.boolean({ role: "control", default: false }),
};

/** What a recipe writes for `link` (derived from its property specs). */
export type LinkInput = InputOf<typeof properties>;

/** Actions of `link`. */
export type LinkAction = (typeof linkType.actions)[number];

interface LinkCurrent extends CurrentMetadata {
  pointsTo?: string;
  targetStat?: FileStat;
  isOurHardLink: boolean;
}

/** The `link` resource type. */
export const linkType = defineType({
  name: "link",
  description: "A symbolic or hard link, replaced atomically when it points elsewhere.",
  actions: ["create", "delete", "nothing"],
  defaultAction: "create",
  identity: "path",
  properties,
  // The real run needs the owner, the group and the directory the file goes in.
  requires: (properties, action) => (action === "delete" ? [] : pathRequirements(properties, { parent: true })),
  provider: {
    async read({ host }, properties): Promise<LinkCurrent> {
      const stat = await host.tryLstat(properties.path);
      const metadata = await readMetadata(host, stat, properties);
      if (stat?.type === "directory") throw new SousError("wrong-file-type", `${properties.path} is a directory; a link cannot replace it`);
      const pointsTo = stat?.type === "symlink" ? await host.readlink(properties.path) : undefined;
      let targetStat: FileStat | undefined;
      let isOurHardLink = false;
      if (properties.linkType === "hard") {
        targetStat = await host.tryLstat(resolve(dirname(properties.path), properties.to));
        isOurHardLink = Boolean(stat && targetStat && stat.type === "file" && stat.ino === targetStat.ino && stat.dev === targetStat.dev);
      }
      return { ...metadata, pointsTo, targetStat, isOurHardLink };
    },
    plan(current, properties, action) {
      const { stat } = current;
      if (action === "delete") {
        const isLink = stat?.type === "symlink" || (properties.linkType === "hard" && current.isOurHardLink);
        return isLink ? { changes: [{ property: "exists", from: true, to: false }] } : { changes: [] };
      }
      const correct = properties.linkType === "symbolic" ? stat?.type === "symlink" && current.pointsTo === properties.to : current.isOurHardLink;
      if (!correct) {
        const from = !stat ? undefined : stat.type === "symlink" ? current.pointsTo : `(${stat.type === "file" ? "regular file" : stat.type})`;
        return { changes: [{ property: "to", from, to: properties.to }, ...planMetadata({ stat: undefined }, properties)] };
      }
      return { changes: planMetadata(current, properties) };
    },
    async apply({ host }, plan, properties, action, current) {
      const { stat } = current;
      if (action === "delete") {
        await host.remove(properties.path);
        return;
      }
      if (plan.changes.some((c) => c.property === "to")) {
        if (stat && stat.type !== "symlink" && !(stat.type === "file" && properties.force)) {
          throw new SousError("would-replace-file", `${properties.path} is a regular file; set force: true to replace it with a link`);
        }
        if (properties.linkType === "hard" && !current.targetStat) {
          throw new SousError("missing-link-target", `cannot hard-link ${properties.path}: ${properties.to} does not exist`);
        }
        if (!stat) await requireParentDirectory(host, properties.path);
        // Build the link beside its final place and rename it over, so the path is never missing.
        const temp = join(dirname(properties.path), `.${basename(properties.path)}.sous-${randomBytes(6).toString("hex")}`);
        if (properties.linkType === "symbolic") await host.symlink(properties.to, temp);
        else await host.hardlink(resolve(dirname(properties.path), properties.to), temp);
        try {
          await host.rename(temp, properties.path);
        } catch (error) {
          await host.remove(temp);
          throw error;
        }
      }
      await applyMetadata(host, properties.path, plan.changes, properties, { link: true });
    },
  },
});
