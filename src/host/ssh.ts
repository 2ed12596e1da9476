/**
 * A machine reached over SSH as a Host, so every provider runs unchanged in push mode.
 *
 * One ssh2 connection per host, kept for the whole run; every Host method is one round trip.
 * File operations run in one resident `sh` per host (no new SSH session each; small writes
 * travel inside the script), user commands and large writes get a channel of their own. A
 * target needs a POSIX shell and coreutils, no agent. With `sudo`, every command and file
 * operation runs through `sudo -n`, so a non-root login manages the machine as root would.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
// Types only: ssh2 takes 0.1-0.2 s to load, paid only by a process that opens a connection
// (not by one that parses targets, nor by a CLI whose connections a background process holds).
import type { Client, ClientChannel, ConnectConfig } from "ssh2";
import { SousError } from "../core/errors.js";
import { checkKnownHost, type KnownHostEntry, knownHostName, knownKeyTypes, readKnownHosts } from "./known-hosts.js";
import { type Accounts, AccountLookups, atomicTempPath, type Command, displayCommand, type ExecOptions, type ExecResult, type FileStat, type Host, parseAccounts, shellQuote, type WriteOptions } from "./host.js";

const OUTPUT_CAP = 4 * 1024 * 1024;
// sshd's default MaxSessions is 10 channels per connection; stay under it.
const MAX_CHANNELS = 8;

// Files up to this size are written by the resident shell's printf instead of a channel of their own.
const INLINE_WRITE_LIMIT = 256 * 1024;

/** Bytes as a printf format string inside single quotes: every byte printf or the quotes would alter, as a 3-digit octal escape. */
function printfFormat(bytes: Buffer): string {
  let out = "";
  for (const byte of bytes) {
    const plainByte = (byte >= 0x20 && byte < 0x7f && byte !== 0x25 && byte !== 0x27 && byte !== 0x5c) || byte === 0x0a;
    out += plainByte ? String.fromCharCode(byte) : `\\${byte.toString(8).padStart(3, "0")}`;
  }
  return out;
}

/** Where to connect: `ssh://user@host[:port]`. */
export interface SshTarget {
  user: string;
  host: string;
  port: number;
}

/** Parses `ssh://user@host[:port]`, `user@host[:port]` or `host` (user root, port 22). */
export function parseTarget(text: string): SshTarget {
  const match = /^(?:ssh:\/\/)?(?:([^@/\s]+)@)?(\[[0-9a-fA-F:.]+\]|[^:/@\s]+)(?::(\d{1,5}))?\/?$/.exec(text.trim());
  const port = match?.[3] ? Number(match[3]) : 22;
  if (!match || port < 1 || port > 65535) throw new SousError("bad-target", `not an SSH target: ${JSON.stringify(text)} (expected ssh://user@host[:port])`);
  return { user: match[1] ?? "root", host: match[2]!.replace(/^\[(.*)\]$/, "$1"), port };
}

/** How to authenticate and check the server. */
export interface SshOptions {
  /** Private key file; without it the SSH agent ($SSH_AUTH_SOCK), then ~/.ssh/id_ed25519, id_ecdsa, id_rsa. */
  identityFile?: string;
  /** known_hosts file to check host keys against (default ~/.ssh/known_hosts). */
  knownHostsFile?: string;
  /** Accept and record keys of hosts not yet in known_hosts. A changed key is always refused. */
  acceptNewHostKeys?: boolean;
  /** Run every command and file operation through `sudo -n` (for a non-root login). */
  sudo?: boolean;
  /** Milliseconds to connect, check the host key and authenticate (default 15 s). */
  connectTimeoutMs?: number;
  /** Default milliseconds after which a command is killed, unless the call sets its own. */
  commandTimeoutMs?: number;
}

/** Why a connection failed or broke; `code` tells scripts which case it was. */
export class SshError extends SousError {
  constructor(code: "ssh-refused" | "ssh-unreachable" | "ssh-timeout" | "ssh-auth" | "ssh-host-key-changed" | "ssh-host-key-unknown" | "ssh-disconnected" | "ssh-error", message: string) {
    super(code, message);
    this.name = "SshError";
  }
}

/** An error of a file operation on the target, with the errno code Node would give. */
export class RemoteFileError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "RemoteFileError";
  }
}

/**
 * Prefixed to every remote command and sent first to the resident shell: messages the file
 * operations and providers recognise (`No such file or directory`, `no crontab for`) are
 * English only in the C locale, whatever the host's own locale is (a user's `env` still wins).
 */
const C_LOCALE = "export LC_ALL=C; ";

const ERRNO: Array<[RegExp, string]> = [
  [/No such file or directory|Directory nonexistent/, "ENOENT"],
  [/File exists/, "EEXIST"],
  [/Not a directory/, "ENOTDIR"],
  [/Is a directory/, "EISDIR"],
  [/Directory not empty/, "ENOTEMPTY"],
  [/Permission denied|Operation not permitted/, "EACCES"],
  [/Invalid argument/, "EINVAL"],
  [/No space left/, "ENOSPC"],
  [/Read-only file system/, "EROFS"],
];

// ---- known_hosts -------------------------------------------------------------------

function fingerprint(key: Buffer): string {
  return `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}`;
}

function keyType(key: Buffer): string {
  const length = key.readUInt32BE(0);
  return key.subarray(4, 4 + length).toString("ascii");
}

/** The host key algorithms that prove a key of each known_hosts key type. */
const ALGORITHMS_OF_KEY_TYPE: Record<string, string[]> = {
  "ssh-ed25519": ["ssh-ed25519"],
  "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
  "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
  "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
  "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
};

/**
 * Asks first for the host key algorithms of the keys known_hosts records for the host, as
 * OpenSSH does: a host known by its RSA key is then not asked for its ed25519 key, which would
 * not be recorded and so would be refused as a changed key.
 */
function hostKeyAlgorithms(entries: readonly KnownHostEntry[], name: string): ConnectConfig["algorithms"] {
  const preferred = knownKeyTypes(entries, name).flatMap((type) => ALGORITHMS_OF_KEY_TYPE[type] ?? []);
  return preferred.length > 0 ? { serverHostKey: { remove: preferred, prepend: preferred } as never } : undefined;
}

type HostKeyVerdict = { ok: true; learned?: string } | { ok: false; error: SshError };

/** Checks a host's key against known_hosts: known and equal, unknown (maybe accepted), or changed. */
function checkHostKey(target: SshTarget, key: Buffer, file: string, entries: readonly KnownHostEntry[], acceptNew: boolean): HostKeyVerdict {
  const name = knownHostName(target.host, target.port);
  const presented = key.toString("base64");
  const verdict = checkKnownHost(entries, name, keyType(key), presented);
  switch (verdict.status) {
    case "known":
      return { ok: true };
    case "revoked":
      return { ok: false, error: new SshError("ssh-host-key-changed", `host key of ${name} (${fingerprint(key)}) is marked @revoked in ${file}:${verdict.entry.line}; refusing to connect`) };
    case "changed": {
      const lines = verdict.entries.map((entry) => `${file}:${entry.line}`).join(", ");
      return {
        ok: false,
        error: new SshError(
          "ssh-host-key-changed",
          `HOST KEY MISMATCH for ${name}: it presented ${keyType(key)} ${fingerprint(key)}, which is not the key recorded in ${lines}. Someone may be intercepting the connection, or the host was reinstalled; if you know the new key is right, remove the old line (ssh-keygen -R '${name}' -f ${file}) and connect again`,
        ),
      };
    }
    case "certificate-expected": {
      const lines = verdict.entries.map((entry) => `${file}:${entry.line}`).join(", ");
      return {
        ok: false,
        error: new SshError(
          "ssh-host-key-unknown",
          `host ${name} is to be trusted through a certificate authority (@cert-authority in ${lines}), and Sous does not check host certificates: it presented a plain ${keyType(key)} key ${fingerprint(key)}, not taken on trust; add the host's own key to ${file} (ssh-keyscan) once you have checked it`,
        ),
      };
    }
    case "unknown":
      if (!acceptNew) {
        return {
          ok: false,
          error: new SshError("ssh-host-key-unknown", `host key of ${name} is not in ${file} (${keyType(key)} ${fingerprint(key)}); check it and add it (ssh-keyscan), or pass --accept-new-host-keys to record new hosts' keys`),
        };
      }
      return { ok: true, learned: `${name} ${keyType(key)} ${presented}` };
  }
}

// ---- connecting ---------------------------------------------------------------------

function defaultIdentity(): Pick<ConnectConfig, "privateKey" | "agent"> {
  if (process.env.SSH_AUTH_SOCK) return { agent: process.env.SSH_AUTH_SOCK };
  for (const name of ["id_ed25519", "id_ecdsa", "id_rsa"]) {
    const file = join(homedir(), ".ssh", name);
    if (existsSync(file)) return { privateKey: readFileSync(file) };
  }
  return {};
}

function describeConnectError(target: SshTarget, error: Error & { level?: string; code?: string }, hostKeyError: SshError | undefined): SshError {
  const where = `${target.user}@${target.host}:${target.port}`;
  if (hostKeyError) return hostKeyError;
  if (error instanceof SshError) return error;
  if (error.level === "client-authentication") return new SshError("ssh-auth", `authentication failed for ${where}: the server accepted none of the offered keys (check --identity, the SSH agent, and the user's authorized_keys)`);
  if (error.level === "client-timeout") return new SshError("ssh-timeout", `timed out connecting to ${where} (no SSH handshake before the connect timeout: host down, filtered, or overloaded)`);
  switch (error.code) {
    case "ECONNREFUSED":
      return new SshError("ssh-refused", `connection refused by ${where}: nothing listens on port ${target.port} (is sshd running?)`);
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "EHOSTDOWN":
      return new SshError("ssh-unreachable", `${where} is unreachable (${error.code}): no route to the host`);
    case "ETIMEDOUT":
      return new SshError("ssh-timeout", `timed out connecting to ${where}`);
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new SshError("ssh-unreachable", `cannot resolve host name ${target.host}`);
    case "ECONNRESET":
      return new SshError("ssh-disconnected", `${where} closed the connection during the SSH handshake`);
  }
  return new SshError("ssh-error", `SSH connection to ${where} failed: ${error.message}`);
}

interface RawResult {
  exitCode: number | null;
  signal: string | null;
  stdout: Buffer;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
}

/**
 * One long-lived `sh` on the target that runs scripts one after another, each in a subshell
 * with stdin from /dev/null. A random marker after each script's output (on stdout, with the
 * exit status, and on stderr) tells where its output ends; the marker is new for every script,
 * so binary output cannot imitate it. If the shell dies, the next script starts a new one.
 */
/**
 * `sh -c SCRIPT NAME ARGS...` for the resident shell, which runs every line in a subshell of
 * its own `sh` already: the script runs there with ARGS as its positional parameters, without a
 * second `sh` started for it (a process per step and host is most of what a small step costs).
 * Undefined for any other command, or with an environment or folder of its own.
 */
function residentLine(command: Command, options: ExecOptions): string | undefined {
  if ("shell" in command || command.length < 3 || command[0] !== "sh" || command[1] !== "-c") return undefined;
  if (options.cwd !== undefined || (options.env && Object.keys(options.env).length)) return undefined;
  const args = command.slice(4);
  return `${args.length ? `set -- ${args.map(shellQuote).join(" ")}` : "set --"}\n${command[2]}`;
}

class ResidentShell {
  private channel: Promise<ClientChannel> | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private out = Buffer.alloc(0);
  private err = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private ended = false;

  constructor(
    private readonly client: Client,
    private readonly command: string,
    private readonly lost: () => SshError | undefined,
  ) {}

  run(script: string): Promise<RawResult> {
    const next = this.queue.then(() => this.runNow(script));
    this.queue = next.catch(() => undefined);
    return next;
  }

  close(): void {
    void this.channel?.then((c) => c.end()).catch(() => undefined);
  }

  private open(): Promise<ClientChannel> {
    this.ended = false;
    this.out = Buffer.alloc(0);
    this.err = Buffer.alloc(0);
    return new Promise((resolve, reject) => {
      this.client.exec(this.command, (error, channel) => {
        if (error) return reject(this.lost() ?? new SshError("ssh-error", `cannot start a shell: ${error.message}`));
        channel.on("data", (chunk: Buffer) => {
          this.out = Buffer.concat([this.out, chunk]);
          this.waiter?.();
        });
        channel.stderr.on("data", (chunk: Buffer) => {
          this.err = Buffer.concat([this.err, chunk]);
          this.waiter?.();
        });
        channel.on("close", () => {
          this.ended = true;
          this.channel = undefined;
          this.waiter?.();
        });
        channel.on("error", () => {});
        // Before any script: every command the shell runs then speaks the C locale.
        channel.write(`${C_LOCALE}\n`);
        resolve(channel);
      });
    });
  }

  private async runNow(script: string): Promise<RawResult> {
    const lost = this.lost();
    if (lost) throw lost;
    const channel = await (this.channel ??= this.open());
    const marker = randomBytes(12).toString("hex");
    const started = performance.now();
    channel.write(`(\n${script}\n) </dev/null; printf '\\n%s %s\\n' ${marker} $?; printf '\\n%s\\n' ${marker} >&2\n`);
    const outEnd = Buffer.from(`\n${marker} `);
    const errEnd = Buffer.from(`\n${marker}\n`);
    for (;;) {
      const o = this.out.indexOf(outEnd);
      const newline = o >= 0 ? this.out.indexOf(10, o + outEnd.length) : -1;
      const e = this.err.indexOf(errEnd);
      if (newline >= 0 && e >= 0) {
        const result: RawResult = {
          exitCode: Number(this.out.subarray(o + outEnd.length, newline).toString("ascii")),
          signal: null,
          stdout: Buffer.from(this.out.subarray(0, o)),
          stderr: this.err.subarray(0, e).toString("utf8"),
          durationMs: performance.now() - started,
          timedOut: false,
        };
        this.out = this.out.subarray(newline + 1);
        this.err = this.err.subarray(e + errEnd.length);
        return result;
      }
      if (this.ended) throw this.lost() ?? new SshError("ssh-error", `the remote shell (${this.command}) ended${this.err.length ? `: ${this.err.toString("utf8").trim()}` : ""}`);
      await new Promise<void>((wake) => (this.waiter = wake));
      this.waiter = undefined;
    }
  }
}

/** A machine reached over one SSH connection. */
export class SshHost extends AccountLookups implements Host {
  readonly name: string;
  private closed = false;
  private lostReason: string | undefined;
  private active = 0;
  private accounts: Promise<Accounts> | undefined;
  private readonly resident: ResidentShell;
  private readonly waiting: Array<() => void> = [];

  private constructor(
    private readonly client: Client,
    readonly target: SshTarget,
    private readonly options: SshOptions,
  ) {
    super();
    this.name = `${target.user}@${target.host}${target.port === 22 ? "" : `:${target.port}`}`;
    // Every command in flight listens for the connection's end.
    client.setMaxListeners(MAX_CHANNELS + 10);
    this.resident = new ResidentShell(client, options.sudo ? "exec sudo -n /bin/sh" : "exec /bin/sh", () => (this.closed ? this.lost() : undefined));
    client.on("close", () => {
      if (!this.closed) this.lostReason ??= "the connection closed";
      this.closed = true;
      for (const wake of this.waiting.splice(0)) wake();
    });
    client.on("error", (error) => {
      this.lostReason = error.message;
    });
  }

  /** Connects, checks the host key and authenticates; throws SshError with a message a person can act on. */
  static async connect(target: SshTarget, options: SshOptions = {}): Promise<SshHost> {
    const { Client } = await import("ssh2");
    const knownHosts = options.knownHostsFile ?? join(homedir(), ".ssh", "known_hosts");
    const knownEntries = readKnownHosts(knownHosts);
    const algorithms = hostKeyAlgorithms(knownEntries, knownHostName(target.host, target.port));
    return new Promise((resolve, reject) => {
      const client = new Client();
      let hostKeyError: SshError | undefined;
      let learned: string | undefined;
      let settled = false;
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        client.end();
        reject(describeConnectError(target, error, hostKeyError));
      };
      client.once("ready", () => {
        if (settled) return;
        settled = true;
        // Record a new key only once the host proved it holds it (authentication passed).
        if (learned) {
          mkdirSync(dirname(knownHosts), { recursive: true, mode: 0o700 });
          // A last line without its newline would otherwise run into the new one.
          const endsOpen = existsSync(knownHosts) && !/(^|\n)$/.test(readFileSync(knownHosts, "utf8"));
          appendFileSync(knownHosts, `${endsOpen ? "\n" : ""}${learned}\n`, { mode: 0o600 });
        }
        // Many small request/answer exchanges: Nagle's algorithm would add delayed-ACK waits to each.
        client.setNoDelay(true);
        resolve(new SshHost(client, target, options));
      });
      client.on("error", fail);
      client.once("close", () => fail(new SshError("ssh-disconnected", `${target.user}@${target.host}:${target.port} closed the connection before the session was ready`)));
      const identity = options.identityFile
        ? (() => {
            try {
              return { privateKey: readFileSync(options.identityFile) };
            } catch (error) {
              throw new SshError("ssh-auth", `cannot read identity file ${options.identityFile}: ${(error as Error).message}`);
            }
          })()
        : defaultIdentity();
      client.connect({
        host: target.host,
        port: target.port,
        username: target.user,
        ...identity,
        readyTimeout: options.connectTimeoutMs ?? 15_000,
        keepaliveInterval: 10_000,
        keepaliveCountMax: 3,
        ...(algorithms ? { algorithms } : {}),
        hostVerifier: (key: Buffer) => {
          const verdict = checkHostKey(target, key, knownHosts, knownEntries, options.acceptNewHostKeys === true);
          if (!verdict.ok) hostKeyError = verdict.error;
          else learned = verdict.learned;
          return verdict.ok;
        },
      });
    });
  }

  /** Whether the connection is still up (a kept connection is checked before it is used again). */
  get isOpen(): boolean {
    return !this.closed;
  }

  /**
   * Starts the resident shell now rather than at the first command that needs it (its session
   * costs the host a login shell): for a connection kept for later commands, made while nothing waits.
   */
  async warm(): Promise<void> {
    // With a command timeout every command takes a channel of its own: there is no resident shell to start.
    if (this.options.commandTimeoutMs === undefined) await this.resident.run(":");
  }

  /** Closes the connection (idempotent). */
  close(): void {
    this.closed = true;
    this.resident.close();
    this.client.end();
  }

  async exec(command: Command, options: ExecOptions = {}): Promise<ExecResult> {
    const display = displayCommand(command, options.secrets);
    let line = "shell" in command ? `/bin/sh -c ${shellQuote(command.shell)}` : command.map(shellQuote).join(" ");
    if (options.env && Object.keys(options.env).length) line = `env ${Object.entries(options.env).map(([k, v]) => shellQuote(`${k}=${v}`)).join(" ")} ${line}`;
    if (options.cwd !== undefined) line = `cd ${shellQuote(options.cwd)} && exec ${line}`;
    let as: { uid?: number; gid?: number } | undefined;
    if (options.user !== undefined || options.group !== undefined) {
      const uid = options.user === undefined ? undefined : await this.resolveId("user", options.user);
      const gid = options.group === undefined ? (uid !== undefined ? await this.primaryGroup(uid) : undefined) : await this.resolveId("group", options.group);
      as = { uid, gid };
    }
    const timeoutMs = options.timeoutMs ?? this.options.commandTimeoutMs;
    // The resident shell already runs as root under sudo, in the C locale.
    const raw = options.resident && !as && timeoutMs === undefined && options.input === undefined && !options.onOutput ? await this.resident.run(residentLine(command, options) ?? line) : await this.run(this.wrap(line, timeoutMs, as), options.input, timeoutMs, options.onOutput);
    return { display, exitCode: raw.exitCode, signal: raw.signal, stdout: raw.stdout.toString("utf8"), stderr: raw.stderr, durationMs: raw.durationMs, timedOut: raw.timedOut };
  }

  /**
   * The command line the login shell runs: the remote `timeout` innermost (closing a channel
   * alone would leave the command running), then the switch to another user, or sudo.
   */
  private wrap(line: string, timeoutMs: number | undefined, as?: { uid?: number; gid?: number }): string {
    // The locale is set innermost too: sudo may reset the environment it was given.
    const inner = `${C_LOCALE}${line}`;
    const timed = timeoutMs ? `timeout -s KILL ${Math.max(timeoutMs / 1000, 0.001).toFixed(3)} /bin/sh -c ${shellQuote(inner)}` : inner;
    if (as) {
      const { uid, gid } = as;
      return this.options.sudo
        ? `${C_LOCALE}sudo -n ${uid !== undefined ? `-u '#${uid}' ` : ""}${gid !== undefined ? `-g '#${gid}' ` : ""}-- /bin/sh -c ${shellQuote(timed)}`
        : `${C_LOCALE}setpriv ${uid !== undefined ? `--reuid=${uid} ` : ""}${gid !== undefined ? `--regid=${gid} --clear-groups ` : ""}-- /bin/sh -c ${shellQuote(timed)}`;
    }
    return this.options.sudo ? `${C_LOCALE}sudo -n -- /bin/sh -c ${shellQuote(timed)}` : timed === inner ? inner : `${C_LOCALE}${timed}`;
  }

  /**
   * Runs a script of this module's own (file operations), with sudo when configured. Scripts
   * without input go to the host's resident shell (no new SSH session, login shell and sh per
   * operation: the cost of a no-op converge is mostly these small reads); scripts with input,
   * or with a timeout to enforce, get a channel of their own.
   */
  private async script(script: string, input?: Buffer | string): Promise<RawResult> {
    const timeoutMs = this.options.commandTimeoutMs;
    if (input === undefined && timeoutMs === undefined) return this.resident.run(script);
    return this.run(this.wrap(`exec /bin/sh -c ${shellQuote(script)}`, timeoutMs), input, timeoutMs);
  }

  /** The errno-style error Node's fs would give for a failed file operation. */
  private fileError(operation: string, path: string, result: RawResult): RemoteFileError {
    const message = result.stderr.trim().split("\n").pop() || (result.signal ? `killed by ${result.signal}` : `exit code ${result.exitCode}`);
    const code = ERRNO.find(([pattern]) => pattern.test(message))?.[1] ?? (result.timedOut ? "ETIMEDOUT" : "EIO");
    return new RemoteFileError(code, `${code}: ${operation} '${path}' on ${this.name} failed: ${message}`);
  }

  /** A script that must succeed. */
  private async must(operation: string, path: string, script: string, input?: Buffer | string): Promise<RawResult> {
    const result = await this.script(script, input);
    if (result.exitCode !== 0) throw this.fileError(operation, path, result);
    return result;
  }

  private async acquire(): Promise<void> {
    while (this.active >= MAX_CHANNELS && !this.closed) await new Promise<void>((wake) => this.waiting.push(wake));
    this.active++;
  }

  private release(): void {
    this.active--;
    this.waiting.shift()?.();
  }

  private lost(): SshError {
    return new SshError("ssh-disconnected", `lost the SSH connection to ${this.name}${this.lostReason ? ` (${this.lostReason})` : ""}`);
  }

  private async run(line: string, input: Buffer | string | undefined, timeoutMs: number | undefined, onOutput?: ExecOptions["onOutput"]): Promise<RawResult> {
    if (this.closed) throw this.lost();
    await this.acquire();
    try {
      const started = performance.now();
      return await new Promise<RawResult>((resolve, reject) => {
        // Listeners go on inside exec's callback: a fast command's exit status can arrive in the
        // same read as the channel's confirmation, and an `exit` event nobody listens to is lost.
        const collect = (channel: ClientChannel) => {
          const out: Buffer[] = [];
          const err: Buffer[] = [];
          let outSize = 0;
          let errSize = 0;
          let exitCode: number | null = null;
          let signal: string | null = null;
          let exited = false;
          const onLost = () => reject(this.lost());
          this.client.once("close", onLost);
          // A fallback for a remote side that never answers: the remote timeout should come first.
          const timer = timeoutMs
            ? setTimeout(() => {
                channel.close();
                resolve({ exitCode: null, signal: "SIGKILL", stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString("utf8"), durationMs: performance.now() - started, timedOut: true });
              }, timeoutMs + 5_000)
            : undefined;
          channel.on("data", (chunk: Buffer) => {
            if (outSize < OUTPUT_CAP) out.push(chunk);
            outSize += chunk.length;
            onOutput?.(chunk.toString("utf8"), "stdout");
          });
          channel.stderr.on("data", (chunk: Buffer) => {
            if (errSize < OUTPUT_CAP) err.push(chunk);
            errSize += chunk.length;
            onOutput?.(chunk.toString("utf8"), "stderr");
          });
          channel.on("exit", (code: number | null, signalName?: string) => {
            exited = true;
            exitCode = typeof code === "number" ? code : null;
            signal = signalName ? (signalName.startsWith("SIG") ? signalName : `SIG${signalName}`) : null;
          });
          channel.on("close", () => {
            if (timer) clearTimeout(timer);
            this.client.removeListener("close", onLost);
            if (!exited && this.closed) return reject(this.lost());
            const durationMs = performance.now() - started;
            // `timeout -s KILL` kills the command's process group, itself included (or exits 137 under a shell).
            const timedOut = timeoutMs !== undefined && durationMs >= timeoutMs && (exitCode === 137 || signal === "SIGKILL");
            resolve({
              exitCode: timedOut ? null : exitCode,
              signal: timedOut ? "SIGKILL" : signal,
              stdout: Buffer.concat(out),
              stderr: Buffer.concat(err).toString("utf8"),
              durationMs,
              timedOut,
            });
          });
          channel.on("error", () => {});
          if (input !== undefined) channel.end(input);
          else channel.end();
        };
        try {
          this.client.exec(line, (error, channel) => (error ? reject(this.closed ? this.lost() : new SshError("ssh-error", `cannot open a channel on ${this.name}: ${error.message}`)) : collect(channel)));
        } catch (error) {
          reject(this.closed ? this.lost() : error);
        }
      });
    } finally {
      this.release();
    }
  }

  async tryReadFile(path: string): Promise<Buffer | undefined> {
    const result = await this.script(`exec cat -- ${shellQuote(path)}`);
    if (result.exitCode === 0) return result.stdout;
    if (/No such file or directory|Not a directory/.test(result.stderr)) return undefined;
    throw this.fileError("open", path, result);
  }

  async writeFileAtomic(path: string, data: Buffer | string, options: WriteOptions = {}): Promise<void> {
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    const temp = atomicTempPath(path);
    const owner = options.uid !== undefined ? `${options.uid}${options.gid !== undefined ? `:${options.gid}` : ""}` : options.gid !== undefined ? `:${options.gid}` : undefined;
    const mode = (options.mode ?? 0o644) & 0o7777;
    // Plain rw bits come from the umask at creation, which saves a chmod process.
    const plain = (mode & ~0o666) === 0;
    // Small files travel inside the script (a printf builtin of the resident shell); big ones on stdin.
    const inline = bytes.length <= INLINE_WRITE_LIMIT;
    const script = [
      "set -e",
      `t=${shellQuote(temp)}`,
      `trap 'rm -f -- "$t"' EXIT`,
      `umask ${plain ? (~mode & 0o777).toString(8).padStart(3, "0") : "077"}`,
      // set -C makes the redirection fail on an existing temp file, like O_EXCL.
      inline ? `set -C; printf '${printfFormat(bytes)}' > "$t"; set +C` : `set -C; cat > "$t"; set +C`,
      plain ? "" : `chmod ${mode.toString(8)} -- "$t"`,
      owner ? `chown ${owner} -- "$t"` : "",
      `sync -- "$t" 2>/dev/null || true`,
      `mv -fT -- "$t" ${shellQuote(path)}`,
      "trap - EXIT",
    ]
      .filter(Boolean)
      .join("\n");
    await this.must("write", path, script, inline ? undefined : bytes);
  }

  private async statOf(path: string, follow: boolean): Promise<FileStat | undefined> {
    const result = await this.script(`exec stat ${follow ? "-L " : ""}-c '%f %u %g %s %.9Y %i %d %h' -- ${shellQuote(path)}`);
    if (result.exitCode !== 0) {
      if (/No such file or directory|Not a directory/.test(result.stderr)) return undefined;
      throw this.fileError(follow ? "stat" : "lstat", path, result);
    }
    const [rawMode, uid, gid, size, mtime, ino, dev, nlink] = result.stdout.toString("utf8").trim().split(" ");
    const mode = parseInt(rawMode!, 16);
    const format = mode & 0o170000;
    return {
      type: format === 0o100000 ? "file" : format === 0o040000 ? "directory" : format === 0o120000 ? "symlink" : "other",
      mode: mode & 0o7777,
      uid: Number(uid),
      gid: Number(gid),
      size: Number(size),
      mtimeMs: Number(mtime) * 1000,
      ino: Number(ino),
      dev: Number(dev),
      nlink: Number(nlink),
    };
  }

  tryLstat(path: string): Promise<FileStat | undefined> {
    return this.statOf(path, false);
  }

  tryStat(path: string): Promise<FileStat | undefined> {
    return this.statOf(path, true);
  }

  async readlink(path: string): Promise<string> {
    const p = shellQuote(path);
    const result = await this.must("readlink", path, `[ -L ${p} ] || { if [ -e ${p} ]; then echo 'Invalid argument' >&2; else echo 'No such file or directory' >&2; fi; exit 1; }\nexec readlink -- ${p}`);
    return result.stdout.toString("utf8").replace(/\n$/, "");
  }

  async symlink(target: string, path: string): Promise<void> {
    await this.must("symlink", path, `exec ln -sT -- ${shellQuote(target)} ${shellQuote(path)}`);
  }

  async hardlink(existing: string, path: string): Promise<void> {
    await this.must("link", path, `exec ln -T -- ${shellQuote(existing)} ${shellQuote(path)}`);
  }

  async mkdir(path: string, options: { recursive?: boolean; mode?: number } = {}): Promise<void> {
    const p = shellQuote(path);
    // Like mkdir(2) under the usual umask 022 (mkdir -m alone would not filter the mode).
    const mode = ((options.mode ?? 0o755) & 0o7777 & ~0o022).toString(8);
    await this.must("mkdir", path, options.recursive ? `[ -d ${p} ] || exec mkdir -p -m ${mode} -- ${p}` : `exec mkdir -m ${mode} -- ${p}`);
  }

  async chmod(path: string, mode: number): Promise<void> {
    await this.must("chmod", path, `exec chmod ${(mode & 0o7777).toString(8)} -- ${shellQuote(path)}`);
  }

  async lchown(path: string, uid: number, gid: number): Promise<void> {
    // -1 leaves that id as it is, as lchown(2) does.
    const owner = `${uid >= 0 ? uid : ""}${gid >= 0 ? `:${gid}` : ""}`;
    if (owner) await this.must("lchown", path, `exec chown -h ${owner} -- ${shellQuote(path)}`);
  }

  async remove(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    const p = shellQuote(path);
    await this.must("remove", path, `if [ -L ${p} ] || [ ! -d ${p} ]; then exec rm -f -- ${p}; else exec ${options.recursive ? "rm -rf --" : "rmdir --"} ${p}; fi`);
  }

  async rename(from: string, to: string): Promise<void> {
    const f = shellQuote(from);
    await this.must("rename", from, `[ -e ${f} ] || [ -L ${f} ] || { echo 'No such file or directory' >&2; exit 1; }\nexec mv -fT -- ${f} ${shellQuote(to)}`);
  }

  async readdir(path: string): Promise<string[]> {
    const p = shellQuote(path);
    const result = await this.must("scandir", path, `[ -d ${p} ] || { if [ -e ${p} ]; then echo 'Not a directory' >&2; else echo 'No such file or directory' >&2; fi; exit 1; }\nexec find ${p} -mindepth 1 -maxdepth 1 -printf '%f\\0'`);
    return result.stdout.toString("utf8").split("\0").filter(Boolean);
  }

  async touch(path: string): Promise<void> {
    const p = shellQuote(path);
    await this.must("utime", path, `[ -e ${p} ] || { echo 'No such file or directory' >&2; exit 1; }\nexec touch -c -- ${p}`);
  }

  // Questions asked at the same moment (owner and group of one file) share one read of both files.
  protected loadAccounts(): Promise<Accounts> {
    this.accounts ??= this.script("cat /etc/passwd; echo '@@group'; cat /etc/group")
      .then((result) => {
        const [passwd, group] = result.stdout.toString("utf8").split("@@group\n");
        return parseAccounts(passwd, group);
      })
      .finally(() => {
        this.accounts = undefined;
      });
    return this.accounts;
  }
}
