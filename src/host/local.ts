/** The local machine as a Host: Node's file system and process APIs. */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { join } from "node:path";
import { type Accounts, AccountLookups, atomicTempPath, type Command, displayCommand, type ExecOptions, type ExecResult, type FileStat, type Host, parseAccounts, type WriteOptions } from "./host.js";

const OUTPUT_CAP = 4 * 1024 * 1024;

let setprivPresent: boolean | undefined;

function hasSetpriv(): boolean {
  setprivPresent ??= ["/usr/bin/setpriv", "/bin/setpriv"].some((path) => fs.existsSync(path));
  return setprivPresent;
}

function toStat(s: import("node:fs").Stats): FileStat {
  return {
    type: s.isFile() ? "file" : s.isDirectory() ? "directory" : s.isSymbolicLink() ? "symlink" : "other",
    mode: s.mode & 0o7777,
    uid: s.uid,
    gid: s.gid,
    size: s.size,
    mtimeMs: s.mtimeMs,
    ino: s.ino,
    dev: s.dev,
    nlink: s.nlink,
  };
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/**
 * This machine. File operations use Node's synchronous calls on purpose: a converge works
 * through resources one at a time, and a synchronous lstat or read costs microseconds where
 * the promise form costs a thread-pool round trip each.
 */
export class LocalHost extends AccountLookups implements Host {
  readonly name = "local";
  /** `root` lets tests point user and group lookups at a disposable /etc. */
  constructor(private readonly etcRoot = "/etc") {
    super();
  }

  async exec(command: Command, options: ExecOptions = {}): Promise<ExecResult> {
    const display = displayCommand(command, options.secrets);
    const [file, args] = "shell" in command ? ["/bin/sh", ["-c", command.shell]] : [command[0]!, command.slice(1)];
    const uid = options.user === undefined ? undefined : await this.resolveId("user", options.user);
    const gid = options.group === undefined ? (uid !== undefined ? await this.primaryGroup(uid) : undefined) : await this.resolveId("group", options.group);
    // As root, switch users through setpriv so the user's supplementary groups apply too
    // (Node's uid/gid options set only the primary group).
    const switchWithSetpriv = uid !== undefined && process.getuid?.() === 0 && hasSetpriv();
    const [program, argv] = switchWithSetpriv ? ["setpriv", [`--reuid=${uid}`, `--regid=${gid ?? uid}`, "--init-groups", "--", file, ...args]] : [file, args];
    const started = performance.now();
    return new Promise<ExecResult>((resolve) => {
      // A process group of its own, so a timeout kills the command's children too (a shell's
      // children would otherwise keep the pipes open long after the shell was killed).
      const child = spawn(program, argv, {
        cwd: options.cwd,
        // The C locale, as on every host: messages providers recognise are English only there.
        env: { ...process.env, LC_ALL: "C", ...options.env },
        uid: switchWithSetpriv ? undefined : uid,
        gid: switchWithSetpriv ? undefined : gid,
        stdio: ["pipe", "pipe", "pipe"],
        detached: true,
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let outSize = 0;
      let errSize = 0;
      let timedOut = false;
      let spawnError: Error | undefined;
      child.stdout.on("data", (chunk: Buffer) => {
        if (outSize < OUTPUT_CAP) out.push(chunk);
        outSize += chunk.length;
      });
      child.stderr.on("data", (chunk: Buffer) => {
        if (errSize < OUTPUT_CAP) err.push(chunk);
        errSize += chunk.length;
      });
      const timer = options.timeoutMs
        ? setTimeout(() => {
            timedOut = true;
            try {
              if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
            } catch {
              child.kill("SIGKILL");
            }
          }, options.timeoutMs)
        : undefined;
      child.on("error", (error) => {
        spawnError = error;
      });
      child.stdin.on("error", () => {});
      if (options.input !== undefined) child.stdin.end(options.input);
      else child.stdin.end();
      child.on("close", (code, signal) => {
        if (timer) clearTimeout(timer);
        let stderr = Buffer.concat(err).toString("utf8");
        if (spawnError) stderr += `${stderr ? "\n" : ""}${spawnError.message}`;
        resolve({
          display,
          exitCode: spawnError ? 127 : code,
          signal: spawnError ? null : signal,
          stdout: Buffer.concat(out).toString("utf8"),
          stderr,
          durationMs: performance.now() - started,
          timedOut,
        });
      });
    });
  }

  async tryReadFile(path: string): Promise<Buffer | undefined> {
    try {
      return fs.readFileSync(path);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async writeFileAtomic(path: string, data: Buffer | string, options: WriteOptions = {}): Promise<void> {
    const temp = atomicTempPath(path);
    const fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, options.mode ?? 0o644);
    try {
      try {
        fs.writeFileSync(fd, data);
        // chown first: it clears setuid/setgid bits that the mode may ask for.
        if (options.uid !== undefined || options.gid !== undefined) fs.fchownSync(fd, options.uid ?? -1, options.gid ?? -1);
        if (options.mode !== undefined) fs.fchmodSync(fd, options.mode);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(temp, path);
    } catch (error) {
      fs.rmSync(temp, { force: true });
      throw error;
    }
  }

  async tryLstat(path: string): Promise<FileStat | undefined> {
    try {
      return toStat(fs.lstatSync(path));
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async tryStat(path: string): Promise<FileStat | undefined> {
    try {
      return toStat(fs.statSync(path));
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async readlink(path: string): Promise<string> {
    return fs.readlinkSync(path);
  }

  async symlink(target: string, path: string): Promise<void> {
    fs.symlinkSync(target, path);
  }

  async hardlink(existing: string, path: string): Promise<void> {
    fs.linkSync(existing, path);
  }

  async mkdir(path: string, options: { recursive?: boolean; mode?: number } = {}): Promise<void> {
    fs.mkdirSync(path, { recursive: options.recursive ?? false, mode: options.mode ?? 0o755 });
  }

  async chmod(path: string, mode: number): Promise<void> {
    fs.chmodSync(path, mode);
  }

  async lchown(path: string, uid: number, gid: number): Promise<void> {
    fs.lchownSync(path, uid, gid);
  }

  async remove(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    const stat = await this.tryLstat(path);
    if (!stat) return;
    if (stat.type === "directory") {
      if (options.recursive) fs.rmSync(path, { recursive: true, force: true });
      else fs.rmdirSync(path);
    } else fs.unlinkSync(path);
  }

  async rename(from: string, to: string): Promise<void> {
    fs.renameSync(from, to);
  }

  async readdir(path: string): Promise<string[]> {
    return fs.readdirSync(path);
  }

  async touch(path: string): Promise<void> {
    const now = new Date();
    fs.utimesSync(path, now, now);
  }

  // Both files in parallel, read fresh for every question.
  protected async loadAccounts(): Promise<Accounts> {
    const [passwd, group] = await Promise.all([this.tryReadFile(join(this.etcRoot, "passwd")), this.tryReadFile(join(this.etcRoot, "group"))]);
    return parseAccounts(passwd?.toString("utf8"), group?.toString("utf8"));
  }
}
