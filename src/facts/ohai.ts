/**
 * Side-by-side comparison of Sous's facts with Chef's ohai on the same machine: the keys both
 * report, each marked same, different, explained (a known ohai defect with its reason), or
 * reported by one side only. Used by the comparison test and the W5 benchmark.
 */
import type { Facts } from "./types.js";

/** One compared key. */
export interface FactComparison {
  key: string;
  sous: unknown;
  ohai: unknown;
  status: "same" | "different" | "explained" | "only-sous" | "only-ohai";
  note?: string;
}

/** What the caller knows about the two runs. */
export interface ComparisonContext {
  /** Seconds between the start of one run and the end of the other (uptime moves meanwhile). */
  elapsedSeconds: number;
  /** Facts gathered again after ohai ran: a value that changed meanwhile cannot be judged. */
  sousAfter?: Facts;
  /** Whether /proc/1/environ was readable to the user who ran ohai (ohai 16 fails without it). */
  pid1EnvironReadable: boolean;
}

type Path = readonly string[];

function at(tree: unknown, path: Path): unknown {
  let value = tree;
  for (const part of path) value = value !== null && typeof value === "object" ? (value as Record<string, unknown>)[part] : undefined;
  return value;
}

function equal(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A key compared exactly, or within a tolerance for values that move while the runs happen. */
interface KeySpec {
  path: Path;
  /** ohai's path, when it differs. */
  ohaiPath?: Path;
  /** Accepts a difference of this size (numbers, or numeric strings). */
  tolerance?: (context: ComparisonContext) => number;
}

const EXACT = [
  "platform", "platform_family", "platform_version", "os", "os_version",
  "kernel.name", "kernel.release", "kernel.version", "kernel.machine", "kernel.processor", "kernel.os",
  "hostname", "machinename", "fqdn", "domain", "ipaddress", "ip6address", "macaddress",
  "network.default_interface", "network.default_gateway", "network.default_inet6_interface", "network.default_inet6_gateway",
  "cpu.total", "cpu.real", "cpu.cores", "memory.total", "memory.swap.total",
  "virtualization.system", "virtualization.role", "virtualization.systems",
  "init_package", "root_group", "current_user", "machine_id", "lsb.id", "lsb.release", "lsb.codename", "shells",
];

function keySpecs(sous: Facts): KeySpec[] {
  const specs: KeySpec[] = EXACT.map((key) => ({ path: key.split(".") }));
  specs.push({ path: ["cpu", "model_name"], ohaiPath: ["cpu", "0", "model_name"] });
  specs.push({ path: ["uptime_seconds"], tolerance: (context) => context.elapsedSeconds + 2 });
  for (const field of ["fs_type", "mount_options", "kb_size", "total_inodes"]) specs.push({ path: ["filesystem", "by_mountpoint", "/", field] });
  const rootSize = Number(sous.filesystem.by_mountpoint["/"]?.kb_size ?? 0);
  // Disk usage moves as other processes write; 1% of the size still catches unit errors.
  for (const field of ["kb_used", "kb_available"]) specs.push({ path: ["filesystem", "by_mountpoint", "/", field], tolerance: () => Math.max(1024, rootSize * 0.01) });
  return specs;
}

const STP_STATES = new Set(["disabled", "listening", "learning", "forwarding", "blocking"]);

/** Address family, prefix and scope of each interface both sides list (tags move during DAD). */
function interfaceRows(sous: Facts, ohai: Record<string, unknown>): FactComparison[] {
  const rows: FactComparison[] = [];
  const ohaiInterfaces = (at(ohai, ["network", "interfaces"]) ?? {}) as Record<string, { addresses?: Record<string, Record<string, unknown>>; mtu?: string; state?: string }>;
  for (const [name, iface] of Object.entries(sous.network.interfaces)) {
    const other = ohaiInterfaces[name];
    // Interfaces come and go on a shared machine between the two runs; compare those both saw.
    if (!other) continue;
    const summarize = (addresses: Record<string, { family?: unknown; prefixlen?: unknown; scope?: unknown }> = {}) =>
      Object.fromEntries(Object.entries(addresses).map(([address, a]) => [address, [a.family, a.prefixlen, a.scope].filter((v) => v !== undefined).join(" ")]).sort(([a], [b]) => String(a).localeCompare(String(b))));
    const mine = { mtu: iface.mtu, state: iface.state, addresses: summarize(iface.addresses) };
    const theirs = { mtu: other.mtu, state: other.state, addresses: summarize(other.addresses) };
    const row: FactComparison = { key: `network.interfaces.${name}`, sous: mine, ohai: theirs, status: equal(mine, theirs) ? "same" : "different" };
    // ohai takes the last "state WORD" of `ip -d -s link`; on a bridge port that is the port's
    // spanning-tree state (forwarding, blocking...), not the link's.
    if (row.status === "different" && STP_STATES.has(String(other.state)) && equal({ ...mine, state: undefined }, { ...theirs, state: undefined })) {
      Object.assign(row, { status: "explained", note: "ohai reports a bridge port's spanning-tree state as the link state" });
    }
    rows.push(row);
  }
  return rows;
}

/** Compares the keys both tools report. */
export function compareWithOhai(sous: Facts, ohai: Record<string, unknown>, context: ComparisonContext): FactComparison[] {
  const rows: FactComparison[] = [];
  for (const spec of keySpecs(sous)) {
    const mine = at(sous, spec.path);
    const theirs = at(ohai, spec.ohaiPath ?? spec.path);
    const key = spec.path.join(".");
    if (mine === undefined && (theirs === undefined || theirs === null)) continue;
    // Both null is agreement (`domain` of a host whose FQDN has no dot), not a value only Sous has.
    if (mine === null && theirs === null) rows.push({ key, sous: mine, ohai: theirs, status: "same" });
    else if (theirs === undefined || theirs === null) rows.push({ key, sous: mine, ohai: theirs, status: "only-sous" });
    else if (mine === undefined) rows.push({ key, sous: mine, ohai: theirs, status: "only-ohai" });
    else if (spec.tolerance && Math.abs(Number(mine) - Number(theirs)) <= spec.tolerance(context)) rows.push({ key, sous: mine, ohai: theirs, status: "same", note: mine === theirs ? undefined : "moved between the runs" });
    else rows.push({ key, sous: mine, ohai: theirs, status: equal(mine, theirs) ? "same" : "different" });
  }
  rows.push(...interfaceRows(sous, ohai));
  if (context.sousAfter) {
    const after = new Map([...keySpecs(context.sousAfter).map((spec) => [spec.path.join("."), at(context.sousAfter, spec.path)] as const), ...interfaceRows(context.sousAfter, ohai).map((row) => [row.key, row.sous] as const)]);
    for (const row of rows) {
      if (row.status !== "different") continue;
      const later = after.get(row.key);
      if (equal(later, row.ohai)) Object.assign(row, { status: "same", note: "moved between the runs" });
      else if (!equal(later, row.sous)) Object.assign(row, { status: "explained", note: `changed while the tools ran (sous after: ${show(later)})` });
    }
  }
  // ohai 16's virtualization plugin reads /proc/1/environ unguarded; where that is denied
  // (a sandboxed PID 1, even for root) it stops before its container checks (/.dockerenv...).
  const virtualizationFailed = !context.pid1EnvironReadable;
  for (const row of rows) {
    if (row.status === "different" && virtualizationFailed && row.key.startsWith("virtualization.")) {
      row.status = "explained";
      row.note = "ohai's virtualization plugin fails on the unreadable /proc/1/environ and skips its container checks";
    }
  }
  return rows;
}

function show(value: unknown): string {
  const text = value === undefined ? "-" : typeof value === "string" ? value : JSON.stringify(value);
  return text.length > 70 ? `${text.slice(0, 67)}...` : text;
}

/** A plain-text table of the comparison, differences first. */
export function formatComparison(rows: readonly FactComparison[]): string {
  const order = { different: 0, "only-ohai": 1, explained: 2, "only-sous": 3, same: 4 } as const;
  const sorted = [...rows].sort((a, b) => order[a.status] - order[b.status]);
  const width = Math.max(...sorted.map((r) => r.key.length), 3);
  const lines = sorted.map((r) => {
    const values = r.status === "same" && r.note === undefined ? show(r.sous) : `sous ${show(r.sous)} | ohai ${show(r.ohai)}`;
    return `${r.status.padEnd(10)} ${r.key.padEnd(width)} ${values}${r.note ? `  (${r.note})` : ""}`;
  });
  const count = (status: FactComparison["status"]): number => rows.filter((r) => r.status === status).length;
  lines.push(`${count("same")} same, ${count("different")} different, ${count("only-ohai")} only in ohai, ${count("explained")} explained, ${count("only-sous")} only in sous`);
  return `${lines.join("\n")}\n`;
}
