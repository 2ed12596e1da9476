/**
 * Persistent SSH connections for `sous exec` and `sous deploy`, as OpenSSH's ControlPersist
 * keeps them for Ansible: the first command starts a small background process that holds its
 * connections open for a while (60 s after its last command by default), and the next ones hand
 * their work to it over a Unix socket in ~/.sous/ssh (a directory only the user can enter), so
 * that a command on 50 hosts costs 50 commands instead of 50 handshakes. `sous exec` hands over
 * one command for all its targets; a deploy opens a session, in which every call of the `Host`
 * interface on one of its hosts is forwarded (see persist-host.ts). Host keys are checked when a
 * connection is made, with the options of the command that made it; a connection is reused only
 * by a command with the same target and SSH options.
 */
import { spawn } from "node:child_process";
import { chmodSync, lstatSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import PQueue from "p-queue";
import { errorMessage, SousError } from "../core/errors.js";
import type { ExecResult } from "../host/host.js";
import { SshHost, type SshOptions, type SshTarget } from "../host/ssh.js";
import { DEFAULT_CONCURRENCY, DEFAULT_CONNECT_CONCURRENCY, type HostOutcome, type HostPhase, targetName } from "./fleet.js";

/** One `sous exec` handed to the background process. */
export interface PersistRequest {
  type: "exec";
  targets: SshTarget[];
  ssh: SshOptions;
  command: string;
  timeoutMs?: number;
  concurrency?: number;
  /** How long the process stays after this request, in seconds. */
  persistSeconds: number;
}

/** What the background process sends back, one JSON line each. */
type PersistMessage = { type: "phase"; host: string; phase: HostPhase; outcome?: HostOutcome<ExecResult> } | { type: "done" } | { type: "error"; message: string };

/** A session: its hosts connected (or reused), then `SessionCall`s on them until the client closes the socket. */
export interface SessionRequest {
  type: "session";
  targets: SshTarget[];
  ssh: SshOptions;
  persistSeconds: number;
}

/** The methods of `Host` a session forwards. */
export const HOST_METHODS = ["exec", "tryReadFile", "writeFileAtomic", "tryLstat", "tryStat", "readlink", "symlink", "hardlink", "mkdir", "chmod", "lchown", "remove", "rename", "readdir", "touch", "lookupUser", "lookupGroup", "userName", "groupName"] as const;

/** One call of a `Host` method on the session's host number `host`; `stream` asks for an exec's output as it comes. */
export interface SessionCall {
  type: "call";
  id: number;
  host: number;
  method: (typeof HOST_METHODS)[number];
  args: unknown[];
  stream?: boolean;
}

/** What the background process sends in a session, one JSON line each. */
export type SessionMessage =
  | { type: "host"; index: number; ok: true; name: string }
  | { type: "host"; index: number; ok: false; error: string; code?: string }
  | { type: "result"; id: number; value?: unknown }
  | { type: "failure"; id: number; error: { message: string; name?: string; code?: string } }
  | { type: "output"; id: number; text: string; stream: "stdout" | "stderr" };

/** A value made fit for a JSON line: Buffers as base64, functions left out. */
export function encodeValue(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return { $buffer: value.toString("base64") };
  if (Array.isArray(value)) return value.map(encodeValue);
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).filter(([, v]) => typeof v !== "function").map(([k, v]) => [k, encodeValue(v)]));
  return value;
}

/** The inverse of encodeValue. */
export function decodeValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decodeValue);
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (typeof record.$buffer === "string" && Object.keys(record).length === 1) return Buffer.from(record.$buffer, "base64");
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, decodeValue(v)]));
  }
  return value;
}

/** The socket of the background process (its PID in SOCKET.pid): in a directory of the user's only. */
export function persistSocket(home: string): string {
  const dir = join(home, "ssh");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = lstatSync(dir);
  if (!stat.isDirectory() || stat.uid !== process.getuid?.()) {
    throw new SousError("ssh-persist", `${dir} must be a directory owned by this user (it keeps sous exec's connections); remove it, or run with --persist 0`);
  }
  chmodSync(dir, 0o700);
  return join(dir, "persist.sock");
}

function connectTo(socketPath: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection(socketPath);
    socket.once("connect", () => resolve(socket));
    socket.once("error", () => resolve(undefined));
  });
}

/** Calls `onLine` with each newline-terminated line the socket receives. */
export function lines(socket: Socket, onLine: (line: string) => void): void {
  let buffered = "";
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    buffered += chunk;
    for (let at = buffered.indexOf("\n"); at >= 0; at = buffered.indexOf("\n")) {
      onLine(buffered.slice(0, at));
      buffered = buffered.slice(at + 1);
    }
  });
}

/** Connections the background process opens as soon as it runs, for the next command (handed over in SOUS_PERSIST_WARM). */
export interface WarmRequest {
  targets: SshTarget[];
  ssh: SshOptions;
}

/**
 * Starts the background process, detached (it outlives this command), and returns at once;
 * with `warm`, it connects to those targets first thing.
 */
export function startPersist(socketPath: string, persistSeconds: number, warm?: WarmRequest): void {
  // The command's own entry point (bin/sous.js beside src/ or dist/), whoever called this.
  const cli = fileURLToPath(new URL("../../bin/sous.js", import.meta.url));
  const env = warm ? { ...process.env, SOUS_PERSIST_WARM: JSON.stringify(warm) } : process.env;
  const child = spawn(process.execPath, [cli, "ssh-persist", socketPath, String(persistSeconds)], { detached: true, stdio: "ignore", env });
  child.unref();
}

/** A connection to the background process when one runs (started when none does, unless `start` is false); undefined when it could not be reached. */
export async function reachPersist(socketPath: string, persistSeconds: number, start = true): Promise<Socket | undefined> {
  let socket = await connectTo(socketPath);
  if (!socket && start) {
    startPersist(socketPath, persistSeconds);
    for (let waited = 0; !socket && waited < 3000; waited += 10) {
      await sleep(10);
      socket = await connectTo(socketPath);
    }
  }
  return socket;
}

/**
 * Runs an exec through the background process, starting it when none runs. Resolves with one
 * outcome per target, or undefined when no background process could be reached (the caller
 * then connects itself).
 */
export async function execThroughPersist(
  socketPath: string,
  request: PersistRequest,
  onPhase: (host: string, phase: HostPhase, outcome?: HostOutcome<ExecResult>) => void,
): Promise<HostOutcome<ExecResult>[] | undefined> {
  const connected = await reachPersist(socketPath, request.persistSeconds);
  if (!connected) return undefined;
  return new Promise((resolve) => {
    const outcomes = new Map<string, HostOutcome<ExecResult>>();
    let finished = false;
    const finish = (value: HostOutcome<ExecResult>[] | undefined): void => {
      if (finished) return;
      finished = true;
      connected.end();
      resolve(value);
    };
    lines(connected, (line) => {
      let message: PersistMessage;
      try {
        message = JSON.parse(line) as PersistMessage;
      } catch {
        // Not a process of this version of Sous: connect directly instead.
        return finish(undefined);
      }
      if (message.type === "phase") {
        if (message.outcome) outcomes.set(message.host, message.outcome);
        onPhase(message.host, message.phase, message.outcome);
      } else if (message.type === "done") {
        finish(request.targets.map((target) => outcomes.get(targetName(target))!));
      } else {
        finish(undefined);
      }
    });
    // The background process went away mid-request: hosts without an outcome are reported failed.
    connected.once("close", () =>
      finish(request.targets.map((target) => outcomes.get(targetName(target)) ?? { host: targetName(target), ok: false, error: "the background SSH process stopped", durationMs: 0 })),
    );
    connected.write(`${JSON.stringify(request)}\n`);
  });
}

/**
 * Serves a session: each target connected (or its kept connection reused) and reported, then
 * each call run on its host and answered; calls in flight when the client goes finish (a
 * switch is never cut in half by a client killed mid-deploy), their answers dropped.
 */
function serveSession(request: SessionRequest, hostFor: (target: SshTarget, ssh: SshOptions) => Promise<SshHost>, send: (message: SessionMessage) => void): (call: SessionCall) => void {
  const hosts = request.targets.map((target, index) => {
    const made = hostFor(target, request.ssh);
    made.then(
      (host) => send({ type: "host", index, ok: true, name: host.name }),
      (error: unknown) => {
        const code = (error as { code?: unknown }).code;
        send({ type: "host", index, ok: false, error: errorMessage(error), ...(typeof code === "string" ? { code } : {}) });
      },
    );
    return made;
  });
  return (call) => {
    void (async () => {
      try {
        const host = hosts[call.host];
        if (!host || !(HOST_METHODS as readonly string[]).includes(call.method)) throw new Error(`no such call: ${call.method} on host ${call.host}`);
        const args = (Array.isArray(call.args) ? call.args : []).map(decodeValue);
        if (call.method === "exec" && call.stream) args[1] = { ...(args[1] as object | undefined), onOutput: (text: string, stream: "stdout" | "stderr") => send({ type: "output", id: call.id, text, stream }) };
        const target = await host;
        const value: unknown = await (target[call.method] as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        send({ type: "result", id: call.id, ...(value === undefined ? {} : { value: encodeValue(value) }) });
      } catch (error) {
        const { name, code } = error as { name?: unknown; code?: unknown };
        send({ type: "failure", id: call.id, error: { message: errorMessage(error), ...(typeof name === "string" ? { name } : {}), ...(typeof code === "string" ? { code } : {}) } });
      }
    })();
  };
}

/** The background process: holds connections and runs the commands it is handed until idle. */
export async function runPersistProcess(socketPath: string, persistSeconds: number): Promise<void> {
  // A stale socket of a process that died is removed; a live one means another process serves.
  if (await connectTo(socketPath).then((socket) => (socket?.end(), socket !== undefined))) return;
  rmSync(socketPath, { force: true });
  const connections = new Map<string, Promise<SshHost>>();
  const connects = new PQueue({ concurrency: DEFAULT_CONNECT_CONCURRENCY });
  let busy = 0;
  let idleFor = persistSeconds * 1000;
  let idleTimer: NodeJS.Timeout | undefined;
  const server = createServer();
  const stop = (): void => {
    server.close();
    rmSync(socketPath, { force: true });
    rmSync(`${socketPath}.pid`, { force: true });
    for (const host of connections.values()) void host.then((h) => h.close()).catch(() => undefined);
    process.exit(0);
  };
  const armIdle = (): void => {
    if (idleTimer) clearTimeout(idleTimer);
    if (busy === 0) idleTimer = setTimeout(stop, idleFor);
  };
  const hostFor = (target: SshTarget, ssh: SshOptions): Promise<SshHost> => {
    const key = JSON.stringify([target, ssh]);
    const known = connections.get(key);
    const fresh = (): Promise<SshHost> => {
      const made = connects.add(() => SshHost.connect(target, ssh));
      connections.set(key, made);
      made.catch(() => connections.delete(key));
      return made;
    };
    if (!known) return fresh();
    return known.then((host) => (host.isOpen ? host : fresh()), fresh);
  };
  const took = (request: { persistSeconds: number }): void => {
    busy++;
    idleFor = Math.max(1, request.persistSeconds) * 1000;
    if (idleTimer) clearTimeout(idleTimer);
  };
  const done = (): void => {
    busy--;
    armIdle();
  };
  server.on("connection", (socket) => {
    const send = (message: PersistMessage | SessionMessage): void => void (socket.writable && socket.write(`${JSON.stringify(message)}\n`));
    let session: ((call: SessionCall) => void) | undefined;
    lines(socket, (line) => {
      let request: PersistRequest | SessionRequest | SessionCall;
      try {
        request = JSON.parse(line) as PersistRequest | SessionRequest | SessionCall;
        if (session) {
          if (request.type !== "call") throw new Error("not a call");
        } else if (!(request.type === "exec" || request.type === "session") || !Array.isArray(request.targets)) throw new Error("not an exec or session request");
      } catch (error) {
        socket.end(`${JSON.stringify({ type: "error", message: errorMessage(error) } satisfies PersistMessage)}\n`);
        return;
      }
      if (request.type === "call") return session!(request);
      took(request);
      if (request.type === "session") {
        session = serveSession(request, hostFor, send);
        socket.once("close", done);
        return;
      }
      const hosts = new PQueue({ concurrency: Math.max(1, request.concurrency ?? DEFAULT_CONCURRENCY) });
      const exec = request;
      void Promise.all(
        exec.targets.map((target) =>
          hosts.add(async () => {
            const name = targetName(target);
            const started = performance.now();
            let outcome: HostOutcome<ExecResult>;
            try {
              send({ type: "phase", host: name, phase: "connecting" });
              const host = await hostFor(target, exec.ssh);
              send({ type: "phase", host: name, phase: "working" });
              const value = await host.exec({ shell: exec.command }, exec.timeoutMs ? { timeoutMs: exec.timeoutMs } : {});
              outcome = { host: name, ok: true, value, durationMs: performance.now() - started };
            } catch (error) {
              const code = (error as { code?: unknown }).code;
              outcome = { host: name, ok: false, error: errorMessage(error), ...(typeof code === "string" ? { code } : {}), durationMs: performance.now() - started };
            }
            send({ type: "phase", host: name, phase: outcome.ok ? "done" : "failed", outcome });
          }),
        ),
      ).then(() => {
        send({ type: "done" });
        socket.end();
        done();
      });
    });
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => resolve());
  });
  chmodSync(socketPath, 0o600);
  // Who serves the socket, for `kill` (and for tests, which stop what they started).
  writeFileSync(`${socketPath}.pid`, `${process.pid}\n`, { mode: 0o600 });
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.once(signal, stop);
  armIdle();
  // The connections of the command that started this process, made now for the next one.
  const warm = process.env.SOUS_PERSIST_WARM;
  delete process.env.SOUS_PERSIST_WARM;
  if (warm) {
    try {
      const request = JSON.parse(warm) as WarmRequest;
      // With their resident shells: the next command's first step on each host does not wait for one.
      for (const target of request.targets) hostFor(target, request.ssh).then((host) => host.warm(), () => undefined).catch(() => undefined);
    } catch {
      // Nothing to warm: the next command connects through this process as usual.
    }
  }
}
