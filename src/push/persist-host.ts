/**
 * The client side of a session with the background SSH process (persist.ts): one `Host` per
 * target whose every call is forwarded over the Unix socket to the connection the background
 * process holds. A command that runs through it pays neither the SSH handshakes nor loading
 * ssh2; what it does on each host is unchanged (the same SshHost runs it).
 */
import type { Socket } from "node:net";
import { SousError } from "../core/errors.js";
import type { Command, ExecOptions, ExecResult, FileStat, Host, WriteOptions } from "../host/host.js";
import type { SshOptions, SshTarget } from "../host/ssh.js";
import { targetName } from "./fleet.js";
import { decodeValue, encodeValue, lines, reachPersist, type SessionCall, type SessionMessage } from "./persist.js";

/** The hosts of a session by target name, why the others could not be reached, and how to end it. */
export interface PersistSession {
  hosts: Map<string, Host>;
  unreachable: Map<string, { error: string; code?: string }>;
  /** Ends the session (the background process keeps the connections for the next command). */
  close(): void;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  onOutput?: ExecOptions["onOutput"];
}

/** An error of a forwarded call, rebuilt with its name and code (ENOENT, ssh-disconnected...). */
function rebuilt(error: { message: string; name?: string; code?: string }): Error {
  const out = error.code?.startsWith("ssh-") ? new SousError(error.code, error.message) : Object.assign(new Error(error.message), error.code ? { code: error.code } : {});
  if (error.name) out.name = error.name;
  return out;
}

/** A host of a session: `Host`'s calls, forwarded. */
class PersistedHost implements Host {
  constructor(
    readonly name: string,
    private readonly call: (method: SessionCall["method"], args: unknown[], onOutput?: ExecOptions["onOutput"]) => Promise<unknown>,
  ) {}

  exec(command: Command, options: ExecOptions = {}): Promise<ExecResult> {
    return this.call("exec", [command, options], options.onOutput) as Promise<ExecResult>;
  }
  tryReadFile(path: string): Promise<Buffer | undefined> {
    return this.call("tryReadFile", [path]) as Promise<Buffer | undefined>;
  }
  async writeFileAtomic(path: string, data: Buffer | string, options?: WriteOptions): Promise<void> {
    await this.call("writeFileAtomic", [path, data, options]);
  }
  tryLstat(path: string): Promise<FileStat | undefined> {
    return this.call("tryLstat", [path]) as Promise<FileStat | undefined>;
  }
  tryStat(path: string): Promise<FileStat | undefined> {
    return this.call("tryStat", [path]) as Promise<FileStat | undefined>;
  }
  readlink(path: string): Promise<string> {
    return this.call("readlink", [path]) as Promise<string>;
  }
  async symlink(target: string, path: string): Promise<void> {
    await this.call("symlink", [target, path]);
  }
  async hardlink(existing: string, path: string): Promise<void> {
    await this.call("hardlink", [existing, path]);
  }
  async mkdir(path: string, options?: { recursive?: boolean; mode?: number }): Promise<void> {
    await this.call("mkdir", [path, options]);
  }
  async chmod(path: string, mode: number): Promise<void> {
    await this.call("chmod", [path, mode]);
  }
  async lchown(path: string, uid: number, gid: number): Promise<void> {
    await this.call("lchown", [path, uid, gid]);
  }
  async remove(path: string, options?: { recursive?: boolean }): Promise<void> {
    await this.call("remove", [path, options]);
  }
  async rename(from: string, to: string): Promise<void> {
    await this.call("rename", [from, to]);
  }
  readdir(path: string): Promise<string[]> {
    return this.call("readdir", [path]) as Promise<string[]>;
  }
  async touch(path: string): Promise<void> {
    await this.call("touch", [path]);
  }
  lookupUser(name: string): Promise<number | undefined> {
    return this.call("lookupUser", [name]) as Promise<number | undefined>;
  }
  lookupGroup(name: string): Promise<number | undefined> {
    return this.call("lookupGroup", [name]) as Promise<number | undefined>;
  }
  userName(uid: number): Promise<string | undefined> {
    return this.call("userName", [uid]) as Promise<string | undefined>;
  }
  groupName(gid: number): Promise<string | undefined> {
    return this.call("groupName", [gid]) as Promise<string | undefined>;
  }
}

/**
 * Opens a session on `targets` through the background process (started when none runs, unless
 * `start` is false), and resolves once every target is connected or known unreachable;
 * undefined when no background process could be reached (the caller then connects itself).
 */
export async function openPersistSession(
  socketPath: string,
  request: { targets: readonly SshTarget[]; ssh: SshOptions; persistSeconds: number },
  onHost?: (host: string, ok: boolean) => void,
  start = true,
): Promise<PersistSession | undefined> {
  const socket: Socket | undefined = await reachPersist(socketPath, request.persistSeconds, start);
  if (!socket) return undefined;
  const names = request.targets.map(targetName);
  const hosts = new Map<string, Host>();
  const unreachable = new Map<string, { error: string; code?: string }>();
  const pending = new Map<number, Pending>();
  let nextId = 0;
  let gone: Error | undefined;
  let answered!: (ok: boolean) => void;
  const ready = new Promise<boolean>((resolve) => (answered = resolve));
  const call = (index: number) => (method: SessionCall["method"], args: unknown[], onOutput?: ExecOptions["onOutput"]): Promise<unknown> => {
    if (gone) return Promise.reject(gone);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject, ...(onOutput ? { onOutput } : {}) });
      const message: SessionCall = { type: "call", id, host: index, method, args: args.map(encodeValue), ...(onOutput ? { stream: true } : {}) };
      socket.write(`${JSON.stringify(message)}\n`);
    });
  };
  lines(socket, (line) => {
    let message: SessionMessage;
    try {
      message = JSON.parse(line) as SessionMessage;
    } catch {
      return;
    }
    if (message.type === "host") {
      const name = names[message.index]!;
      if (message.ok) hosts.set(name, new PersistedHost(message.name, call(message.index)));
      else unreachable.set(name, { error: message.error, ...(message.code ? { code: message.code } : {}) });
      onHost?.(name, message.ok);
      if (hosts.size + unreachable.size === names.length) answered(true);
    } else if (message.type === "output") {
      pending.get(message.id)?.onOutput?.(message.text, message.stream);
    } else if (message.type === "result" || message.type === "failure") {
      const waiting = pending.get(message.id);
      pending.delete(message.id);
      if (message.type === "result") waiting?.resolve(decodeValue(message.value));
      else waiting?.reject(rebuilt(message.error));
    } else {
      // An error line: not a process of this version of Sous.
      socket.destroy();
    }
  });
  socket.on("error", () => undefined);
  socket.once("close", () => {
    gone = new SousError("ssh-disconnected", "the background SSH process (sous ssh-persist) stopped");
    for (const waiting of pending.values()) waiting.reject(gone);
    pending.clear();
    answered(false);
  });
  socket.write(`${JSON.stringify({ type: "session", targets: request.targets, ssh: request.ssh, persistSeconds: request.persistSeconds })}\n`);
  if (names.length === 0) answered(true);
  if (!(await ready)) {
    if (hosts.size === 0 && unreachable.size === 0) return undefined;
    for (const name of names) if (!hosts.has(name) && !unreachable.has(name)) unreachable.set(name, { error: gone!.message, code: "ssh-disconnected" });
  }
  return { hosts, unreachable, close: () => socket.end() };
}
