/**
 * `group`: a local group through shadow-utils (groupadd, groupmod, gpasswd, groupdel): its gid
 * and members, exactly the declared ones or, with `append`, at least them.
 */
import { type InputOf, prop } from "../core/properties.js";
import { type Change, defineType } from "../core/resource.js";
import { diffState } from "../core/state.js";
import { run } from "../host/host.js";
import { ACCOUNT_NAME, type GroupEntry, readGroups, sameNames } from "./accounts.js";

const properties = {
  name: prop.matching("a group name (letters, digits, _ . -)", (v) => ACCOUNT_NAME.test(v) && v.length <= 32, { role: "identity" }),
  gid: prop.integer({ min: 0, max: 4294967294 }),
  /** Member users: exactly these, or with `append`, at least these (see `user`'s `groups`: declare a membership in one place). */
  members: prop.stringArray(),
  /** Add the members to those already there instead of replacing them (default false). */
  append: prop.boolean({ role: "control", default: false }),
  /** A system group (gid below GID_MIN); only used on create. */
  system: prop.boolean({ role: "control", default: false }),
};

/** What a recipe writes for `group` (derived from its property specs). */
export type GroupInput = InputOf<typeof properties>;

/** Actions of `group`. */
export type GroupAction = (typeof groupType.actions)[number];

/**
 * The `group` resource type, defined in one place: its recipe function (`resources.group`)
 * and the provider's property types are derived from the specs above.
 */
export const groupType = defineType({
  name: "group",
  description: "A local group: gid and members (exact or appended).",
  actions: ["create", "remove", "nothing"],
  defaultAction: "create",
  identity: "name",
  properties,
  validate(declared) {
    return (declared.members ?? []).filter((member) => !ACCOUNT_NAME.test(member)).map((member): [string, string] => ["members", `${JSON.stringify(member)} is not a user name`]);
  },
  provider: {
    async read({ host }, desired): Promise<{ entry: GroupEntry | undefined }> {
      return { entry: (await readGroups(host)).find((group) => group.name === desired.name) };
    },
    plan({ entry }, desired, action) {
      if (action === "remove") return entry ? { changes: [{ property: "exists", from: true, to: false }] } : { changes: [] };
      const current = entry ? { gid: entry.gid, members: [...entry.members].sort() } : undefined;
      const members = desired.members && [...new Set(desired.append ? [...(entry?.members ?? []), ...desired.members] : desired.members)].sort();
      const changes: Change[] = entry ? [] : [{ property: "exists", from: false, to: true }];
      // A new group without members needs no members row.
      const wanted = { ...desired, members: !entry && members?.length === 0 ? undefined : members };
      changes.push(...diffState(properties, current, wanted, { equal: { members: (have, want) => sameNames(have ?? [], want ?? []) } }));
      return { changes };
    },
    async apply({ host }, plan, desired, action, { entry }) {
      const name = desired.name;
      if (action === "remove") {
        await run(host, ["groupdel", "--", name]);
        return;
      }
      const changed = new Map(plan.changes.map((change) => [change.property, change.to]));
      if (!entry) await run(host, ["groupadd", ...(desired.gid !== undefined ? ["--gid", String(desired.gid)] : []), ...(desired.system ? ["--system"] : []), "--", name]);
      else if (changed.has("gid")) await run(host, ["groupmod", "--gid", String(desired.gid), "--", name]);
      // gpasswd -M sets the member list of /etc/group and /etc/gshadow together.
      if (changed.has("members")) await run(host, ["gpasswd", "-M", (changed.get("members") as string[]).join(","), name]);
    },
  },
});
