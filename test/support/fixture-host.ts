/**
 * A Host made of fixtures, for the fast test tier: files and accounts in memory, and commands
 * answered from a script of expected argv prefixes. No root, no processes, no disk: a
 * provider's read → plan → apply runs against it in microseconds, and the test asserts the
 * changes planned and the commands run. A command nobody scripted fails the test, naming it.
 */
import { posix } from "node:path";
import { type Accounts, AccountLookups, type Command, displayCommand, type ExecOptions, type ExecResult, type FileStat, type Host, parseAccounts, type WriteOptions } from "../../src/host/host.js";

/** A scripted answer to every command whose argv starts with `argv`. */
export interface ScriptedCommand {
  /** The argv prefix to answer (for `{ shell }` commands: `["sh", "-c", script]`). */
  argv: readonly string[];
  stdout?: string;
  stderr?: string;
  exitCode?: number;
  /** What the command changes in the fixture (a package installed, a user added); `input` is what it read on stdin. */
  effect?: (host: FixtureHost, input: string | undefined) => void;
}

interface Node {
  type: FileStat["type"];
  content?: Buffer;
  target?: string;
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
}

function errno(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, syscall, path });
}

/** An in-memory machine with scripted commands. */
export class FixtureHost extends AccountLookups implements Host {
  readonly name = "fixture";
  /** Every command run, as argv (`{ shell }` commands as `["sh", "-c", script]`), in order. */
  readonly commands: string[][] = [];
  /** What each command of `commands` got on stdin (same index). */
  readonly inputs: Array<string | undefined> = [];
  private readonly nodes = new Map<string, Node>([["/", { type: "directory", mode: 0o755, uid: 0, gid: 0, mtimeMs: 0 }]]);
  private ino = 1;

  constructor(
    files: Record<string, string | { content: string; mode?: number; uid?: number; gid?: number }> = {},
    private readonly script: ScriptedCommand[] = [],
  ) {
    super();
    if (!files["/etc/passwd"]) files = { "/etc/passwd": "root:x:0:0:root:/root:/bin/bash\n", ...files };
    if (!files["/etc/group"]) files = { "/etc/group": "root:x:0:\n", ...files };
    for (const [path, spec] of Object.entries(files)) {
      const { content, ...meta } = typeof spec === "string" ? { content: spec } : spec;
      this.put(path, { type: "file", content: Buffer.from(content), mode: meta.mode ?? 0o644, uid: meta.uid ?? 0, gid: meta.gid ?? 0, mtimeMs: 0 });
    }
  }

  /** Adds scripted answers (checked before the earlier ones, so a later answer overrides). */
  answer(...commands: ScriptedCommand[]): this {
    this.script.unshift(...commands);
    return this;
  }

  /** A file's content as text, or undefined. */
  text(path: string): string | undefined {
    return this.nodes.get(path)?.content?.toString("utf8");
  }

  /** The node at a path (for assertions on modes and owners). */
  node(path: string): Readonly<Node> | undefined {
    return this.nodes.get(path);
  }

  private put(path: string, node: Node): void {
    const parent = posix.dirname(path);
    if (parent !== path && !this.nodes.has(parent)) this.put(parent, { type: "directory", mode: 0o755, uid: 0, gid: 0, mtimeMs: 0 });
    this.nodes.set(path, node);
  }

  private parentMustExist(path: string, syscall: string): void {
    const parent = this.nodes.get(posix.dirname(path));
    if (!parent) throw errno("ENOENT", syscall, path);
    if (parent.type !== "directory") throw errno("ENOTDIR", syscall, path);
  }

  protected async loadAccounts(): Promise<Accounts> {
    return parseAccounts(this.text("/etc/passwd"), this.text("/etc/group"));
  }

  async exec(command: Command, options: ExecOptions = {}): Promise<ExecResult> {
    const argv = "shell" in command ? ["sh", "-c", command.shell] : [...command];
    this.commands.push(argv);
    const input = options.input === undefined ? undefined : options.input.toString();
    this.inputs.push(input);
    const answer = this.script.find((scripted) => scripted.argv.length <= argv.length && scripted.argv.every((word, index) => word === argv[index]));
    if (!answer) throw new Error(`fixture host: no scripted answer for ${JSON.stringify(argv)}`);
    answer.effect?.(this, input);
    return { display: displayCommand(command, options.secrets), exitCode: answer.exitCode ?? 0, signal: null, stdout: answer.stdout ?? "", stderr: answer.stderr ?? "", durationMs: 0, timedOut: false };
  }

  async tryReadFile(path: string): Promise<Buffer | undefined> {
    const node = this.nodes.get(path);
    if (node?.type === "directory") throw errno("EISDIR", "read", path);
    return node?.type === "file" ? Buffer.from(node.content!) : undefined;
  }

  async writeFileAtomic(path: string, data: Buffer | string, options: WriteOptions = {}): Promise<void> {
    this.parentMustExist(path, "open");
    const old = this.nodes.get(path);
    this.nodes.set(path, { type: "file", content: Buffer.from(data), mode: options.mode ?? 0o644, uid: options.uid ?? old?.uid ?? 0, gid: options.gid ?? old?.gid ?? 0, mtimeMs: Date.now() });
  }

  private stat(path: string, node: Node): FileStat {
    return { type: node.type, mode: node.mode, uid: node.uid, gid: node.gid, size: node.content?.length ?? 0, mtimeMs: node.mtimeMs, ino: this.ino++, dev: 1, nlink: 1 };
  }

  async tryLstat(path: string): Promise<FileStat | undefined> {
    const node = this.nodes.get(path);
    return node && this.stat(path, node);
  }

  async tryStat(path: string): Promise<FileStat | undefined> {
    let node = this.nodes.get(path);
    for (let hops = 0; node?.type === "symlink" && hops < 40; hops++) node = this.nodes.get(posix.resolve(posix.dirname(path), node.target!));
    return node && this.stat(path, node);
  }

  async readlink(path: string): Promise<string> {
    const node = this.nodes.get(path);
    if (!node) throw errno("ENOENT", "readlink", path);
    if (node.type !== "symlink") throw errno("EINVAL", "readlink", path);
    return node.target!;
  }

  async symlink(target: string, path: string): Promise<void> {
    this.parentMustExist(path, "symlink");
    if (this.nodes.has(path)) throw errno("EEXIST", "symlink", path);
    this.nodes.set(path, { type: "symlink", target, mode: 0o777, uid: 0, gid: 0, mtimeMs: Date.now() });
  }

  async hardlink(existing: string, path: string): Promise<void> {
    const node = this.nodes.get(existing);
    if (!node) throw errno("ENOENT", "link", existing);
    this.nodes.set(path, node);
  }

  async mkdir(path: string, options: { recursive?: boolean; mode?: number } = {}): Promise<void> {
    if (this.nodes.has(path)) {
      if (options.recursive && this.nodes.get(path)!.type === "directory") return;
      throw errno("EEXIST", "mkdir", path);
    }
    if (!options.recursive) this.parentMustExist(path, "mkdir");
    this.put(path, { type: "directory", mode: options.mode ?? 0o755, uid: 0, gid: 0, mtimeMs: Date.now() });
  }

  async chmod(path: string, mode: number): Promise<void> {
    const node = this.nodes.get(path);
    if (!node) throw errno("ENOENT", "chmod", path);
    node.mode = mode;
  }

  async lchown(path: string, uid: number, gid: number): Promise<void> {
    const node = this.nodes.get(path);
    if (!node) throw errno("ENOENT", "lchown", path);
    if (uid !== -1) node.uid = uid;
    if (gid !== -1) node.gid = gid;
  }

  async remove(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    const children = [...this.nodes.keys()].filter((other) => other.startsWith(`${path}/`));
    if (children.length && !options.recursive) throw errno("ENOTEMPTY", "rmdir", path);
    for (const child of children) this.nodes.delete(child);
    this.nodes.delete(path);
  }

  async rename(from: string, to: string): Promise<void> {
    const node = this.nodes.get(from);
    if (!node) throw errno("ENOENT", "rename", from);
    this.nodes.delete(from);
    this.nodes.set(to, node);
  }

  async readdir(path: string): Promise<string[]> {
    if (this.nodes.get(path)?.type !== "directory") throw errno(this.nodes.has(path) ? "ENOTDIR" : "ENOENT", "scandir", path);
    const prefix = path === "/" ? "/" : `${path}/`;
    return [...this.nodes.keys()].filter((other) => other.startsWith(prefix) && other !== path && !other.slice(prefix.length).includes("/")).map((other) => other.slice(prefix.length)).sort();
  }

  async touch(path: string): Promise<void> {
    const node = this.nodes.get(path);
    if (!node) throw errno("ENOENT", "utime", path);
    node.mtimeMs = Date.now();
  }
}
