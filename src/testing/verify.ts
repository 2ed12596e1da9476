/**
 * Checks of a converged machine (InSpec's tier), for a cookbook's `verify/*.ts`: typed
 * helpers that read the machine `sous test --machine` converged (`$SOUS_VERIFY_TARGET`,
 * any target spec such as `nsenter://PID` or `ssh://root@host`), through the same Host
 * interface providers use. They only read; use them in Node test runner tests:
 *
 * ```ts
 * test("nginx serves", async () => {
 *   assert.equal((await file("/etc/nginx/nginx.conf")).mode, "0644");
 *   assert.equal((await service("nginx")).running, true);
 *   assert.equal((await port(80)).listening, true);
 * });
 * ```
 */
import { SousError } from "../core/errors.js";
import type { Command, ExecResult, Host } from "../host/host.js";
import { builtinTargets, type Target } from "../run/targets.js";

let opened: Promise<Target> | undefined;

/** The machine under test (opened once per test file, closed when the process exits). */
export async function machine(): Promise<Host> {
  const spec = process.env.SOUS_VERIFY_TARGET;
  if (!spec) throw new SousError("no-target", "verify checks read the machine sous test --machine converged ($SOUS_VERIFY_TARGET is not set): run them through sous test --machine");
  opened ??= builtinTargets().open(spec);
  return (await opened).host;
}

/** What a path on the machine is. */
export interface FileCheck {
  readonly path: string;
  readonly exists: boolean;
  readonly type: "file" | "directory" | "symlink" | "other" | undefined;
  /** Octal, as recipes write it: `"0644"`; undefined when nothing is there. */
  readonly mode: string | undefined;
  /** Owner and group names (numbers where the machine has no name for them). */
  readonly owner: string | number | undefined;
  readonly group: string | number | undefined;
  readonly size: number | undefined;
  /** The link's target, for a symbolic link. */
  readonly linkTarget: string | undefined;
  /** The content as text; throws when it is not a file. */
  content(): Promise<string>;
}

/** A path on the machine (links not followed). */
export async function file(path: string): Promise<FileCheck> {
  const host = await machine();
  const stat = await host.tryLstat(path);
  const type = stat ? (stat.type === "file" || stat.type === "directory" || stat.type === "symlink" ? stat.type : "other") : undefined;
  return {
    path,
    exists: stat !== undefined,
    type,
    mode: stat ? `0${(stat.mode & 0o7777).toString(8).padStart(3, "0")}` : undefined,
    owner: stat ? ((await host.userName(stat.uid)) ?? stat.uid) : undefined,
    group: stat ? ((await host.groupName(stat.gid)) ?? stat.gid) : undefined,
    size: stat?.size,
    linkTarget: stat?.type === "symlink" ? await host.readlink(path) : undefined,
    async content() {
      const data = await host.tryReadFile(path);
      if (data === undefined) throw new SousError("no-file", `${path} does not exist on ${host.name}`);
      return data.toString("utf8");
    },
  };
}

/** Runs a command on the machine (an argv array or a shell string) and returns how it ended. */
export async function command(argv: readonly string[] | string): Promise<ExecResult> {
  const host = await machine();
  const what: Command = typeof argv === "string" ? { shell: argv } : argv;
  return host.exec(what);
}

/** A systemd service on the machine. */
export interface ServiceCheck {
  readonly name: string;
  /** `systemctl is-active`: active. */
  readonly running: boolean;
  /** `systemctl is-enabled`: enabled. */
  readonly enabled: boolean;
}

/** A systemd service's state. */
export async function service(name: string): Promise<ServiceCheck> {
  const [active, enabled] = await Promise.all([command(["systemctl", "is-active", "--", name]), command(["systemctl", "is-enabled", "--", name])]);
  return { name, running: active.stdout.trim() === "active", enabled: enabled.stdout.trim() === "enabled" };
}

/** A TCP port on the machine. */
export interface PortCheck {
  readonly port: number;
  /** Whether something listens on it (any address). */
  readonly listening: boolean;
  /** The local addresses it listens on. */
  readonly addresses: readonly string[];
}

/** Whether something listens on a TCP port, read from the kernel's socket tables (`/proc/net/tcp`, `tcp6`): nothing to install. */
export async function port(number: number): Promise<PortCheck> {
  const host = await machine();
  const addresses: string[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const result = await host.exec(["cat", table]);
    if (result.exitCode !== 0) continue;
    for (const line of result.stdout.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is ADDRESS:PORT in hex; state 0A is LISTEN.
      const [address, hexPort] = (fields[1] ?? "").split(":");
      if (fields[3] === "0A" && hexPort && parseInt(hexPort, 16) === number) addresses.push(table.endsWith("6") ? `[${address}]` : hexToIPv4(address!));
    }
  }
  return { port: number, listening: addresses.length > 0, addresses };
}

function hexToIPv4(hex: string): string {
  const bytes = hex.match(/../g) ?? [];
  return bytes.reverse().map((byte) => parseInt(byte, 16)).join(".");
}

/** A Debian package on the machine. */
export interface PackageCheck {
  readonly name: string;
  readonly installed: boolean;
  readonly version: string | undefined;
}

/** Whether a package is installed (dpkg's status), and its version. */
export async function pkg(name: string): Promise<PackageCheck> {
  const result = await command(["dpkg-query", "-W", "-f", "${Status}\\t${Version}", "--", name]);
  const [status, version] = result.stdout.split("\t");
  const installed = result.exitCode === 0 && / installed$/.test(status ?? "");
  return { name, installed, version: installed ? version : undefined };
}
