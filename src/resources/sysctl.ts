/**
 * `sysctl`: a kernel parameter's live value, and the same value persisted in
 * /etc/sysctl.d/99-sous-KEY.conf for the next boot. The live value is read and written by
 * commands on the host, never through its /proc/sys as a file from outside: many keys
 * (net.*, kernel.hostname...) answer for the namespace of whoever reads them.
 */
import { SousError } from "../core/errors.js";
import { type InputOf, type OutputOf, prop } from "../core/properties.js";
import { type Change, defineType, type Plan } from "../core/resource.js";
import { type Host, run } from "../host/host.js";
import { findLeftovers, leftoverChange, removeLeftovers } from "./leftovers.js";
import { contentDiff } from "./metadata.js";

interface SysctlCurrent {
  live: string | undefined;
  conf: Buffer | undefined;
  wantConf: Buffer | undefined;
  confPath: string;
  /** Temporary files of the persisted file's atomic writes that a killed run left beside it (full paths). */
  leftovers?: string[];
}

const KEY = /^[A-Za-z0-9_][A-Za-z0-9_./:-]*$/;

/** The /proc/sys path of a key: dots separate levels unless the key uses slashes. */
export function procPath(key: string): string {
  return `/proc/sys/${key.includes("/") ? key : key.replace(/\./g, "/")}`;
}

/** A value as the kernel prints it, for comparison: words separated by single spaces. */
export function normalizeValue(value: string): string {
  return value.trim().split(/\s+/).join(" ");
}

const properties = {
  /** The key, dotted (`net.ipv4.ip_forward`) or slashed (`net/ipv4/conf/eth0.1/forwarding`); defaults to the resource name. */
  key: prop.matching("a sysctl key such as net.ipv4.ip_forward", (v) => KEY.test(v) && !v.split(/[./]/).includes(".."), { role: "identity" }),
  /** The value; a list for keys holding several numbers (`[32768, 60999]`). */
  value: prop.custom<string, string | number | ReadonlyArray<string | number>>("a string, a number, or a list of them", (value) => {
    const words = Array.isArray(value) ? value : [value];
    if (words.length === 0 || !words.every((w) => (typeof w === "string" && w.trim() !== "" && !w.includes("\n")) || (typeof w === "number" && Number.isFinite(w)))) {
      return prop.string({ nonEmpty: true }).normalize(value) as string;
    }
    return normalizeValue(words.map(String).join(" "));
  }),
  /** Write the persisted file (default true). */
  persist: prop.boolean({ role: "control", default: true }),
  /** Where the persisted file goes (default /etc/sysctl.d). */
  confDir: prop.absolutePath({ role: "control", default: "/etc/sysctl.d" }),
};

type SysctlProperties = OutputOf<typeof properties>;

/** What a recipe writes for `sysctl` (derived from its property specs). */
export type SysctlInput = InputOf<typeof properties>;

/** Actions of `sysctl`. */
export type SysctlAction = (typeof sysctlType.actions)[number];

function confPath(properties: Readonly<SysctlProperties>): string {
  return `${properties.confDir}/99-sous-${properties.key.replace(/\//g, ".")}.conf`;
}

async function readLive(host: Host, key: string): Promise<string | undefined> {
  const result = await host.exec(["cat", "--", procPath(key)]);
  if (result.exitCode === 0) return normalizeValue(result.stdout);
  if (/No such file/.test(result.stderr)) return undefined;
  throw new SousError("sysctl-unreadable", `cannot read ${key} on ${host.name}: ${result.stderr.trim()}`);
}

/** The `sysctl` resource type. */
export const sysctlType = defineType({
  name: "sysctl",
  description: "A kernel parameter: its live value and the same value persisted in /etc/sysctl.d.",
  actions: ["apply", "remove", "nothing"],
  defaultAction: "apply",
  identity: "key",
  properties,
  validate(properties, actions) {
    return actions.includes("apply") && properties.value === undefined ? [["value", "is required to apply a sysctl"]] : [];
  },
  provider: {
    async read({ host }, properties, action): Promise<SysctlCurrent> {
      const path = confPath(properties);
      const [live, conf, leftovers] = await Promise.all([action === "apply" ? readLive(host, properties.key) : undefined, host.tryReadFile(path), findLeftovers(host, path)]);
      if (action === "apply" && live === undefined) throw new SousError("unknown-sysctl", `${properties.key}: no such kernel parameter on ${host.name} (${procPath(properties.key)} does not exist)`);
      const wantConf = action === "apply" && properties.persist ? Buffer.from(`# Managed by Sous: sysctl[${properties.key}]\n${properties.key.replace(/\//g, ".")} = ${properties.value}\n`) : undefined;
      return { live, conf, wantConf, confPath: path, ...(leftovers.length > 0 ? { leftovers } : {}) };
    },
    plan(current, properties, action): Plan {
      if (action === "remove") return { changes: [...(current.conf ? [{ property: "persisted", from: current.confPath, to: undefined }] : []), ...leftoverChange(current)] };
      const changes: Change[] = leftoverChange(current);
      if (current.live !== properties.value) changes.push({ property: "value", from: current.live, to: properties.value });
      if (current.wantConf && !current.conf?.equals(current.wantConf)) {
        changes.push({ property: "persisted", from: current.conf ? current.confPath : undefined, to: current.confPath });
        return { changes, diff: { property: "value", text: contentDiff(current.confPath, current.conf, current.wantConf) } };
      }
      return { changes };
    },
    async apply({ host }, plan, properties, action, current) {
      await removeLeftovers(host, plan, current);
      if (action === "remove") return current.conf ? host.remove(current.confPath) : undefined;
      const changed = new Set(plan.changes.map((c) => c.property));
      if (changed.has("persisted")) await host.writeFileAtomic(current.confPath, current.wantConf!, { mode: 0o644 });
      if (changed.has("value")) {
        // The value and path are arguments, never spliced into the script.
        await run(host, ["sh", "-c", 'printf "%s\\n" "$1" > "$2"', "sh", properties.value!, procPath(properties.key)]);
        const now = await readLive(host, properties.key);
        if (now !== properties.value) {
          throw new SousError("sysctl-not-kept", `${properties.key}: wrote ${JSON.stringify(properties.value)} but the kernel reports ${JSON.stringify(now)} (give the value as the kernel prints it)`);
        }
      }
    },
  },
});
