/**
 * File system facts from /proc/mounts and `df -P` (POSIX output: one line per file system,
 * never wrapped), indexed by device and by mount point as ohai indexes them.
 */
import type { FilesystemEntry, FilesystemFacts } from "./types.js";

/** Decodes the octal escapes /proc/mounts uses for spaces, tabs and backslashes ("\040"). */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

interface DfRow {
  device: string;
  mountpoint: string;
  numbers: [string, string, string, string];
}

function parseDf(lines: readonly string[]): DfRow[] {
  const rows: DfRow[] = [];
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 6) continue;
    // A mount point may hold spaces; it is everything after the fifth field.
    const [device, a, b, c, d, ...rest] = fields as [string, string, string, string, string, ...string[]];
    rows.push({ device, mountpoint: rest.join(" "), numbers: [a, b, c, d] });
  }
  return rows;
}

function entry(table: Record<string, FilesystemEntry>, key: string): FilesystemEntry {
  return (table[key] ??= {});
}

function addUnique(list: string[] | undefined, value: string): string[] {
  const out = list ?? [];
  if (!out.includes(value)) out.push(value);
  return out;
}

/** Builds by_device and by_mountpoint; later mounts of a point hide earlier ones, as the kernel does. */
export function parseFilesystems(mounts: readonly string[], df: readonly string[], dfInodes: readonly string[]): FilesystemFacts {
  const facts: FilesystemFacts = { by_device: {}, by_mountpoint: {} };
  for (const line of mounts) {
    const [rawDevice, rawMountpoint, fsType, options] = line.split(/\s+/);
    if (!rawDevice || !rawMountpoint || !fsType) continue;
    const device = unescapeMountField(rawDevice);
    const mountpoint = unescapeMountField(rawMountpoint);
    const mountOptions = options ? options.split(",") : [];
    const byMount = entry(facts.by_mountpoint, mountpoint);
    Object.assign(byMount, { fs_type: fsType, mount_options: mountOptions });
    byMount.devices = addUnique(byMount.devices, device);
    const byDevice = entry(facts.by_device, device);
    Object.assign(byDevice, { fs_type: fsType, mount_options: mountOptions });
    byDevice.mounts = addUnique(byDevice.mounts, mountpoint);
  }
  for (const row of parseDf(df)) {
    const [size, used, available, percent] = row.numbers;
    const values = { kb_size: size, kb_used: used, kb_available: available, percent_used: percent };
    Object.assign(entry(facts.by_mountpoint, row.mountpoint), values);
    Object.assign(entry(facts.by_device, row.device), values);
  }
  for (const row of parseDf(dfInodes)) {
    const [total, used, available, percent] = row.numbers;
    // Some file systems (vfat, btrfs) have no inode table: df prints "-" or 0 for them.
    if (!/^\d+$/.test(total)) continue;
    const values = { total_inodes: total, inodes_used: used, inodes_available: available, inodes_percent_used: percent };
    Object.assign(entry(facts.by_mountpoint, row.mountpoint), values);
    Object.assign(entry(facts.by_device, row.device), values);
  }
  return facts;
}
