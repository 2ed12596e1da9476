/**
 * `hostname`: the machine's name, in the three places that must agree: the running kernel's
 * (`uname -n`), /etc/hostname for the next boot, and an /etc/hosts line so that the name
 * resolves (`hostname -f`) without DNS. Set live through hostnamectl when systemd runs, else
 * with `hostname`.
 */
import { isIP } from "node:net";
import { type InputOf, type OutputOf, prop } from "../core/properties.js";
import { type Change, defineType } from "../core/resource.js";
import { run } from "../host/host.js";
import { findLeftovers, leftoverChange, removeLeftovers } from "./leftovers.js";
import { contentDiff } from "./metadata.js";
import { systemdRuns } from "./systemd.js";

interface HostnameCurrent {
  live: string;
  etcHostname: Buffer | undefined;
  etcHosts: Buffer | undefined;
  wantHosts: Buffer | undefined;
  /** Temporary files of atomic writes of /etc/hostname or /etc/hosts that a killed run left (full paths). */
  leftovers?: string[];
}

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** Whether a name is a valid host name (RFC 1123: dot-separated labels of letters, digits and inner hyphens). */
export function isHostname(name: string): boolean {
  return name.length <= 253 && name.split(".").every((label) => LABEL.test(label));
}

/**
 * /etc/hosts with exactly one line for `ipaddress`, naming the host (and its short name) and
 * aliases; other lines stay as they were, comments included. Pure; exported for tests.
 */
export function hostsWithEntry(hosts: string, ipaddress: string, names: readonly string[]): string {
  const entry = `${ipaddress}\t${names.join(" ")}`;
  const lines = hosts === "" ? [] : hosts.replace(/\n$/, "").split("\n");
  const out: string[] = [];
  let placed = false;
  for (const line of lines) {
    const address = line.replace(/#.*/, "").trim().split(/\s+/)[0];
    if (address !== ipaddress) out.push(line);
    else if (!placed) {
      out.push(entry);
      placed = true;
    }
  }
  if (!placed) out.push(entry);
  return `${out.join("\n")}\n`;
}

const properties = {
  /** The name (defaults to the resource name); a dotted name also puts its first label in /etc/hosts. */
  hostname: prop.matching("a host name such as web-1 or web-1.example.org", isHostname, { role: "identity" }),
  /** The address of the /etc/hosts line (default 127.0.1.1, Debian's convention). */
  ipaddress: prop.matching("an IPv4 or IPv6 address", (v) => isIP(v) !== 0, { default: "127.0.1.1" }),
  /** More names for that line. */
  aliases: prop.stringArray({ default: () => [] }),
  /** Manage the /etc/hosts line (default true). */
  manageHosts: prop.boolean({ role: "control", default: true }),
};

type HostnameProperties = OutputOf<typeof properties>;

/** What a recipe writes for `hostname` (derived from its property specs). */
export type HostnameInput = InputOf<typeof properties>;

/** Actions of `hostname`. */
export type HostnameAction = (typeof hostnameType.actions)[number];

function namesFor(properties: Readonly<HostnameProperties>): string[] {
  const short = properties.hostname.split(".")[0]!;
  return [...new Set([properties.hostname, short, ...properties.aliases])];
}

/** The `hostname` resource type. */
export const hostnameType = defineType({
  name: "hostname",
  description: "The machine's name: live, in /etc/hostname, and resolvable through an /etc/hosts line.",
  actions: ["set", "nothing"],
  defaultAction: "set",
  identity: "hostname",
  properties,
  validate(properties) {
    const bad = properties.aliases.filter((alias) => !isHostname(alias));
    return bad.length ? [["aliases", `expected host names, got ${bad.map((b) => JSON.stringify(b)).join(", ")}`]] : [];
  },
  provider: {
    async read({ host }, properties): Promise<HostnameCurrent> {
      const [uname, etcHostname, etcHosts, leftovers] = await Promise.all([
        run(host, ["uname", "-n"]),
        host.tryReadFile("/etc/hostname"),
        properties.manageHosts ? host.tryReadFile("/etc/hosts") : undefined,
        findLeftovers(host, "/etc/hostname", ...(properties.manageHosts ? ["/etc/hosts"] : [])),
      ]);
      const wantHosts = properties.manageHosts ? Buffer.from(hostsWithEntry(etcHosts?.toString("utf8") ?? "", properties.ipaddress, namesFor(properties)), "utf8") : undefined;
      return { live: uname.stdout.trim(), etcHostname, etcHosts, wantHosts, ...(leftovers.length > 0 ? { leftovers } : {}) };
    },
    plan(current, properties) {
      const changes: Change[] = leftoverChange(current);
      const diffs: string[] = [];
      if (current.live !== properties.hostname) changes.push({ property: "hostname", from: current.live, to: properties.hostname });
      const wantFile = `${properties.hostname}\n`;
      if (current.etcHostname?.toString("utf8") !== wantFile) {
        changes.push({ property: "/etc/hostname", from: current.etcHostname?.toString("utf8").trim(), to: properties.hostname });
        diffs.push(contentDiff("/etc/hostname", current.etcHostname, Buffer.from(wantFile)));
      }
      if (current.wantHosts && !current.etcHosts?.equals(current.wantHosts)) {
        changes.push({ property: "/etc/hosts", from: undefined, to: `${properties.ipaddress} ${namesFor(properties).join(" ")}` });
        diffs.push(contentDiff("/etc/hosts", current.etcHosts, current.wantHosts));
      }
      return diffs.length ? { changes, diff: { property: "hostname", text: diffs.join("") } } : { changes };
    },
    async apply({ host }, plan, properties, _action, current) {
      await removeLeftovers(host, plan, current);
      const changed = new Set(plan.changes.map((c) => c.property));
      // Both files keep their mode (and owner: written as root, as they are).
      const keepMode = async (path: string) => ({ mode: (await host.tryStat(path))?.mode ?? 0o644 });
      if (changed.has("/etc/hosts")) await host.writeFileAtomic("/etc/hosts", current.wantHosts!, await keepMode("/etc/hosts"));
      if (changed.has("/etc/hostname")) await host.writeFileAtomic("/etc/hostname", `${properties.hostname}\n`, await keepMode("/etc/hostname"));
      if (changed.has("hostname")) {
        // hostnamectl also tells systemd-hostnamed and its clients; it sets the static name (the file above) too.
        if (await systemdRuns(host)) await run(host, ["hostnamectl", "set-hostname", "--", properties.hostname]);
        else await run(host, ["hostname", "--", properties.hostname]);
      }
    },
  },
});
