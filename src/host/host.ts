import { randomBytes } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { SousError } from "../core/errors.js";

/**
 * The one interface through which every provider touches a machine. The local
 * implementation uses the file system and processes of this machine; the SSH one
 * (push mode) does the same over one connection. Providers never import `fs` or
 * `child_process` themselves.
 */

/** A command as a value: an argv array, or a shell script run by `sh -c`. */
export type Command = readonly string[] | { readonly shell: string };

/** Options of one command execution. */
export interface ExecOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** User name or uid to run as. */
  user?: string | number;
  /** Group name or gid to run as. */
  group?: string | number;
  /** Milliseconds after which the command is killed. */
  timeoutMs?: number;
  /** Written to the command's standard input. */
  input?: string | Buffer;
  /** Values that must never appear in messages about this command. */
  secrets?: readonly string[];
  /** Receives the command's output as it comes (SSH hosts; e.g. to stream a remote run's output). */
  onOutput?: (text: string, stream: "stdout" | "stderr") => void;
  /**
   * A short command that may run in the host's long-lived shell (SSH: no new session, login
   * shell and sh for it, a third of the cost of a small command). Such commands run one after
   * another on a host, so never for one that may take long; ignored with input, a timeout,
   * another user or streamed output.
   */
  resident?: boolean;
}

/** What a finished command left behind. */
export interface ExecResult {
  /** The command as a person would read it, secrets masked. */
  display: string;
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
}

/** The kind and metadata of a path, as `lstat` (or `stat`) sees it. */
export interface FileStat {
  type: "file" | "directory" | "symlink" | "other";
  /** Permission bits only (e.g. 0o644). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeMs: number;
  ino: number;
  dev: number;
  nlink: number;
}

/** Options of an atomic write. */
export interface WriteOptions {
  mode?: number;
  uid?: number;
  gid?: number;
}

/** A machine that providers converge. */
export interface Host {
  /** A short name for messages: "local" or "user@host". */
  readonly name: string;
  exec(command: Command, options?: ExecOptions): Promise<ExecResult>;
  /** The file's bytes, or undefined when it does not exist. */
  tryReadFile(path: string): Promise<Buffer | undefined>;
  /** Writes through a temporary file in the same directory and a rename, so readers never see half a file. */
  writeFileAtomic(path: string, data: Buffer | string, options?: WriteOptions): Promise<void>;
  /** `lstat`, or undefined when nothing is at the path. */
  tryLstat(path: string): Promise<FileStat | undefined>;
  /** `stat` (follows links), or undefined when nothing is at the path. */
  tryStat(path: string): Promise<FileStat | undefined>;
  readlink(path: string): Promise<string>;
  symlink(target: string, path: string): Promise<void>;
  hardlink(existing: string, path: string): Promise<void>;
  mkdir(path: string, options?: { recursive?: boolean; mode?: number }): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  /** Changes ownership of the path itself (a link, not its target); -1 leaves that id as it is. */
  lchown(path: string, uid: number, gid: number): Promise<void>;
  remove(path: string, options?: { recursive?: boolean }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
  /** Sets the modification and access times to now, creating nothing. */
  touch(path: string): Promise<void>;
  /** The uid of a user name, or undefined when no such user exists. */
  lookupUser(name: string): Promise<number | undefined>;
  /** The gid of a group name, or undefined when no such group exists. */
  lookupGroup(name: string): Promise<number | undefined>;
  /** The user name of a uid, or undefined. */
  userName(uid: number): Promise<string | undefined>;
  /** The group name of a gid, or undefined. */
  groupName(gid: number): Promise<string | undefined>;
}

/**
 * The temporary file an atomic write of `path` goes through: `.NAME.sous-` and 12 hex digits in
 * the same directory (a rename within one file system is atomic). A write killed midway leaves it
 * behind; `isAtomicTempOf` recognises it, so the next converge of that path can remove it.
 */
export function atomicTempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.sous-${randomBytes(6).toString("hex")}`);
}

/** Whether a directory entry is an atomic write's temporary file for the file named `name` in that directory. */
export function isAtomicTempOf(entry: string, name: string): boolean {
  const prefix = `.${name}.sous-`;
  return entry.length === prefix.length + 12 && entry.startsWith(prefix) && /^[0-9a-f]{12}$/.test(entry.slice(prefix.length));
}

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes one word for a POSIX shell. */
export function shellQuote(word: string): string {
  if (word !== "" && SAFE_WORD.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The command as a person would read it, with every secret replaced by `***`. */
export function displayCommand(command: Command, secrets: readonly string[] = []): string {
  let text = "shell" in command ? command.shell : command.map(shellQuote).join(" ");
  for (const secret of secrets) {
    if (secret) text = text.split(secret).join("***");
  }
  return text;
}

/** Whether a command result is a success (exit code 0, or one of `accepted`). */
export function succeeded(result: ExecResult, accepted: readonly number[] = [0]): boolean {
  return result.exitCode !== null && accepted.includes(result.exitCode);
}

/** A command that did not succeed; carries everything a person needs to see why. */
export class CommandFailedError extends SousError {
  constructor(
    readonly result: ExecResult,
    what = "command",
  ) {
    const status = result.timedOut
      ? `timed out after ${Math.round(result.durationMs)} ms`
      : result.signal
        ? `was killed by ${result.signal}`
        : `exited with code ${result.exitCode}`;
    super("command-failed", `${what} \`${result.display}\` ${status}`);
    this.name = "CommandFailedError";
  }
}

/** Runs a command and throws CommandFailedError unless it exits with an accepted code. */
export async function run(host: Host, command: Command, options: ExecOptions & { accept?: readonly number[] } = {}): Promise<ExecResult> {
  const result = await host.exec(command, options);
  if (!succeeded(result, options.accept)) throw new CommandFailedError(result);
  return result;
}

/** One line of /etc/passwd or /etc/group: its name, id and (for users) primary group. */
export interface Account {
  name: string;
  id: number;
  gid: number;
}

/** The accounts of a machine. */
export interface Accounts {
  users: Account[];
  groups: Account[];
}

/** Parses the text of /etc/passwd and /etc/group. */
export function parseAccounts(passwd: string | undefined, group: string | undefined): Accounts {
  const parse = (text: string | undefined): Account[] =>
    (text ?? "")
      .split("\n")
      .map((line) => line.split(":"))
      .filter((fields) => fields.length >= 3 && fields[0])
      .map((fields) => ({ name: fields[0]!, id: Number(fields[2]), gid: Number(fields[3]) }));
  return { users: parse(passwd), groups: parse(group) };
}

/**
 * Host's user and group questions, answered from the machine's own account files; each
 * implementation says how it reads them (fresh for every question: a user resource earlier in
 * the same run may have added an account).
 */
export abstract class AccountLookups {
  abstract readonly name: string;
  protected abstract loadAccounts(): Promise<Accounts>;

  async lookupUser(name: string): Promise<number | undefined> {
    return (await this.loadAccounts()).users.find((u) => u.name === name)?.id;
  }

  async lookupGroup(name: string): Promise<number | undefined> {
    return (await this.loadAccounts()).groups.find((g) => g.name === name)?.id;
  }

  async userName(uid: number): Promise<string | undefined> {
    return (await this.loadAccounts()).users.find((u) => u.id === uid)?.name;
  }

  async groupName(gid: number): Promise<string | undefined> {
    return (await this.loadAccounts()).groups.find((g) => g.id === gid)?.name;
  }

  /** The primary group of a uid, or undefined. */
  protected async primaryGroup(uid: number): Promise<number | undefined> {
    return (await this.loadAccounts()).users.find((u) => u.id === uid)?.gid;
  }

  /** A user or group id from a name or id; throws for an unknown name. */
  protected async resolveId(kind: "user" | "group", value: string | number): Promise<number> {
    if (typeof value === "number") return value;
    const id = kind === "user" ? await this.lookupUser(value) : await this.lookupGroup(value);
    if (id === undefined) throw new SousError(`unknown-${kind}`, `no ${kind} named ${JSON.stringify(value)} on ${this.name}`);
    return id;
  }
}
