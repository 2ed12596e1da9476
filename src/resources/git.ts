/**
 * `git`: a checkout of a branch, tag or commit of a repository. Idempotent by revision:
 * the commit checked out is compared with the one the remote ref resolves to (`git
 * ls-remote`), so an up-to-date checkout costs one remote round trip and no fetch.
 */
import { createHash } from "node:crypto";
import { SousError } from "../core/errors.js";
import { type InputOf, type OutputOf, prop } from "../core/properties.js";
import { type Change, defineType } from "../core/resource.js";
import { type Command, CommandFailedError, type ExecOptions, type Host, run, shellQuote, succeeded } from "../host/host.js";

const properties = {
  /** Where the checkout lives (defaults to the resource name). */
  destination: prop.absolutePath({ role: "identity" }),
  /** The repository URL (https://, ssh://, user@host:path, file://). */
  repository: prop.string({ nonEmpty: true, required: true }),
  /** A branch, a tag, a full or abbreviated commit id, a `refs/...` name, or "HEAD" (the default: the remote's default branch). */
  revision: prop.string({ nonEmpty: true, default: "HEAD" }),
  /** The remote's name in the checkout (default "origin"). */
  remote: prop.matching("a remote name such as origin", (v) => /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(v), { role: "control", default: "origin" }),
  /** Shallow clone of this many commits. */
  depth: prop.integer({ role: "control", min: 1 }),
  /** Owner of the checkout; git runs as this user. */
  user: prop.principal("user"),
  /** Group of the checkout (default: the user's primary group). */
  group: prop.principal("group"),
  /** A private SSH key for the repository (sensitive: written to a 0600 temporary file for the command only). */
  deployKey: prop.string({ role: "control", sensitive: true, nonEmpty: true }),
  /** known_hosts lines for the repository's SSH server; with them, only those host keys are accepted. */
  knownHosts: prop.string({ role: "control", nonEmpty: true }),
  /** Extra environment variables for git. */
  environment: prop.stringRecord({ role: "control" }),
  /** Also check out the submodules, recursively, at the commits the checkout records (default false). */
  submodules: prop.boolean({ default: false }),
  /** Seconds before a git command is abandoned (default 600). */
  timeout: prop.seconds({ role: "control", default: 600 }),
};

type GitProperties = OutputOf<typeof properties>;

/** What a recipe writes for `git` (derived from its property specs). */
export type GitInput = InputOf<typeof properties>;

/** Actions of `git`. */
export type GitAction = (typeof gitType.actions)[number];

/** What a revision name turned out to be on the remote. */
interface Target {
  kind: "branch" | "tag" | "commit" | "head";
  /** The commit id; undefined for an abbreviated commit id not resolvable before a fetch. */
  commit?: string;
  /** The branch name, for a branch checkout. */
  branch?: string;
}

interface GitCurrent {
  exists: boolean;
  isCheckout: boolean;
  revision?: string;
  remoteUrl?: string;
  target?: Target;
  uid?: number;
  gid?: number;
  ownerName?: string;
  groupName?: string;
  wantUid?: number;
  wantGid?: number;
  /** Some submodule is not initialised or not at its recorded commit. */
  submodulesBehind?: boolean;
}

const FULL_COMMIT = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const ABBREVIATED_COMMIT = /^[0-9a-f]{4,63}$/;

/** Picks the commit a revision names from `git ls-remote` output (pure; exported for tests). */
export function resolveRemoteRevision(lsRemote: string, revision: string): Target | undefined {
  const refs = new Map<string, string>();
  const symrefs = new Map<string, string>();
  for (const line of lsRemote.split("\n")) {
    const [left, ref] = line.split("\t");
    if (!left || !ref) continue;
    // `--symref` adds `ref: refs/heads/main<TAB>HEAD`: which branch HEAD is.
    if (left.startsWith("ref: ")) symrefs.set(ref, left.slice("ref: ".length));
    else refs.set(ref, left);
  }
  // An annotated tag's own object is not a commit: the peeled `^{}` entry is.
  const peeled = (ref: string) => refs.get(`${ref}^{}`) ?? refs.get(ref);
  if (revision === "HEAD") {
    const commit = refs.get("HEAD");
    if (!commit) return undefined;
    // The remote's default branch is checked out as that branch, not as a detached HEAD.
    const branch = symrefs.get("HEAD");
    return branch?.startsWith("refs/heads/") ? { kind: "branch", commit, branch: branch.slice("refs/heads/".length) } : { kind: "head", commit };
  }
  if (revision.startsWith("refs/")) {
    const commit = peeled(revision);
    if (!commit) return undefined;
    return revision.startsWith("refs/heads/") ? { kind: "branch", commit, branch: revision.slice("refs/heads/".length) } : { kind: "tag", commit };
  }
  if (refs.has(`refs/heads/${revision}`)) return { kind: "branch", commit: refs.get(`refs/heads/${revision}`)!, branch: revision };
  const tag = peeled(`refs/tags/${revision}`);
  if (tag) return { kind: "tag", commit: tag };
  if (FULL_COMMIT.test(revision)) return { kind: "commit", commit: revision };
  if (ABBREVIATED_COMMIT.test(revision)) return { kind: "commit" };
  return undefined;
}

/** The home directory of a user on the host, from its passwd file. */
async function homeOf(host: Host, user: string | number): Promise<string | undefined> {
  const passwd = (await host.tryReadFile("/etc/passwd"))?.toString("utf8") ?? "";
  for (const line of passwd.split("\n")) {
    const fields = line.split(":");
    if (fields.length >= 6 && (fields[0] === user || Number(fields[2]) === user)) return fields[5];
  }
  return undefined;
}

/** The start of the names of a checkout's key folders in /tmp: `sous-git.` and a digest of its destination. */
export function keyFolderPrefix(destination: string): string {
  return `sous-git.${createHash("sha256").update(destination).digest("hex").slice(0, 12)}.`;
}

/**
 * Removes the key folders a run of this checkout left when it was killed while git ran (the
 * deploy key is in them): folders of this destination's prefix, owned by root or by the user
 * git runs as; anything else of such a name in /tmp is not ours and stays.
 */
async function removeKeyFolders(host: Host, prefix: string, uid: number | undefined): Promise<void> {
  const entries = await host.readdir("/tmp").catch(() => [] as string[]);
  for (const entry of entries) {
    if (!entry.startsWith(prefix) || !/^[A-Za-z0-9]{10}$/.test(entry.slice(prefix.length))) continue;
    const stat = await host.tryLstat(`/tmp/${entry}`);
    if (stat?.type === "directory" && (stat.uid === 0 || stat.uid === uid)) await host.remove(`/tmp/${entry}`, { recursive: true });
  }
}

/** Runs git commands for one resource: as its user, with its key, never prompting. */
class GitRunner {
  private constructor(
    private readonly host: Host,
    private readonly properties: Readonly<GitProperties>,
    private readonly options: ExecOptions,
    private readonly tempDir: string | undefined,
  ) {}

  /** Prepares the environment (and the key files, removed by `close`). */
  static async open(host: Host, properties: Readonly<GitProperties>): Promise<GitRunner> {
    const env: Record<string, string> = { GIT_TERMINAL_PROMPT: "0", LC_ALL: "C", ...properties.environment };
    if (properties.user !== undefined) {
      const home = await homeOf(host, properties.user);
      if (home === undefined) throw new SousError("unknown-user", `git[${properties.destination}]: no user ${JSON.stringify(properties.user)} on ${host.name}`);
      env.HOME = home;
    }
    const options: ExecOptions = { env, user: properties.user, group: properties.group, timeoutMs: properties.timeout * 1000, secrets: properties.deployKey ? [properties.deployKey] : [] };
    if (properties.deployKey === undefined && properties.knownHosts === undefined) return new GitRunner(host, properties, options, undefined);

    const uid = typeof properties.user === "string" ? await host.lookupUser(properties.user) : properties.user;
    const prefix = keyFolderPrefix(properties.destination);
    await removeKeyFolders(host, prefix, uid);
    const tempDir = (await run(host, ["mktemp", "-d", `/tmp/${prefix}XXXXXXXXXX`])).stdout.trim();
    try {
      const ownership = uid === undefined ? {} : { uid };
      if (uid !== undefined) await host.lchown(tempDir, uid, -1);
      const ssh = ["ssh", "-o", "BatchMode=yes"];
      if (properties.deployKey !== undefined) {
        const key = properties.deployKey.endsWith("\n") ? properties.deployKey : `${properties.deployKey}\n`;
        await host.writeFileAtomic(`${tempDir}/key`, key, { mode: 0o600, ...ownership });
        ssh.push("-i", `${tempDir}/key`, "-o", "IdentitiesOnly=yes");
      }
      if (properties.knownHosts !== undefined) {
        const lines = properties.knownHosts.endsWith("\n") ? properties.knownHosts : `${properties.knownHosts}\n`;
        await host.writeFileAtomic(`${tempDir}/known_hosts`, lines, { mode: 0o644, ...ownership });
        ssh.push("-o", `UserKnownHostsFile=${tempDir}/known_hosts`, "-o", "StrictHostKeyChecking=yes");
      }
      env.GIT_SSH_COMMAND = ssh.map(shellQuote).join(" ");
      return new GitRunner(host, properties, options, tempDir);
    } catch (error) {
      await host.remove(tempDir, { recursive: true });
      throw error;
    }
  }

  async close(): Promise<void> {
    if (this.tempDir) await this.host.remove(this.tempDir, { recursive: true });
  }

  /** `git -C destination ...`, trusting the destination whoever owns it right now. */
  inCheckout(args: readonly string[]): Command {
    const destination = this.properties.destination;
    return ["git", "-c", `safe.directory=${destination}`, "-C", destination, ...args];
  }

  exec(command: Command) {
    return this.host.exec(command, this.options);
  }

  async run(command: Command): Promise<string> {
    const result = await this.exec(command);
    if (!succeeded(result)) throw new CommandFailedError(result);
    return result.stdout;
  }

  async tryRun(command: Command): Promise<string | undefined> {
    const result = await this.exec(command);
    return succeeded(result) ? result.stdout.trim() : undefined;
  }

  async resolve(): Promise<Target> {
    const { repository, revision } = this.properties;
    if (FULL_COMMIT.test(revision)) return { kind: "commit", commit: revision };
    // Patterns match ref names by their tail (resolveRemoteRevision picks the exact one); an
    // annotated tag's peeled entry only matches when asked for by its `^{}` name.
    const listing = await this.run(["git", "ls-remote", "--symref", "--", repository, revision, `${revision}^{}`]);
    const target = resolveRemoteRevision(listing, revision);
    if (!target) throw new SousError("unknown-revision", `git[${this.properties.destination}]: ${repository} has no branch or tag named ${JSON.stringify(revision)}`);
    return target;
  }
}

async function withRunner<T>(host: Host, properties: Readonly<GitProperties>, body: (git: GitRunner) => Promise<T>): Promise<T> {
  const git = await GitRunner.open(host, properties);
  try {
    return await body(git);
  } finally {
    await git.close();
  }
}

function short(commit: string | undefined): string | undefined {
  return commit === undefined ? undefined : commit.slice(0, 12);
}

/** Whether the checked-out commit is the one the target names. */
function atTarget(current: GitCurrent): boolean {
  const target = current.target;
  if (!target || current.revision === undefined) return false;
  return target.commit !== undefined ? current.revision === target.commit : false;
}

/** The `git` resource type. */
export const gitType = defineType({
  name: "git",
  description: "A git checkout of a branch, tag or commit, owned by a user, optionally through a deploy key.",
  actions: ["sync", "checkout", "nothing"],
  defaultAction: "sync",
  identity: "destination",
  properties,
  provider: {
    async read({ host }, properties, action): Promise<GitCurrent> {
      const stat = await host.tryStat(properties.destination);
      if (stat && stat.type !== "directory") throw new SousError("wrong-file-type", `${properties.destination} exists and is not a directory`);
      const isCheckout = stat !== undefined && (await host.tryStat(`${properties.destination}/.git`)) !== undefined;
      const [wantUid, wantGid, ownerName, groupName] = await Promise.all([
        typeof properties.user === "string" ? host.lookupUser(properties.user) : properties.user,
        typeof properties.group === "string" ? host.lookupGroup(properties.group) : properties.group,
        stat && properties.user !== undefined ? host.userName(stat.uid) : undefined,
        stat && properties.group !== undefined ? host.groupName(stat.gid) : undefined,
      ]);
      const current: GitCurrent = { exists: stat !== undefined, isCheckout, uid: stat?.uid, gid: stat?.gid, ownerName, groupName, wantUid, wantGid };
      if (action === "nothing") return current;
      // Asking the remote needs the deploy key: its private temp dir exists only while git runs.
      return withRunner(host, properties, async (git) => {
        if (isCheckout) {
          current.revision = await git.tryRun(git.inCheckout(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]));
          current.remoteUrl = await git.tryRun(git.inCheckout(["config", "--get", `remote.${properties.remote}.url`]));
          if (properties.submodules) {
            // `-` not initialised, `+` at another commit, `U` conflicted: each needs an update.
            const status = (await git.tryRun(git.inCheckout(["submodule", "status", "--recursive"]))) ?? "-";
            current.submodulesBehind = status.split("\n").some((line) => /^[-+U]/.test(line));
          }
        }
        if (isCheckout && action === "checkout") return current;
        current.target = await git.resolve();
        // An abbreviated commit id is resolved locally when the checkout already has it.
        if (current.target.commit === undefined && isCheckout) {
          const full = await git.tryRun(git.inCheckout(["rev-parse", "--verify", "--quiet", `${properties.revision}^{commit}`]));
          if (full) current.target = { kind: "commit", commit: full };
        }
        return current;
      });
    },
    plan(current, properties, action) {
      const changes: Change[] = [];
      if (!current.isCheckout) {
        changes.push({ property: "repository", from: undefined, to: properties.repository });
        changes.push({ property: "revision", from: undefined, to: short(current.target?.commit) ?? properties.revision });
      } else if (action === "sync") {
        if (current.remoteUrl !== properties.repository) changes.push({ property: "repository", from: current.remoteUrl, to: properties.repository });
        if (!atTarget(current)) changes.push({ property: "revision", from: short(current.revision), to: short(current.target?.commit) ?? properties.revision });
      }
      if (properties.submodules && (!current.isCheckout || current.submodulesBehind || changes.some((c) => c.property === "revision"))) {
        changes.push({ property: "submodules", from: current.submodulesBehind ? "out of date" : undefined, to: "checked out" });
      }
      const exists = current.exists;
      if (properties.user !== undefined && exists && (current.wantUid === undefined || current.uid !== current.wantUid)) {
        changes.push({ property: "user", from: current.ownerName ?? current.uid, to: properties.user });
      }
      if (properties.group !== undefined && exists && (current.wantGid === undefined || current.gid !== current.wantGid)) {
        changes.push({ property: "group", from: current.groupName ?? current.gid, to: properties.group });
      }
      return { changes };
    },
    async apply({ host }, plan, properties, _action, current) {
      const changed = new Set(plan.changes.map((c) => c.property));
      const { destination } = properties;
      if ((changed.has("user") || changed.has("group")) && current.exists) {
        // Fix ownership first: git then runs as the user it will run as from now on.
        const owner = `${properties.user ?? ""}${properties.group !== undefined ? `:${properties.group}` : properties.user !== undefined ? ":" : ""}`;
        await run(host, ["chown", "-R", "--", owner, destination]);
      }
      if (!changed.has("repository") && !changed.has("revision") && !changed.has("submodules")) return;
      await withRunner(host, properties, async (git) => {
        if (changed.has("repository") || changed.has("revision")) await checkOut(git, host, properties, current, changed);
        if (properties.submodules) {
          await git.run(git.inCheckout(["submodule", "sync", "--recursive"]));
          await git.run(git.inCheckout(["submodule", "update", "--init", "--recursive", "--force"]));
        }
      });
    },
  },
});

/** Clones when needed, fetches, and checks out the target commit (a branch as that branch). */
async function checkOut(git: GitRunner, host: Host, properties: Readonly<GitProperties>, current: GitCurrent, changed: Set<string>): Promise<void> {
  const { destination, remote } = properties;
  if (!current.isCheckout) {
    if (current.exists && (await host.readdir(destination)).length > 0) {
      throw new SousError("destination-not-empty", `git[${destination}]: ${destination} exists, is not empty and is not a git checkout`);
    }
    const clone = ["git", "clone", "--origin", remote, "--no-checkout"];
    if (properties.depth !== undefined) clone.push("--depth", String(properties.depth), "--no-single-branch");
    await git.run([...clone, "--", properties.repository, destination]);
  } else {
    if (changed.has("repository")) {
      const setUrl = current.remoteUrl === undefined ? ["remote", "add", remote, properties.repository] : ["remote", "set-url", remote, properties.repository];
      await git.run(git.inCheckout(setUrl));
    }
    const fetch = ["fetch", "--tags", "--force", "--prune"];
    if (properties.depth !== undefined) fetch.push("--depth", String(properties.depth));
    await git.run(git.inCheckout([...fetch, remote]));
  }
  const target = current.target ?? (await git.resolve());
  let commit = target.commit;
  const has = async (rev: string) => (await git.tryRun(git.inCheckout(["rev-parse", "--verify", "--quiet", `${rev}^{commit}`]))) ?? undefined;
  if (commit === undefined || (await has(commit)) === undefined) {
    // A commit no ref points to (or beyond a shallow history): ask for it by id.
    const fetch = ["fetch", remote];
    if (properties.depth !== undefined) fetch.push("--depth", String(properties.depth));
    await git.exec(git.inCheckout([...fetch, commit ?? properties.revision]));
    commit = await has(commit ?? properties.revision);
    if (commit === undefined) throw new SousError("unknown-revision", `git[${destination}]: ${properties.repository} has no commit ${JSON.stringify(properties.revision)}`);
  }
  const checkout = target.kind === "branch" ? ["checkout", "--force", "-B", target.branch!, commit] : ["checkout", "--force", "--detach", commit];
  await git.run(git.inCheckout(checkout));
  if (target.kind === "branch") await git.exec(git.inCheckout(["branch", "--set-upstream-to", `${remote}/${target.branch}`]));
}
