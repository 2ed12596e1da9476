/**
 * `group`: a local group through shadow-utils (groupadd, groupmod, gpasswd, groupdel): its gid
 * and members, exactly the declared ones or, with `append`, at least them.
 */
import { prop } from "../core/properties.js";
import type { Change, ResourceType } from "../core/resource.js";
import { run } from "../host/host.js";
import { ACCOUNT_NAME, type GroupEntry, readGroups, sameNames } from "./accounts.js";

/** Actions of `group`. */
export type GroupAction = "create" | "remove" | "nothing";

/** What a recipe writes for `group`. */
export interface GroupInput {
  gid?: number;
  /** Member users: exactly these, or with `append`, at least these (see `user`'s `groups`: declare a membership in one place). */
  members?: string[];
  /** Add the members to those already there instead of replacing them (default false). */
  append?: boolean;
  /** A system group (gid below GID_MIN); only used on create. */
  system?: boolean;
}

interface GroupProperties {
  name: string;
  gid?: number;
  members?: string[];
  append: boolean;
  system: boolean;
}

/** The `group` resource type. */
export const groupType: ResourceType<GroupProperties, { entry: GroupEntry | undefined }> = {
  name: "group",
  description: "A local group: gid and members (exact or appended).",
  actions: ["create", "remove", "nothing"],
  defaultAction: "create",
  identity: "name",
  properties: {
    name: prop.matching("a group name (letters, digits, _ . -)", (v) => ACCOUNT_NAME.test(v) && v.length <= 32, { role: "identity" }),
    gid: prop.integer({ min: 0, max: 4294967294 }),
    members: prop.stringArray(),
    append: prop.boolean({ role: "control", default: false }),
    system: prop.boolean({ role: "control", default: false }),
  },
  validate(properties) {
    return (properties.members ?? []).filter((member) => !ACCOUNT_NAME.test(member)).map((member) => ["members", `${JSON.stringify(member)} is not a user name`]);
  },
  provider: {
    async read({ host }, properties) {
      return { entry: (await readGroups(host)).find((group) => group.name === properties.name) };
    },
    plan({ entry }, properties, action) {
      if (action === "remove") return entry ? { changes: [{ property: "exists", from: true, to: false }] } : { changes: [] };
      const changes: Change[] = entry ? [] : [{ property: "exists", from: false, to: true }];
      if (properties.gid !== undefined && entry?.gid !== properties.gid) changes.push({ property: "gid", from: entry?.gid, to: properties.gid });
      if (properties.members !== undefined) {
        const current = entry?.members ?? [];
        const wanted = properties.append ? [...new Set([...current, ...properties.members])] : [...new Set(properties.members)];
        if (!sameNames(current, wanted)) changes.push({ property: "members", from: entry ? [...current].sort() : undefined, to: [...wanted].sort() });
      }
      return { changes };
    },
    async apply({ host }, plan, properties, action, { entry }) {
      const name = properties.name;
      if (action === "remove") {
        await run(host, ["groupdel", "--", name]);
        return;
      }
      const changed = new Map(plan.changes.map((change) => [change.property, change.to]));
      if (!entry) await run(host, ["groupadd", ...(properties.gid !== undefined ? ["--gid", String(properties.gid)] : []), ...(properties.system ? ["--system"] : []), "--", name]);
      else if (changed.has("gid")) await run(host, ["groupmod", "--gid", String(properties.gid), "--", name]);
      // gpasswd -M sets the member list of /etc/group and /etc/gshadow together.
      if (changed.has("members")) await run(host, ["gpasswd", "-M", (changed.get("members") as string[]).join(","), name]);
    },
  },
};
