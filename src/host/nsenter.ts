/**
 * A running container (a systemd-nspawn machine, a Docker or LXC container, any process tree
 * in its own namespaces) as a Host: commands run through `nsenter --target PID --all`, so they
 * see the container's mounts, network, hostname, processes and init; files are reached through
 * `/proc/PID/root`, with links resolved inside the container exactly as ChrootHost does.
 *
 * Commands get a clean environment (the container's PATH, HOME of the user they run as,
 * LANG=C.UTF-8, LC_ALL=C as on every host, plus what the caller asks for), never the workstation's: the container's
 * programs should not see its variables.
 */
import { SousError } from "../core/errors.js";
import { ChrootHost } from "./chroot.js";
import { type Command, displayCommand, type ExecOptions, type ExecResult } from "./host.js";
import { LocalHost } from "./local.js";

const CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/**
 * How long after the caller's timeout the in-container `timeout` kills what nsenter left
 * running; the result comes back only then, when the command's output pipes close.
 */
const BACKSTOP_MS = 300;

/** One line of the container's passwd file. */
interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** A process's namespaces and root: the container whose PID 1 (as seen from here) is `pid`. */
export class NsenterHost extends ChrootHost {
  override readonly name: string;
  private readonly runner = new LocalHost();

  /** `pid` is the container's init as seen from this machine; `name` is shown in messages (default `nsenter:PID`). */
  constructor(
    readonly pid: number,
    name?: string,
    private readonly nsenterCommand = "nsenter",
  ) {
    if (!Number.isInteger(pid) || pid <= 0) throw new SousError("bad-pid", `nsenter needs a process id, got ${String(pid)}`);
    super(`/proc/${pid}/root`);
    this.name = name ?? `nsenter:${pid}`;
  }

  override async exec(command: Command, options: ExecOptions = {}): Promise<ExecResult> {
    const account = await this.account(options);
    const environment = ["PATH=" + CONTAINER_PATH, "LANG=C.UTF-8", "LC_ALL=C", `HOME=${account?.home ?? "/root"}`];
    if (account) environment.push(`USER=${account.name}`, `LOGNAME=${account.name}`);
    for (const [key, value] of Object.entries(options.env ?? {})) environment.push(`${key}=${value}`);

    // `env -i` on this side: nsenter and everything it starts inherit only these variables, and
    // the values are never on a command line inside the container (`env` is replaced by nsenter at once).
    const argv: string[] = ["env", "-i", ...environment, this.nsenterCommand, `--target=${this.pid}`, "--all", "--root", "--wdns=/", "--"];
    if (options.timeoutMs !== undefined) {
      // Killing nsenter does not kill what it started in the container's PID namespace: a backstop inside does.
      argv.push("timeout", "--signal=KILL", `${((options.timeoutMs + BACKSTOP_MS) / 1000).toFixed(3)}s`);
    }
    if (options.user !== undefined || options.group !== undefined) {
      const uid = account?.uid ?? 0;
      const gid = options.group !== undefined ? await this.groupId(options.group) : (account?.gid ?? 0);
      // Only the primary group, no supplementary ones: what LocalHost and ChrootHost do too.
      argv.push("setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--");
    }
    const inner: string[] = "shell" in command ? ["/bin/sh", "-c", command.shell] : [...command];
    if (options.cwd !== undefined) {
      // As ChrootHost: a missing directory exits 127 like a failed spawn; the path is an argument, never spliced.
      argv.push("/bin/sh", "-c", 'cd -- "$1" || exit 127; shift; exec "$@"', "sh", options.cwd, ...inner);
    } else argv.push(...inner);
    const result = await this.runner.exec(argv, { timeoutMs: options.timeoutMs, input: options.input, secrets: options.secrets });
    return { ...result, display: displayCommand(command, options.secrets) };
  }

  /** The account a command runs as (undefined: root, as nsenter starts it). */
  private async account(options: ExecOptions): Promise<PasswdEntry | undefined> {
    if (options.user === undefined) return undefined;
    const entries = await this.passwd();
    const entry = entries.find((e) => (typeof options.user === "number" ? e.uid === options.user : e.name === options.user));
    if (entry) return entry;
    if (typeof options.user === "number") return { name: String(options.user), uid: options.user, gid: options.user, home: "/" };
    throw new SousError("unknown-user", `no user named ${JSON.stringify(options.user)} on ${this.name}`);
  }

  private async groupId(group: string | number): Promise<number> {
    if (typeof group === "number") return group;
    const gid = await this.lookupGroup(group);
    if (gid === undefined) throw new SousError("unknown-group", `no group named ${JSON.stringify(group)} on ${this.name}`);
    return gid;
  }

  // Read fresh each time: a user resource earlier in the run may have added the account.
  private async passwd(): Promise<PasswdEntry[]> {
    const text = (await this.tryReadFile("/etc/passwd"))?.toString("utf8") ?? "";
    return text
      .split("\n")
      .map((line) => line.split(":"))
      .filter((fields) => fields.length >= 6 && fields[0])
      .map(([name, , uid, gid, , home]) => ({ name: name!, uid: Number(uid), gid: Number(gid), home: home! }));
  }
}
