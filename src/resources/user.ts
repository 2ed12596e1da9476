/**
 * `user`: a local account through shadow-utils (useradd, usermod, userdel, chpasswd): uid,
 * primary group, home (moved when managed), shell, comment, supplementary groups (exact set or
 * appended), password hash (sensitive, passed on standard input, never in argv), lock state, and
 * SSH authorized keys in ~/.ssh with the modes sshd insists on.
 */
import { posix } from "node:path";
import { SousError } from "../core/errors.js";
import { type InputOf, prop } from "../core/properties.js";
import { type Change, defineType, type Plan } from "../core/resource.js";
import { diffState } from "../core/state.js";
import { type FileStat, type Host, run } from "../host/host.js";
import { ACCOUNT_NAME, type PasswdEntry, readGroups, readPasswdEntry, readShadowPassword, sameNames } from "./accounts.js";
import { findLeftovers, leftoverChange, removeLeftovers } from "./leftovers.js";
import { contentDiff, loadDiffLibrary } from "./metadata.js";

const userProperties = {
  name: prop.matching("a user name (letters, digits, _ . -)", (v) => ACCOUNT_NAME.test(v) && v.length <= 32, { role: "identity" }),
  uid: prop.integer({ min: 0, max: 4294967294 }),
  /** The primary group (name or gid); by default useradd's choice (a group named after the user). */
  gid: prop.principal("group"),
  home: prop.absolutePath(),
  /** Create the home on create (from /etc/skel), move it when `home` changes, delete it on remove (default false). */
  manageHome: prop.boolean({ role: "control", default: false }),
  shell: prop.absolutePath(),
  /** The GECOS field (full name). */
  comment: prop.matching("a comment without ':' or newlines", (v) => !/[:\n]/.test(v)),
  /**
   * Supplementary groups: exactly these, or with `appendGroups`, at least these. Declare a
   * membership either here or in a group's `members`, not both ways with exact lists, or runs fight.
   */
  groups: prop.stringArray(),
  appendGroups: prop.boolean({ role: "control", default: false }),
  /** A system account (uid below UID_MIN, no aging); only used on create. */
  system: prop.boolean({ role: "control", default: false }),
  /** The password hash as in /etc/shadow (`$6$...`, `$y$...`, or `!` for none). Never printed. */
  password: prop.matching("a password hash as stored in /etc/shadow (no ':' or newlines)", (v) => !/[:\n]/.test(v), { sensitive: true }),
  /** The whole content of ~/.ssh/authorized_keys, one key per entry. */
  sshAuthorizedKeys: prop.stringArray(),
};

/** What a recipe writes for `user` (derived from its property specs). */
export type UserInput = InputOf<typeof userProperties>;

/** Actions of `user`. */
export type UserAction = (typeof userType.actions)[number];

interface KeysState {
  home: string;
  homeStat: FileStat | undefined;
  dirStat: FileStat | undefined;
  fileStat: FileStat | undefined;
  content: Buffer | undefined;
  /** Temporary files that killed writes of authorized_keys left beside it (full paths). */
  leftovers?: string[];
}

interface UserCurrent {
  entry: PasswdEntry | undefined;
  /** The shadow password field; `!`-prefixed when locked. */
  password: string | undefined;
  /** Supplementary groups (the user listed as a member). */
  groups: string[];
  /** The declared primary group resolved to a gid (undefined: not declared, or no such group yet). */
  wantGid: number | undefined;
  /** On create without a declared gid: whether a group named after the user exists already. */
  ownGroupExists: boolean;
  keys: KeysState | undefined;
}

function isLocked(password: string | undefined): boolean {
  return password !== undefined && password.startsWith("!");
}

/** The desired authorized_keys content. */
function keysContent(keys: readonly string[]): Buffer {
  return Buffer.from(keys.map((key) => `${key.trim()}\n`).join(""), "utf8");
}

async function readKeys(host: Host, home: string): Promise<KeysState> {
  const [homeStat, dirStat, fileStat] = await Promise.all([host.tryStat(home), host.tryLstat(`${home}/.ssh`), host.tryLstat(`${home}/.ssh/authorized_keys`)]);
  const [content, leftovers] = await Promise.all([
    fileStat?.type === "file" ? host.tryReadFile(`${home}/.ssh/authorized_keys`) : undefined,
    dirStat?.type === "directory" ? findLeftovers(host, `${home}/.ssh/authorized_keys`) : [],
  ]);
  return { home, homeStat, dirStat, fileStat, content, ...(leftovers.length > 0 ? { leftovers } : {}) };
}

/** Why the authorized keys need work, or undefined when they are right. */
function keysProblem(keys: KeysState, desired: Buffer, uid: number | undefined, gid: number | undefined): string | undefined {
  const { dirStat, fileStat, content } = keys;
  if (!content || !content.equals(desired)) return "content";
  if (dirStat?.type !== "directory" || dirStat.mode !== 0o700 || dirStat.uid !== uid || dirStat.gid !== gid) return "~/.ssh ownership or mode";
  if (fileStat?.mode !== 0o600 || fileStat.uid !== uid || fileStat.gid !== gid) return "authorized_keys ownership or mode";
  return undefined;
}

function describeKeys(content: Buffer | undefined): string | undefined {
  if (content === undefined) return undefined;
  const count = content.toString("utf8").split("\n").filter((line) => line.trim() && !line.trim().startsWith("#")).length;
  return `${count} key${count === 1 ? "" : "s"}`;
}

/** The `user` resource type. */
export const userType = defineType({
  name: "user",
  description: "A local user account: uid, group, home, shell, comment, supplementary groups, password hash, lock, SSH authorized keys.",
  actions: ["create", "modify", "remove", "lock", "unlock", "nothing"],
  defaultAction: "create",
  identity: "name",
  properties: userProperties,
  validate(properties) {
    const problems: Array<[string, string]> = [];
    for (const group of properties.groups ?? []) if (!ACCOUNT_NAME.test(group)) problems.push(["groups", `${JSON.stringify(group)} is not a group name`]);
    for (const key of properties.sshAuthorizedKeys ?? []) if (key.includes("\n")) problems.push(["sshAuthorizedKeys", "one key per entry (no newlines)"]);
    if (properties.password !== undefined && /^\$/.test(properties.password) === false && !/^[!*]/.test(properties.password)) {
      problems.push(["password", "expected a hash such as $6$... or $y$... (from `mkpasswd` or `openssl passwd -6`), or ! / * for none; never a clear-text password"]);
    }
    return problems;
  },
  provider: {
    async read({ host }, properties, action): Promise<UserCurrent> {
      const entry = await readPasswdEntry(host, properties.name);
      const [password, groups, wantGid] = await Promise.all([
        entry && (properties.password !== undefined || action === "lock" || action === "unlock") ? readShadowPassword(host, properties.name) : undefined,
        properties.groups !== undefined ? readGroups(host) : [],
        typeof properties.gid === "string" ? host.lookupGroup(properties.gid) : properties.gid,
      ]);
      let keys: KeysState | undefined;
      if (properties.sshAuthorizedKeys !== undefined && (action === "create" || action === "modify")) {
        keys = await readKeys(host, properties.home ?? entry?.home ?? `/home/${properties.name}`);
        if (!keys.content?.equals(keysContent(properties.sshAuthorizedKeys))) await loadDiffLibrary();
      }
      const ownGroupExists = !entry && properties.gid === undefined && (await host.lookupGroup(properties.name)) !== undefined;
      return { entry, password, groups: groups.filter((g) => g.members.includes(properties.name)).map((g) => g.name), wantGid, ownGroupExists, keys };
    },
    plan(current, properties, action): Plan {
      const { entry } = current;
      if (action === "remove") return entry ? { changes: [{ property: "exists", from: true, to: false }] } : { changes: [] };
      if (action === "lock" || action === "unlock") {
        if (!entry) throw new SousError("no-such-user", `user ${properties.name} does not exist, so it cannot be ${action}ed`);
        const locked = isLocked(current.password);
        return locked === (action === "lock") ? { changes: [] } : { changes: [{ property: "locked", from: locked, to: !locked }] };
      }
      if (!entry && action === "modify") throw new SousError("no-such-user", `user ${properties.name} does not exist (modify changes existing users only; use create)`);
      const changes: Change[] = entry ? [] : [{ property: "exists", from: false, to: true }];
      const fields = entry && { uid: entry.uid, home: entry.home, shell: entry.shell, comment: entry.comment };
      changes.push(...diffState(userProperties, fields, properties, { only: ["uid"] }));
      // The gid is compared as the number the declared group (a name or an id) stands for.
      if (properties.gid !== undefined && (!entry || current.wantGid === undefined || entry.gid !== current.wantGid)) changes.push({ property: "gid", from: entry?.gid, to: properties.gid });
      changes.push(...diffState(userProperties, fields, properties, { only: ["home", "shell", "comment"] }));
      if (properties.groups !== undefined) {
        const wanted = properties.appendGroups ? [...new Set([...current.groups, ...properties.groups])] : properties.groups;
        if (!entry ? wanted.length > 0 : !sameNames(current.groups, wanted)) changes.push({ property: "groups", from: entry ? [...current.groups].sort() : undefined, to: [...wanted].sort() });
      }
      if (properties.password !== undefined) {
        const stored = current.password?.replace(/^!/, "");
        if (!entry || stored !== properties.password.replace(/^!/, "")) changes.push({ property: "password", from: entry ? "(hash)" : undefined, to: "(hash)" });
      }
      let diff: Plan["diff"];
      if (properties.sshAuthorizedKeys !== undefined && current.keys) {
        const desired = keysContent(properties.sshAuthorizedKeys);
        const uid = properties.uid ?? entry?.uid;
        const gid = current.wantGid ?? entry?.gid;
        const problem = !entry ? "content" : keysProblem(current.keys, desired, uid, gid);
        if (problem) {
          changes.push({ property: "sshAuthorizedKeys", from: describeKeys(current.keys.content), to: problem === "content" ? describeKeys(desired) : `${describeKeys(desired)} (${problem} fixed)` });
          if (problem === "content") diff = { property: "sshAuthorizedKeys", text: contentDiff(`${current.keys.home}/.ssh/authorized_keys`, current.keys.content, desired) };
        }
        changes.push(...leftoverChange(current.keys));
      }
      return diff ? { changes, diff } : { changes };
    },
    async apply({ host }, plan, properties, action, current) {
      const changed = new Set(plan.changes.map((change) => change.property));
      const name = properties.name;
      if (action === "remove") {
        await run(host, ["userdel", ...(properties.manageHome ? ["--remove"] : []), "--", name]);
        return;
      }
      if (action === "lock" || action === "unlock") {
        await run(host, ["usermod", action === "lock" ? "--lock" : "--unlock", "--", name]);
        return;
      }
      const options: string[] = [];
      if (changed.has("uid")) options.push("--uid", String(properties.uid));
      if (changed.has("gid")) options.push("--gid", String(properties.gid));
      if (changed.has("home")) options.push("--home", properties.home!);
      if (changed.has("shell")) options.push("--shell", properties.shell!);
      if (changed.has("comment")) options.push("--comment", properties.comment!);
      if (changed.has("groups")) {
        const target = plan.changes.find((change) => change.property === "groups")!.to as string[];
        options.push("--groups", target.join(","));
      }
      if (!current.entry) {
        const home = properties.manageHome ? ["--create-home"] : ["--no-create-home"];
        // useradd refuses to make the user's own group when one of that name exists (a group resource
        // declared first, say): that group is the one meant.
        if (current.ownGroupExists) options.push("--gid", name);
        await run(host, ["useradd", ...options, ...home, ...(properties.system ? ["--system"] : []), "--", name]);
      } else if (options.length > 0) {
        await run(host, ["usermod", ...options, ...(changed.has("home") && properties.manageHome ? ["--move-home"] : []), "--", name]);
      }
      if (changed.has("password")) {
        const hash = properties.password!;
        // A locked account stays locked when its hash changes.
        const stored = isLocked(current.password) && !hash.startsWith("!") ? `!${hash}` : hash;
        await run(host, ["chpasswd", "--encrypted"], { input: `${name}:${stored}\n`, secrets: [hash] });
      }
      if (changed.has("sshAuthorizedKeys")) await writeAuthorizedKeys(host, name, properties.sshAuthorizedKeys!);
      if (current.keys) await removeLeftovers(host, plan, current.keys);
    },
  },
});

/** Writes ~/.ssh/authorized_keys (0600) in ~/.ssh (0700), both owned by the user and its primary group. */
async function writeAuthorizedKeys(host: Host, name: string, keys: readonly string[]): Promise<void> {
  const entry = await readPasswdEntry(host, name);
  if (!entry) throw new SousError("no-such-user", `user ${name} vanished before its SSH keys could be written`);
  const home = entry.home;
  const homeStat = await host.tryStat(home);
  if (homeStat?.type !== "directory") throw new SousError("no-home", `user ${name}: home ${home} does not exist, so ~/.ssh cannot be made (set manageHome: true, or create the directory first)`);
  const dir = posix.join(home, ".ssh");
  const dirStat = await host.tryLstat(dir);
  if (dirStat && dirStat.type !== "directory") throw new SousError("wrong-file-type", `${dir} exists and is not a directory`);
  if (!dirStat) await host.mkdir(dir, { mode: 0o700 });
  await host.chmod(dir, 0o700);
  await host.lchown(dir, entry.uid, entry.gid);
  await host.writeFileAtomic(posix.join(dir, "authorized_keys"), keysContent(keys), { mode: 0o600, uid: entry.uid, gid: entry.gid });
}
