/**
 * The facts every converge needs (platform, hostname, kernel, cpu, memory, address),
 * read through the Host in one command so the same code serves local and SSH targets.
 */
import type { AttributeTree } from "../dsl.js";
import type { Host } from "../host/host.js";

const SCRIPT = [
  "echo '@@os-release'; cat /etc/os-release 2>/dev/null",
  "echo '@@uname'; uname -s; uname -r; uname -m",
  "echo '@@hostname'; hostname 2>/dev/null || cat /proc/sys/kernel/hostname; hostname -f 2>/dev/null || true",
  "echo '@@cpus'; grep -c '^processor' /proc/cpuinfo 2>/dev/null",
  "echo '@@meminfo'; grep -E '^(MemTotal|MemFree|SwapTotal|SwapFree):' /proc/meminfo 2>/dev/null",
  "echo '@@route'; ip -o -4 route get 1.1.1.1 2>/dev/null || true",
  "echo '@@user'; id -un",
].join("; ");

function sections(text: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  let current = "";
  for (const line of text.split("\n")) {
    const match = /^@@(.+)$/.exec(line);
    if (match) out[(current = match[1]!)] = [];
    else if (current && line !== "") out[current]!.push(line);
  }
  return out;
}

const FAMILY: Record<string, string> = { debian: "debian", ubuntu: "debian", raspbian: "debian", linuxmint: "debian", rhel: "rhel", centos: "rhel", fedora: "fedora", rocky: "rhel", almalinux: "rhel", amzn: "amazon", alpine: "alpine", arch: "arch", opensuse: "suse", sles: "suse" };

/** Gathers basic facts from a host; fields it cannot read are left out. */
export async function gatherBasicFacts(host: Host): Promise<AttributeTree> {
  const result = await host.exec({ shell: SCRIPT }, { timeoutMs: 15_000 });
  const s = sections(result.stdout);
  const osRelease: Record<string, string> = {};
  for (const line of s["os-release"] ?? []) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line);
    if (match) osRelease[match[1]!] = match[2]!.replace(/^"(.*)"$/, "$1");
  }
  const [kernelName, kernelRelease, machine] = s.uname ?? [];
  const [hostnameLine, fqdnLine] = s.hostname ?? [];
  const hostname = (hostnameLine ?? "").split(".")[0] ?? "";
  const fqdn = fqdnLine && fqdnLine.includes(".") ? fqdnLine : hostnameLine ?? hostname;
  const memory: Record<string, string> = {};
  for (const line of s.meminfo ?? []) {
    const match = /^(\w+):\s+(\d+)\s*kB/.exec(line);
    if (match) memory[match[1]!] = `${match[2]}kB`;
  }
  const route = (s.route ?? [])[0] ?? "";
  const platform = osRelease.ID ?? (kernelName ?? "unknown").toLowerCase();
  return {
    hostname,
    fqdn,
    domain: fqdn.includes(".") ? fqdn.slice(fqdn.indexOf(".") + 1) : undefined,
    os: (kernelName ?? "").toLowerCase(),
    platform,
    platform_family: FAMILY[platform] ?? osRelease.ID_LIKE?.split(" ")[0] ?? platform,
    platform_version: osRelease.VERSION_ID ?? "",
    kernel: { name: kernelName, release: kernelRelease, machine },
    cpu: { total: Number((s.cpus ?? [])[0] ?? 0) || undefined },
    memory: { total: memory.MemTotal, free: memory.MemFree, swap: { total: memory.SwapTotal, free: memory.SwapFree } },
    ipaddress: /\bsrc\s+(\S+)/.exec(route)?.[1],
    current_user: (s.user ?? [])[0],
  };
}
