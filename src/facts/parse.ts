/**
 * Turns the facts script's output into typed facts. Every function here is pure (text in,
 * facts out), so each part is tested with recorded outputs of real machines.
 */
import { buildNetwork, fromProc, linksFromIpJson, linksFromIpText, type NetworkResult, routesFromIpJson, routesFromIpText } from "./network.js";
import { parseFilesystems } from "./filesystem.js";
import { SECTION_MARKER } from "./script.js";
import type { CpuFacts, Facts, KernelFacts, LsbFacts, MemoryFacts } from "./types.js";
import { detectVirtualization } from "./virtualization.js";

/** The script's output split at its markers: section name → non-empty lines. */
export function splitSections(output: string): Record<string, string[]> {
  const sections: Record<string, string[]> = {};
  let current: string[] | undefined;
  for (const line of output.split("\n")) {
    if (line.startsWith(SECTION_MARKER)) sections[line.slice(SECTION_MARKER.length).trim()] = current = [];
    else if (current && line.trim() !== "") current.push(line);
  }
  return sections;
}

/** `KEY=value` lines (os-release, lsb-release, the script's own) into a record; quotes removed. */
export function parseKeyValues(lines: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of lines) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match) continue;
    let value = match[2]!.trim();
    if (/^"(.*)"$/.test(value)) value = value.slice(1, -1).replace(/\\(["$`\\])/g, "$1");
    else if (/^'(.*)'$/.test(value)) value = value.slice(1, -1);
    out[match[1]!] = value;
  }
  return out;
}

// os-release IDs that ohai (and so every Chef recipe) names differently.
const PLATFORM_NAMES: Record<string, string> = { alinux: "alibabalinux", amzn: "amazon", archarm: "arch", "cumulus-linux": "cumulus", ol: "oracle", "opensuse-leap": "opensuseleap", rhel: "redhat", sles_sap: "suse", sles: "suse", xenenterprise: "xenserver" };

const FAMILIES: Array<[RegExp, string]> = [
  [/debian|ubuntu|linuxmint|raspbian|cumulus|kali|pop/, "debian"],
  [/oracle|centos|redhat|almalinux|rocky|scientific|enterpriseenterprise|xcp|xenserver|cloudlinux|ibm_powerkvm|parallels|nexus_centos|clearos|bigip|alibabalinux|sangoma/, "rhel"],
  [/amazon/, "amazon"],
  [/suse|sles|opensuse|sled/, "suse"],
  [/fedora|pidora|arista_eos/, "fedora"],
  [/nexus|ios_xr/, "wrlinux"],
  [/gentoo/, "gentoo"],
  [/slackware/, "slackware"],
  [/arch|manjaro|antergos/, "arch"],
  [/exherbo/, "exherbo"],
  [/alpine/, "alpine"],
  [/clearlinux/, "clearlinux"],
];

function familyOf(platform: string): string | undefined {
  return FAMILIES.find(([pattern]) => pattern.test(platform))?.[1];
}

function redhatVersion(release: string | undefined): string | undefined {
  return release ? /(?:release)? ([\d.]+)/.exec(release)?.[1] : undefined;
}

/** platform, platform_family and platform_version from os-release and the legacy release files. */
export function parsePlatform(sections: Record<string, string[]>, kernel: KernelFacts): Pick<Facts, "platform" | "platform_family" | "platform_version"> {
  const osRelease = parseKeyValues(sections["os-release"]);
  const debianVersion = sections["debian-version"]?.[0]?.trim();
  const redhatRelease = sections["redhat-release"]?.[0];
  let platform: string;
  let version: string | undefined;
  if (osRelease.ID) {
    platform = PLATFORM_NAMES[osRelease.ID] ?? osRelease.ID;
    if (osRelease.ID === "centos") version = redhatVersion(redhatRelease) ?? osRelease.VERSION_ID;
    // Debian testing and unstable have no VERSION_ID; debian_version says "trixie/sid".
    else version = osRelease.VERSION_ID ?? (osRelease.ID === "debian" ? debianVersion : undefined);
  } else if (debianVersion !== undefined) {
    platform = "debian";
    version = debianVersion;
  } else if (redhatRelease) {
    platform = /^Red Hat/i.test(redhatRelease) ? "redhat" : (/(\w+)/.exec(redhatRelease)?.[1] ?? "redhat").toLowerCase();
    version = redhatVersion(redhatRelease);
  } else {
    platform = kernel.name.toLowerCase() || "unknown";
  }
  const likeFamily = (osRelease.ID_LIKE ?? "").split(/\s+/).map(familyOf).find((f) => f !== undefined);
  return { platform, platform_family: familyOf(platform) ?? likeFamily ?? platform, platform_version: version ?? kernel.release };
}

/** The `uname` section. */
export function parseKernel(lines: readonly string[] = []): KernelFacts {
  // Taken verbatim after the first "=": uname -v holds spaces and '#'.
  const raw = (key: string): string => lines.find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1).trim() ?? "";
  return { name: raw("name"), release: raw("release"), version: raw("version"), machine: raw("machine"), processor: raw("processor") || "unknown", os: raw("os") };
}

/** The `hostname` section: ohai's hostname, machinename, fqdn and domain. */
export function parseHostname(lines: readonly string[] = []): Pick<Facts, "hostname" | "machinename" | "fqdn" | "domain"> {
  const values = parseKeyValues(lines);
  const machinename = values.machinename ?? "";
  const hostname = values.short || (machinename.split(".")[0] ?? "");
  const fqdn = values.fqdn || undefined;
  // An FQDN without a dot has no domain: null, not absent, so `domain:*` and attribute reads see the key as ohai has it.
  const domain = fqdn ? (/^.+?\.(.+)$/.exec(fqdn)?.[1] ?? null) : undefined;
  return { hostname, machinename, ...(fqdn ? { fqdn } : {}), ...(domain !== undefined ? { domain } : {}) };
}

const CPU_FIELDS: Record<string, keyof CpuFacts> = { vendor_id: "vendor_id", "cpu family": "family", model: "model", "model name": "model_name", stepping: "stepping", "cpu MHz": "mhz", "cache size": "cache_size" };

/** /proc/cpuinfo (filtered by the script), with lscpu's counts where cpuinfo lacks packages. */
export function parseCpu(cpuinfo: readonly string[] = [], lscpu: readonly string[] = []): CpuFacts {
  const cpu: CpuFacts = { total: 0 };
  const packages = new Set<string>();
  let firstCores: string | undefined;
  for (const line of cpuinfo) {
    const match = /^([^:]+?)\s*:\s?(.*)$/.exec(line);
    if (!match) continue;
    const [, key, value] = match as unknown as [string, string, string];
    if (key === "processor" || /^processor \d+$/.test(key)) {
      cpu.total++;
      continue;
    }
    const first = cpu.total <= 1;
    if (key === "physical id") packages.add(value);
    else if (key === "cpu cores" && first) firstCores = value;
    else if ((key === "flags" || key === "Features") && !cpu.flags) cpu.flags = value.split(/\s+/).filter(Boolean);
    else if (first && CPU_FIELDS[key] && cpu[CPU_FIELDS[key]] === undefined) (cpu as unknown as Record<string, string>)[CPU_FIELDS[key]] = value;
  }
  if (packages.size > 0 && firstCores !== undefined) {
    cpu.real = packages.size;
    cpu.cores = packages.size * Number(firstCores);
  } else if (lscpu.length > 0) {
    const field = (name: string): number | undefined => {
      const line = lscpu.find((l) => l.startsWith(`${name}:`));
      return line ? Number(line.slice(name.length + 1).trim()) : undefined;
    };
    const [sockets, cores, threads] = [field("Socket(s)"), field("Core(s) per socket"), field("Thread(s) per core")];
    if (sockets && cores && threads) Object.assign(cpu, { total: sockets * cores * threads, real: sockets, cores: sockets * cores });
  }
  // ARM kernels name no model in cpuinfo; lscpu knows it from the CPU's part number.
  const lscpuModel = lscpu.find((l) => l.startsWith("Model name:"));
  if (!cpu.model_name && lscpuModel) cpu.model_name = lscpuModel.slice("Model name:".length).trim();
  return cpu;
}

// /proc/meminfo names → ohai's names (values keep the kernel's unit: "16384000kB").
const MEMORY_NAMES: Record<string, string> = {
  MemTotal: "total", MemFree: "free", MemAvailable: "available", Buffers: "buffers", Cached: "cached", Active: "active", Inactive: "inactive",
  HighTotal: "high_total", HighFree: "high_free", LowTotal: "low_total", LowFree: "low_free", Dirty: "dirty", Writeback: "writeback",
  AnonPages: "anon_pages", Mapped: "mapped", Slab: "slab", SReclaimable: "slab_reclaimable", SUnreclaim: "slab_unreclaim", PageTables: "page_tables",
  NFS_Unstable: "nfs_unstable", Bounce: "bounce", CommitLimit: "commit_limit", Committed_AS: "committed_as", VmallocTotal: "vmalloc_total",
  VmallocUsed: "vmalloc_used", VmallocChunk: "vmalloc_chunk", Hugepagesize: "hugepage_size", Hugetlb: "hugetlb",
};
const SWAP_NAMES: Record<string, "total" | "free" | "cached"> = { SwapTotal: "total", SwapFree: "free", SwapCached: "cached" };
const HUGEPAGE_NAMES: Record<string, "total" | "free" | "reserved" | "surplus"> = { HugePages_Total: "total", HugePages_Free: "free", HugePages_Rsvd: "reserved", HugePages_Surp: "surplus" };

/** /proc/meminfo in ohai's shape. */
export function parseMemory(lines: readonly string[] = []): MemoryFacts {
  const memory: MemoryFacts = { swap: {} };
  for (const line of lines) {
    const match = /^(\w+)(?:\((\w+)\))?:\s+(\d+)(?:\s+(\S+))?/.exec(line);
    if (!match) continue;
    const [, name, , amount, unit] = match as unknown as [string, string, string | undefined, string, string | undefined];
    const value = `${amount}${unit ?? ""}`;
    if (SWAP_NAMES[name]) memory.swap[SWAP_NAMES[name]] = value;
    else if (HUGEPAGE_NAMES[name]) (memory.hugepages ??= {})[HUGEPAGE_NAMES[name]] = amount;
    else if (name.startsWith("DirectMap")) (memory.directmap ??= {})[name.slice("DirectMap".length)] = value;
    else if (MEMORY_NAMES[name]) memory[MEMORY_NAMES[name]] = value;
  }
  return memory;
}

/** Seconds as ohai writes a duration: "2 days 03 hours 04 minutes 05 seconds". */
export function humanDuration(totalSeconds: number): string {
  const days = Math.floor(totalSeconds / 86400);
  const hours = Math.floor((totalSeconds % 86400) / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = Math.floor(totalSeconds % 60);
  const two = (n: number): string => String(n).padStart(2, "0");
  if (days > 0) return `${days} day${days > 1 ? "s" : ""} ${two(hours)} hours ${two(minutes)} minutes ${two(seconds)} seconds`;
  if (hours > 0) return `${hours} hours ${two(minutes)} minutes ${two(seconds)} seconds`;
  if (minutes > 0) return `${minutes} minutes ${two(seconds)} seconds`;
  return `${two(seconds)} seconds`;
}

const PACKAGE_MANAGERS: Record<string, string> = { "apt-get": "apt", "xbps-install": "xbps" };

/**
 * LSB facts without running lsb_release (a Python program: slow): its answers come from
 * /etc/lsb-release where present, else from os-release. Reported only where lsb_release or
 * /etc/lsb-release exists, as ohai reports them.
 */
function parseLsb(lines: readonly string[] | undefined, osRelease: Record<string, string>): LsbFacts | undefined {
  const values = parseKeyValues(lines);
  if (values.DISTRIB_ID) return { id: values.DISTRIB_ID, description: values.DISTRIB_DESCRIPTION, release: values.DISTRIB_RELEASE, codename: values.DISTRIB_CODENAME };
  if (!values.SOUS_LSB_RELEASE_COMMAND || !osRelease.NAME) return undefined;
  return { id: osRelease.NAME.split(/\s+/)[0], description: osRelease.PRETTY_NAME, release: osRelease.VERSION_ID, codename: osRelease.VERSION_CODENAME };
}

function parseNetwork(sections: Record<string, string[]>): NetworkResult {
  if (sections["ip-json-addr"]) {
    const links = linksFromIpJson(sections["ip-json-addr"].join("\n"));
    const routes = [...routesFromIpJson((sections["ip-json-route4"] ?? []).join("\n"), "inet"), ...routesFromIpJson((sections["ip-json-route6"] ?? []).join("\n"), "inet6")];
    return buildNetwork(links, routes);
  }
  if (sections["ip-addr"]) {
    const routes = [...routesFromIpText(sections["ip-route4"] ?? [], "inet"), ...routesFromIpText(sections["ip-route6"] ?? [], "inet6")];
    return buildNetwork(linksFromIpText(sections["ip-addr"]), routes);
  }
  const { links, routes } = fromProc(sections["sys-net"] ?? [], sections["proc-route"] ?? [], sections["proc-if-inet6"] ?? [], sections["proc-fib-trie"] ?? []);
  return buildNetwork(links, routes);
}

/** The complete facts from the facts script's output. */
export function parseFacts(output: string): Facts {
  const sections = splitSections(output);
  const kernel = parseKernel(sections.uname);
  const ids = parseKeyValues(sections.ids);
  const cpu = parseCpu(sections.cpuinfo, sections.lscpu);
  const [uptime, idle] = (sections.uptime?.[0] ?? "").trim().split(/\s+/).map((n) => Math.floor(Number(n)));
  const managers = sections["package-managers"] ?? [];
  const network = parseNetwork(sections);
  const lsb = parseLsb(sections["lsb-release"], parseKeyValues(sections["os-release"]));
  const cpuModelLine = (sections.cpuinfo ?? []).find((l) => /^model name\s*:/.test(l));
  const facts: Facts = {
    ...parsePlatform(sections, kernel),
    os: kernel.name.toLowerCase(),
    os_version: kernel.release,
    kernel,
    ...parseHostname(sections.hostname),
    ...(network.ipaddress ? { ipaddress: network.ipaddress } : {}),
    ...(network.ip6address ? { ip6address: network.ip6address } : {}),
    ...(network.macaddress ? { macaddress: network.macaddress } : {}),
    network: network.network,
    cpu,
    memory: parseMemory(sections.meminfo),
    filesystem: parseFilesystems(sections.mounts ?? [], sections.df ?? [], sections["df-inodes"] ?? []),
    virtualization: detectVirtualization({ lines: sections.virt ?? [], cgroup: sections.cgroup ?? [], cpuModel: cpuModelLine?.replace(/^[^:]*:\s*/, ""), cpuFlags: cpu.flags }),
    init_package: sections.init?.[0]?.trim() || "init",
  };
  if (uptime !== undefined && Number.isFinite(uptime)) Object.assign(facts, { uptime_seconds: uptime, uptime: humanDuration(uptime) });
  if (idle !== undefined && Number.isFinite(idle)) Object.assign(facts, { idletime_seconds: idle, idletime: humanDuration(idle) });
  if (managers[0]) facts.package_manager = PACKAGE_MANAGERS[managers[0]] ?? managers[0];
  if (ids.user) facts.current_user = ids.user;
  if (ids.root_group) facts.root_group = ids.root_group;
  if (sections["machine-id"]?.[0]) facts.machine_id = sections["machine-id"][0].trim();
  if (lsb) facts.lsb = lsb;
  // The script prints the section only when /etc/shells is readable; ohai keeps the lines that are paths.
  if (sections.shells !== undefined) facts.shells = sections.shells.map((line) => line.trim()).filter((line) => line.startsWith("/"));
  return facts;
}
