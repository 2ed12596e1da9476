/**
 * `mount`: a file system mounted at a mount point (read from the host's own mount table,
 * /proc/self/mounts, by a command on the host: a mount table read from outside would be the
 * reader's) and its /etc/fstab entry. Options are applied when mounting; to apply changed
 * options to a mounted file system, notify `remount`.
 */
import { SousError } from "../core/errors.js";
import { type InputOf, type OutputOf, prop } from "../core/properties.js";
import { type Change, defineType, type Plan } from "../core/resource.js";
import { type Host, run } from "../host/host.js";
import { findLeftovers, leftoverChange, removeLeftovers } from "./leftovers.js";
import { contentDiff } from "./metadata.js";

const properties = {
  /** Where to mount (defaults to the resource name). */
  mountPoint: prop.absolutePath({ role: "identity" }),
  /** What to mount: /dev/sdb1, UUID=..., LABEL=..., server:/export, or a name for tmpfs and such. */
  device: prop.string({ nonEmpty: true }),
  /** File system type (default "auto"). */
  fstype: prop.matching("a file system type such as ext4 or tmpfs", (v) => /^[A-Za-z0-9_.+-]+$/.test(v), { default: "auto" }),
  /** Mount options (default ["defaults"]). */
  options: prop.stringArray({ nonEmpty: true, default: () => ["defaults"] }),
  /** fstab's dump field (default 0). */
  dump: prop.integer({ min: 0, max: 9, default: 0 }),
  /** fstab's pass field: fsck order at boot (default 0: never checked). */
  pass: prop.integer({ min: 0, max: 9, default: 0 }),
  /** The fstab file (default /etc/fstab). */
  fstab: prop.absolutePath({ role: "control", default: "/etc/fstab" }),
};

type MountProperties = OutputOf<typeof properties>;

/** What a recipe writes for `mount` (derived from its property specs). */
export type MountInput = InputOf<typeof properties>;

/** Actions of `mount`. */
export type MountAction = (typeof mountType.actions)[number];

/** One entry of a mount table or of fstab. */
export interface MountEntry {
  device: string;
  mountPoint: string;
  fstype: string;
  options: string;
}

interface MountCurrent {
  mounted: MountEntry | undefined;
  fstab: Buffer | undefined;
  wantFstab: Buffer | undefined;
  mountPointExists: boolean;
  /** Whether what is mounted is the declared device (resolved: tags, links, bind sources). */
  sameDevice: boolean;
  /** Temporary files that killed writes of fstab left beside it (enable and disable only: they write it). */
  leftovers?: string[];
}

/** Decodes the octal escapes (`\040` for a space) of mount tables and fstab. */
export function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Encodes spaces, tabs, newlines and backslashes as mount tables and fstab need. */
export function escapeMountField(field: string): string {
  return field.replace(/[\\ \t\n]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
}

/** Parses /proc/mounts or fstab text; comments and blank lines are skipped. */
export function parseMountTable(text: string): MountEntry[] {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => line.split(/\s+/))
    .filter((fields) => fields.length >= 3)
    .map(([device, mountPoint, fstype, options]) => ({ device: unescapeMountField(device!), mountPoint: unescapeMountField(mountPoint!), fstype: fstype!, options: options ?? "defaults" }));
}

const TAG = /^(UUID|LABEL|PARTUUID|PARTLABEL)=/;

/** The path a device name stands for on the host: a tag looked up with findfs, a path with its links followed. */
async function canonicalDevice(host: Host, device: string): Promise<string> {
  if (TAG.test(device)) {
    const found = await host.exec(["findfs", device]);
    return found.exitCode === 0 ? found.stdout.trim() : device;
  }
  if (!device.startsWith("/")) return device;
  const resolved = await host.exec(["readlink", "-f", "--", device]);
  return resolved.exitCode === 0 && resolved.stdout.trim() ? resolved.stdout.trim() : device;
}

/**
 * Whether the file system mounted at the mount point is the declared one. The mount table
 * names a bind mount by its file system's device, not by the directory bound, and a device
 * by its kernel name, not by UUID=, LABEL= or a /dev/disk/by-* link: compare what they stand for.
 */
async function isDeclaredDevice(host: Host, properties: Readonly<MountProperties>, mounted: MountEntry): Promise<boolean> {
  const device = properties.device;
  if (device === undefined || mounted.device === device) return true;
  if (properties.options.includes("bind") || properties.options.includes("rbind")) {
    const [source, point] = await Promise.all([host.tryStat(device), host.tryStat(properties.mountPoint)]);
    return source !== undefined && point !== undefined && source.dev === point.dev && source.ino === point.ino;
  }
  const [wanted, actual] = await Promise.all([canonicalDevice(host, device), canonicalDevice(host, mounted.device)]);
  return wanted === actual;
}

/** The fstab line a resource stands for. */
function fstabLine(properties: Readonly<MountProperties>): string {
  return [escapeMountField(properties.device!), escapeMountField(properties.mountPoint), properties.fstype, properties.options.join(","), properties.dump, properties.pass].join("\t");
}

/** fstab with the entries for `mountPoint` replaced by `line` (first place kept), or removed when `line` is undefined. Pure. */
export function fstabWith(fstab: string, mountPoint: string, line: string | undefined): string {
  const lines = fstab === "" ? [] : fstab.replace(/\n$/, "").split("\n");
  const out: string[] = [];
  let placed = false;
  for (const existing of lines) {
    const entry = parseMountTable(existing)[0];
    if (!entry || entry.mountPoint !== mountPoint) out.push(existing);
    else if (line !== undefined && !placed) {
      out.push(line);
      placed = true;
    }
  }
  if (line !== undefined && !placed) out.push(line);
  return out.length ? `${out.join("\n")}\n` : "";
}

function describe(entry: MountEntry | undefined): string | undefined {
  return entry ? `${entry.device} (${entry.fstype})` : undefined;
}

/** The `mount` resource type. */
export const mountType = defineType({
  name: "mount",
  description: "A mounted file system and its /etc/fstab entry (mount, umount, remount, enable, disable).",
  actions: ["mount", "umount", "remount", "enable", "disable", "nothing"],
  defaultAction: "mount",
  identity: "mountPoint",
  properties,
  validate(properties, actions) {
    const problems: Array<[string, string]> = [];
    if ((actions.includes("mount") || actions.includes("enable")) && properties.device === undefined) problems.push(["device", "is required to mount or enable"]);
    if (properties.options.some((o) => o === "" || /[\s,]/.test(o))) problems.push(["options", "expected options without spaces or commas, one per entry"]);
    return problems;
  },
  provider: {
    async read({ host }, properties, action): Promise<MountCurrent> {
      const writesFstab = action === "enable" || action === "disable";
      const [mounts, fstab, stat, leftovers] = await Promise.all([
        run(host, ["cat", "/proc/self/mounts"]),
        writesFstab ? host.tryReadFile(properties.fstab) : undefined,
        host.tryStat(properties.mountPoint),
        writesFstab ? findLeftovers(host, properties.fstab) : [],
      ]);
      // The last entry wins: it is the file system on top at that point.
      const mounted = parseMountTable(mounts.stdout).filter((entry) => entry.mountPoint === properties.mountPoint).at(-1);
      const text = fstab?.toString("utf8") ?? "";
      const wantFstab = action === "enable" ? fstabWith(text, properties.mountPoint, fstabLine(properties)) : action === "disable" ? fstabWith(text, properties.mountPoint, undefined) : undefined;
      const sameDevice = mounted !== undefined && action === "mount" && (await isDeclaredDevice(host, properties, mounted));
      return { mounted, fstab, wantFstab: wantFstab === undefined ? undefined : Buffer.from(wantFstab), mountPointExists: stat?.type === "directory", sameDevice, ...(leftovers.length > 0 ? { leftovers } : {}) };
    },
    plan(current, properties, action): Plan {
      const change = (row: Change): Plan => ({ changes: [row] });
      switch (action) {
        case "mount": {
          const wanted = `${properties.device} (${properties.fstype})`;
          if (!current.mounted) return change({ property: "mounted", from: undefined, to: wanted });
          const bind = properties.options.includes("bind") || properties.options.includes("rbind");
          const sameType = properties.fstype === "auto" || bind || current.mounted.fstype === properties.fstype;
          return current.sameDevice && sameType ? { changes: [] } : change({ property: "mounted", from: describe(current.mounted), to: wanted });
        }
        case "umount":
          return current.mounted ? change({ property: "mounted", from: describe(current.mounted), to: undefined }) : { changes: [] };
        case "remount":
          // Like restart: acts whenever asked, on a mounted file system.
          return current.mounted ? change({ property: "options", from: current.mounted.options, to: properties.options.join(",") }) : { changes: [] };
        case "enable":
        case "disable": {
          const before = current.fstab ?? Buffer.alloc(0);
          if (before.equals(current.wantFstab!)) return { changes: leftoverChange(current) };
          const line = parseMountTable(before.toString("utf8")).find((entry) => entry.mountPoint === properties.mountPoint);
          return {
            changes: [
              { property: "fstab", from: line ? `${describe(line)} ${line.options}` : undefined, to: action === "enable" ? `${properties.device} (${properties.fstype}) ${properties.options.join(",")}` : undefined },
              ...leftoverChange(current),
            ],
            diff: { property: "fstab", text: contentDiff(properties.fstab, current.fstab, current.wantFstab!) },
          };
        }
        default:
          return { changes: [] };
      }
    },
    async apply({ host }, plan, properties, action, current) {
      const { mountPoint } = properties;
      switch (action) {
        case "mount":
          if (current.mounted) await run(host, ["umount", "--", mountPoint]);
          if (!current.mountPointExists) {
            if (await host.tryLstat(mountPoint)) throw new SousError("wrong-file-type", `cannot mount on ${mountPoint}: it is not a directory`);
            await host.mkdir(mountPoint, { recursive: true, mode: 0o755 });
          }
          await run(host, ["mount", "-t", properties.fstype, "-o", properties.options.join(","), "--", properties.device!, mountPoint]);
          return;
        case "umount":
          await run(host, ["umount", "--", mountPoint]);
          return;
        case "remount":
          await run(host, ["mount", "-o", `remount,${properties.options.filter((o) => o !== "defaults").join(",")}`.replace(/,$/, ""), "--", mountPoint]);
          return;
        default: {
          await removeLeftovers(host, plan, current);
          if (!plan.changes.some((change) => change.property === "fstab")) return;
          const stat = await host.tryStat(properties.fstab);
          await host.writeFileAtomic(properties.fstab, current.wantFstab!, { mode: stat?.mode ?? 0o644 });
        }
      }
    },
  },
});
