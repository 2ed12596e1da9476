/**
 * A directory holding a whole system (an image root, a mounted disk, a disposable overlay of
 * this machine) as a Host: every path is taken inside the root, symbolic links included, and
 * commands run through `chroot ROOT ...`. File work and process handling are LocalHost's:
 * this class only maps paths and wraps commands.
 *
 * The root is trusted as much as the run itself is (the converge runs as root anyway): paths are
 * resolved inside the root without guarding against a link swapped between resolution and use.
 */
import { join, posix } from "node:path";
import { SousError } from "../core/errors.js";
import { type Command, displayCommand, type ExecOptions, type ExecResult, type FileStat, type Host, type WriteOptions } from "./host.js";
import { LocalHost } from "./local.js";

const MAX_LINKS = 40;

function loopError(path: string): Error {
  return Object.assign(new Error(`ELOOP: too many levels of symbolic links, '${path}'`), { code: "ELOOP" });
}

/** A system root directory on this machine, converged as if it were the running system. */
export class ChrootHost implements Host {
  readonly name: string;
  /** Does the actual file and process work, on paths already mapped into the root. */
  private readonly outside = new LocalHost();

  /** `root` is the absolute path of the root directory; `chrootCommand` runs `chroot` (default `chroot` on PATH). */
  constructor(
    readonly root: string,
    private readonly chrootCommand = "chroot",
  ) {
    if (!root.startsWith("/")) throw new SousError("bad-root", `a chroot root must be an absolute path, got ${JSON.stringify(root)}`);
    this.root = posix.normalize(root).replace(/(.)\/$/, "$1");
    this.name = `chroot:${this.root}`;
  }

  /**
   * The path on this machine that `path` (absolute, as seen inside the root) names, resolving
   * symbolic links as the kernel would with the root as `/`. `followLast` says whether a link
   * in the last component is followed too.
   */
  async resolve(path: string, followLast = true): Promise<string> {
    if (!path.startsWith("/")) throw new SousError("bad-path", `${this.name}: paths must be absolute, got ${JSON.stringify(path)}`);
    const pending = path.split("/").filter((part) => part !== "" && part !== ".");
    const resolved: string[] = [];
    let links = 0;
    while (pending.length > 0) {
      const part = pending.shift()!;
      if (part === "..") {
        resolved.pop();
        continue;
      }
      const candidate = [...resolved, part];
      const last = pending.length === 0;
      if (last && !followLast) {
        resolved.push(part);
        break;
      }
      const stat = await this.outside.tryLstat(join(this.root, ...candidate));
      if (stat?.type !== "symlink") {
        resolved.push(part);
        continue;
      }
      if (++links > MAX_LINKS) throw loopError(path);
      const target = await this.outside.readlink(join(this.root, ...candidate));
      const targetParts = target.split("/").filter((p) => p !== "" && p !== ".");
      if (target.startsWith("/")) resolved.length = 0;
      pending.unshift(...targetParts);
    }
    return resolved.length === 0 ? this.root : join(this.root, ...resolved);
  }

  /** The path inside the root with every link resolved except in the last component. */
  private parentResolved(path: string): Promise<string> {
    return this.resolve(path, false);
  }

  async exec(command: Command, options: ExecOptions = {}): Promise<ExecResult> {
    const argv: string[] = [this.chrootCommand];
    if (options.user !== undefined || options.group !== undefined) {
      const uid = options.user === undefined ? undefined : await this.resolveId("user", options.user);
      const gid = options.group === undefined ? (uid !== undefined ? await this.primaryGroup(uid) : undefined) : await this.resolveId("group", options.group);
      // Running with root's group because the uid has no passwd entry would be a quiet privilege leak.
      if (uid !== undefined && gid === undefined) throw new SousError("unknown-user", `uid ${uid} has no entry in ${this.root}/etc/passwd: give a group to run as`);
      // chroot then sets the user's supplementary groups from the root's /etc/group, as LocalHost
      // does with setpriv --init-groups.
      argv.push(`--userspec=${uid ?? ""}:${gid ?? ""}`);
    }
    argv.push("--", this.root);
    const inner: string[] = "shell" in command ? ["/bin/sh", "-c", command.shell] : [...command];
    if (options.cwd !== undefined) {
      // chroot always starts in the new root's "/": change directory inside it, the
      // directory and the command passed as arguments, never spliced into the script.
      argv.push("/bin/sh", "-c", 'cd -- "$1" || exit 127; shift; exec "$@"', "sh", options.cwd, ...inner);
    } else argv.push(...inner);
    const result = await this.outside.exec(argv, { env: options.env, timeoutMs: options.timeoutMs, input: options.input, secrets: options.secrets });
    return { ...result, display: displayCommand(command, options.secrets) };
  }

  async tryReadFile(path: string): Promise<Buffer | undefined> {
    return this.outside.tryReadFile(await this.resolve(path));
  }

  async writeFileAtomic(path: string, data: Buffer | string, options?: WriteOptions): Promise<void> {
    return this.outside.writeFileAtomic(await this.parentResolved(path), data, options);
  }

  async tryLstat(path: string): Promise<FileStat | undefined> {
    return this.outside.tryLstat(await this.parentResolved(path));
  }

  async tryStat(path: string): Promise<FileStat | undefined> {
    return this.outside.tryStat(await this.resolve(path));
  }

  async readlink(path: string): Promise<string> {
    return this.outside.readlink(await this.parentResolved(path));
  }

  async symlink(target: string, path: string): Promise<void> {
    // The target is stored as written: inside the root an absolute target means the root's path.
    return this.outside.symlink(target, await this.parentResolved(path));
  }

  async hardlink(existing: string, path: string): Promise<void> {
    return this.outside.hardlink(await this.parentResolved(existing), await this.parentResolved(path));
  }

  async mkdir(path: string, options: { recursive?: boolean; mode?: number } = {}): Promise<void> {
    if (!options.recursive) return this.outside.mkdir(await this.parentResolved(path), options);
    // One level at a time, so that a link met on the way is followed inside the root.
    const parts = path.split("/").filter((p) => p !== "" && p !== ".");
    for (let depth = 1; depth <= parts.length; depth++) {
      const prefix = `/${parts.slice(0, depth).join("/")}`;
      const stat = await this.tryStat(prefix);
      if (stat?.type === "directory") continue;
      if (stat) throw Object.assign(new Error(`EEXIST: file already exists, mkdir '${prefix}'`), { code: "EEXIST" });
      await this.outside.mkdir(await this.parentResolved(prefix), { mode: options.mode });
    }
  }

  async chmod(path: string, mode: number): Promise<void> {
    return this.outside.chmod(await this.resolve(path), mode);
  }

  async lchown(path: string, uid: number, gid: number): Promise<void> {
    return this.outside.lchown(await this.parentResolved(path), uid, gid);
  }

  async remove(path: string, options?: { recursive?: boolean }): Promise<void> {
    const mapped = await this.parentResolved(path);
    if (mapped === this.root) throw new SousError("bad-path", `${this.name}: refusing to remove the root itself`);
    return this.outside.remove(mapped, options);
  }

  async rename(from: string, to: string): Promise<void> {
    return this.outside.rename(await this.parentResolved(from), await this.parentResolved(to));
  }

  async readdir(path: string): Promise<string[]> {
    return this.outside.readdir(await this.resolve(path));
  }

  async touch(path: string): Promise<void> {
    return this.outside.touch(await this.resolve(path));
  }

  async lookupUser(name: string): Promise<number | undefined> {
    return (await this.accounts()).lookupUser(name);
  }

  async lookupGroup(name: string): Promise<number | undefined> {
    return (await this.accounts()).lookupGroup(name);
  }

  async userName(uid: number): Promise<string | undefined> {
    return (await this.accounts()).userName(uid);
  }

  async groupName(gid: number): Promise<string | undefined> {
    return (await this.accounts()).groupName(gid);
  }

  // LocalHost's account parsing, pointed at the root's /etc (itself resolved inside the root).
  private async accounts(): Promise<LocalHost> {
    return new LocalHost(await this.resolve("/etc"));
  }

  private async resolveId(kind: "user" | "group", value: string | number): Promise<number> {
    if (typeof value === "number") return value;
    const id = kind === "user" ? await this.lookupUser(value) : await this.lookupGroup(value);
    if (id === undefined) throw new SousError(`unknown-${kind}`, `no ${kind} named ${JSON.stringify(value)} on ${this.name}`);
    return id;
  }

  private async primaryGroup(uid: number): Promise<number | undefined> {
    const passwd = (await this.tryReadFile("/etc/passwd"))?.toString("utf8") ?? "";
    for (const line of passwd.split("\n")) {
      const fields = line.split(":");
      if (fields.length >= 4 && Number(fields[2]) === uid) return Number(fields[3]);
    }
    return undefined;
  }
}
