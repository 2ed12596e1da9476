/**
 * Network facts: interfaces, addresses, routes, and the choice of the node's primary
 * ipaddress, ip6address and macaddress. Input comes from `ip -j` (JSON), from `ip`'s text
 * output on older iproute2 or busybox, or from /sys and /proc when there is no `ip` at all
 * (slim container images); all three become the same raw links and routes first.
 *
 * The primary address is chosen as ohai chooses it, so both name the same address: the source
 * address of the best route towards the default gateway, else the best-scoped address of the
 * default interface that shares the gateway's network, else the best-scoped address anywhere.
 */
import { formatIpv6, ipv4Netmask, networkContains, parseAddress } from "./address.js";
import type { InterfaceAddress, NetworkFacts, NetworkInterface, RouteFacts } from "./types.js";

/** One address as read from the system, before it takes ohai's shape. */
export interface RawAddress {
  family: "inet" | "inet6";
  local: string;
  prefixlen: number;
  scope?: string;
  broadcast?: string;
  peer?: string;
  /** IPv4 alias label such as "eth0:1". */
  label?: string;
  tags: string[];
}

/** One link as read from the system. */
export interface RawLink {
  name: string;
  flags: string[];
  mtu?: number;
  state?: string;
  linkType?: string;
  mac?: string;
  addresses: RawAddress[];
}

/** One route as read from the system. */
export interface RawRoute {
  family: "inet" | "inet6";
  destination: string;
  dev?: string;
  via?: string;
  scope?: string;
  metric?: number;
  proto?: string;
  src?: string;
}

/** The network part of the facts plus the three primary addresses. */
export interface NetworkResult {
  network: NetworkFacts;
  ipaddress?: string;
  ip6address?: string;
  macaddress?: string;
}

// Address flags as `ip` prints them after the scope; ohai keeps them as IPv6 "tags".
const ADDRESS_FLAGS = new Set(["temporary", "secondary", "nodad", "optimistic", "dadfailed", "home", "deprecated", "tentative", "dynamic", "mngtmpaddr", "noprefixroute", "autojoin", "stable-privacy"]);

interface IpJsonAddress {
  family?: string;
  local?: string;
  address?: string;
  prefixlen?: number;
  scope?: string;
  broadcast?: string;
  label?: string;
  [flag: string]: unknown;
}

interface IpJsonLink {
  ifname?: string;
  flags?: string[];
  mtu?: number;
  operstate?: string;
  link_type?: string;
  address?: string;
  addr_info?: IpJsonAddress[];
}

interface IpJsonRoute {
  dst?: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  scope?: string;
  metric?: number;
  prefsrc?: string;
}

function parseJsonArray<T>(text: string): T[] {
  try {
    const value: unknown = JSON.parse(text || "[]");
    return Array.isArray(value) ? (value as T[]) : [];
  } catch {
    return [];
  }
}

/** Links from `ip -j addr show`. */
export function linksFromIpJson(text: string): RawLink[] {
  return parseJsonArray<IpJsonLink>(text)
    .filter((link) => typeof link.ifname === "string")
    .map((link) => ({
      name: link.ifname!,
      flags: link.flags ?? [],
      mtu: link.mtu,
      state: link.operstate?.toLowerCase(),
      linkType: link.link_type,
      mac: link.address,
      addresses: (link.addr_info ?? [])
        .filter((a) => (a.family === "inet" || a.family === "inet6") && typeof a.local === "string")
        .map((a) => ({
          family: a.family as "inet" | "inet6",
          local: a.local!,
          prefixlen: a.prefixlen ?? (a.family === "inet" ? 32 : 128),
          scope: a.scope,
          broadcast: a.broadcast,
          peer: a.address && a.address !== a.local ? a.address : undefined,
          label: a.label,
          tags: Object.keys(a).filter((key) => ADDRESS_FLAGS.has(key) && a[key] === true),
        })),
    }));
}

/** Routes from `ip -j -4|-6 route show table main`. */
export function routesFromIpJson(text: string, family: "inet" | "inet6"): RawRoute[] {
  return parseJsonArray<IpJsonRoute>(text)
    .filter((route) => typeof route.dst === "string")
    .map((route) => ({
      family,
      destination: route.dst!,
      dev: route.dev,
      via: route.gateway,
      scope: route.scope,
      metric: route.metric,
      proto: route.protocol,
      src: route.prefsrc,
    }));
}

/** Links from the text of `ip addr show` (iproute2 without JSON, or busybox). */
export function linksFromIpText(lines: readonly string[]): RawLink[] {
  const links: RawLink[] = [];
  let current: RawLink | undefined;
  for (const line of lines) {
    const head = /^\d+:\s+([^:@\s]+)(?:@\S+)?:\s+<([^>]*)>(.*)$/.exec(line);
    if (head) {
      const rest = head[3]!;
      const mtu = /\bmtu (\d+)/.exec(rest)?.[1];
      current = {
        name: head[1]!,
        flags: head[2] ? head[2].split(",") : [],
        mtu: mtu === undefined ? undefined : Number(mtu),
        state: /\bstate (\S+)/.exec(rest)?.[1]?.toLowerCase(),
        addresses: [],
      };
      links.push(current);
      continue;
    }
    if (!current) continue;
    const link = /^\s+link\/(\S+)(?:\s+(\S+))?/.exec(line);
    if (link) {
      current.linkType = link[1];
      current.mac = link[2];
      continue;
    }
    const inet = /^\s+inet (\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?(.*)$/.exec(line);
    if (inet) {
      const rest = inet[3]!;
      const words = rest.trim().split(/\s+/);
      const last = words[words.length - 1];
      current.addresses.push({
        family: "inet",
        local: inet[1]!,
        prefixlen: inet[2] ? Number(inet[2]) : 32,
        peer: /\bpeer (\d+\.\d+\.\d+\.\d+)/.exec(rest)?.[1],
        broadcast: /\bbrd (\S+)/.exec(rest)?.[1],
        scope: /\bscope (\S+)/.exec(rest)?.[1],
        label: last && last.startsWith(`${current.name}:`) ? last : undefined,
        tags: [],
      });
      continue;
    }
    const inet6 = /^\s+inet6 ([0-9a-fA-F:.]+)\/(\d+)(?: peer \S+)? scope (\S+)(.*)$/.exec(line);
    if (inet6) {
      current.addresses.push({
        family: "inet6",
        local: inet6[1]!,
        prefixlen: Number(inet6[2]),
        scope: inet6[3],
        tags: inet6[4]!.trim().split(/\s+/).filter((word) => ADDRESS_FLAGS.has(word)),
      });
    }
  }
  return links;
}

/** Routes from the text of `ip -4|-6 route show`. */
export function routesFromIpText(lines: readonly string[], family: "inet" | "inet6"): RawRoute[] {
  const routes: RawRoute[] = [];
  for (const line of lines) {
    const words = line.trim().split(/\s+/);
    // Route types (unreachable, blackhole, local...) come first; only unicast routes lead anywhere.
    if (!words[0] || /^(unreachable|blackhole|prohibit|throw|local|broadcast|multicast|anycast|nat)$/.test(words[0])) continue;
    const value = (key: string): string | undefined => {
      const i = words.indexOf(key);
      return i >= 0 ? words[i + 1] : undefined;
    };
    const metric = value("metric");
    routes.push({ family, destination: words[0], dev: value("dev"), via: value("via"), scope: value("scope"), metric: metric === undefined ? undefined : Number(metric), proto: value("proto"), src: value("src") });
  }
  return routes;
}

// Bits of /sys/class/net/*/flags, named as `ip` names them.
const IFF_NAMES: Array<[number, string]> = [
  [0x1000, "MULTICAST"], [0x2, "BROADCAST"], [0x8, "LOOPBACK"], [0x10, "POINTOPOINT"], [0x80, "NOARP"],
  [0x100, "PROMISC"], [0x200, "ALLMULTI"], [0x400, "MASTER"], [0x800, "SLAVE"], [0x1, "UP"],
];

// /proc/net/if_inet6 scope codes.
const PROC_SCOPES: Record<string, string> = { "00": "global", "10": "host", "20": "link", "40": "site" };

function hexToIpv4(littleEndianHex: string): string {
  const value = parseInt(littleEndianHex, 16) >>> 0;
  return [0, 8, 16, 24].map((shift) => (value >>> shift) & 255).join(".");
}

/**
 * Links and routes from /sys/class/net (lines "name mac mtu operstate flags type"),
 * /proc/net/route and /proc/net/if_inet6, for systems without `ip`. IPv4 addresses are not
 * listed there; each interface's IPv4 source comes from its routes where the kernel gives one.
 */
export function fromProc(sysNet: readonly string[], procRoute: readonly string[], ifInet6: readonly string[], fibTrie: readonly string[] = []): { links: RawLink[]; routes: RawRoute[] } {
  const links: RawLink[] = sysNet.map((line) => {
    // The script writes "-" for a value it could not read.
    const [name = "", mac, mtu, state, flags, type] = line.trim().split(/\s+/).map((field) => (field === "-" ? undefined : field));
    const bits = flags ? parseInt(flags, 16) : 0;
    return {
      name,
      mac,
      mtu: mtu ? Number(mtu) : undefined,
      state: state?.toLowerCase(),
      linkType: type === "772" ? "loopback" : type === "1" ? "ether" : type,
      flags: IFF_NAMES.filter(([bit]) => bits & bit).map(([, label]) => label),
      addresses: [],
    };
  });
  const byName = new Map(links.map((link) => [link.name, link]));
  for (const line of ifInet6) {
    const [hex, , prefixHex, scopeHex, , name] = line.trim().split(/\s+/);
    const link = name ? byName.get(name) : undefined;
    if (!link || !hex || hex.length !== 32) continue;
    link.addresses.push({ family: "inet6", local: formatIpv6(BigInt(`0x${hex}`)), prefixlen: parseInt(prefixHex ?? "80", 16), scope: PROC_SCOPES[scopeHex ?? ""] ?? "global", tags: [] });
  }
  const routes: RawRoute[] = [];
  for (const line of procRoute.slice(1)) {
    const [dev, destination, gateway, , , , metric, mask] = line.trim().split(/\s+/);
    if (!dev || !destination || !gateway || !mask) continue;
    const prefix = (parseInt(mask, 16) >>> 0).toString(2).replace(/0/g, "").length;
    routes.push({
      family: "inet",
      destination: destination === "00000000" && prefix === 0 ? "default" : `${hexToIpv4(destination)}/${prefix}`,
      dev,
      via: gateway === "00000000" ? undefined : hexToIpv4(gateway),
      // ip omits a zero metric; so does this, for the same facts either way.
      metric: metric && Number(metric) !== 0 ? Number(metric) : undefined,
    });
  }
  attachLocalIpv4(links, routes, fibTrie);
  return { links, routes };
}

/**
 * /proc/net/fib_trie lists each local IPv4 address as a leaf followed by "/32 host LOCAL";
 * the interface and prefix are those of the most specific link route containing it.
 */
function attachLocalIpv4(links: RawLink[], routes: readonly RawRoute[], fibTrie: readonly string[]): void {
  const locals = new Set<string>();
  let leaf: string | undefined;
  for (const line of fibTrie) {
    const node = /\|--\s+(\d+\.\d+\.\d+\.\d+)/.exec(line);
    if (node) leaf = node[1];
    else if (leaf && /\/32 host LOCAL/.test(line)) locals.add(leaf);
  }
  const loopback = links.find((link) => link.flags.includes("LOOPBACK"));
  for (const address of locals) {
    let best: { dev: string; prefixlen: number } | undefined;
    for (const route of routes) {
      if (route.destination === "default" || route.via || !route.dev) continue;
      const [network = "", prefix = "32"] = route.destination.split("/");
      if (networkContains(network, Number(prefix), address) && (!best || Number(prefix) > best.prefixlen)) best = { dev: route.dev, prefixlen: Number(prefix) };
    }
    // Loopback routes live in the local table, which /proc/net/route does not show; 127.0.0.1 is
    // the loopback's own. Another local address without a main-table route (say 127.0.1.254 on a
    // bridge) cannot be placed on an interface, so it is left out rather than guessed.
    const owner = best ? links.find((link) => link.name === best.dev) : address === "127.0.0.1" ? loopback : undefined;
    if (owner) owner.addresses.unshift({ family: "inet", local: address, prefixlen: best?.prefixlen ?? 8, scope: address.startsWith("127.") ? "host" : "global", tags: [] });
  }
}

function ohaiScope(scope: string | undefined): string | undefined {
  if (!scope) return undefined;
  return scope === "host" ? "Node" : scope.charAt(0).toUpperCase() + scope.slice(1);
}

const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2})+$/;

function encapsulation(linkType: string | undefined): string | undefined {
  if (linkType === "loopback") return "Loopback";
  if (linkType === "ether") return "Ethernet";
  return linkType;
}

function buildInterfaces(links: readonly RawLink[]): Record<string, NetworkInterface> {
  const interfaces: Record<string, NetworkInterface> = {};
  for (const link of links) {
    const iface: NetworkInterface = { flags: link.flags, addresses: {} };
    const numbered = /^(\w+?)(\d+.*)$/.exec(link.name);
    if (numbered) [iface.type, iface.number] = [numbered[1], numbered[2]];
    if (link.mtu !== undefined) iface.mtu = String(link.mtu);
    iface.encapsulation = encapsulation(link.linkType);
    if (link.state) iface.state = link.state;
    interfaces[link.name] = iface;
    if (link.mac && MAC.test(link.mac) && !/^[0:]+$/.test(link.mac)) iface.addresses[link.mac.toUpperCase()] = { family: "lladdr" };
    for (const raw of link.addresses) {
      const entry: InterfaceAddress = { family: raw.family, prefixlen: String(raw.prefixlen) };
      if (raw.family === "inet") {
        entry.netmask = ipv4Netmask(raw.prefixlen);
        if (raw.broadcast) entry.broadcast = raw.broadcast;
        if (raw.peer) entry.peer = raw.peer;
      }
      entry.scope = ohaiScope(raw.scope);
      if (raw.family === "inet6") entry.tags = raw.tags;
      // An IPv4 alias (label eth0:1) shows as its own interface, as ifconfig showed it.
      const owner = raw.family === "inet" && raw.label && raw.label !== link.name && raw.label.startsWith(`${link.name}:`) ? raw.label : link.name;
      interfaces[owner] ??= { flags: [], addresses: {} };
      interfaces[owner].addresses[raw.local] = entry;
    }
  }
  return interfaces;
}

function attachRoutes(interfaces: Record<string, NetworkInterface>, routes: readonly RawRoute[]): Array<RouteFacts & { dev: string }> {
  const attached: Array<RouteFacts & { dev: string }> = [];
  for (const route of routes) {
    const iface = route.dev ? interfaces[route.dev] : undefined;
    if (!iface || !route.dev) continue;
    const addresses = Object.entries(iface.addresses);
    // A route whose source is not on its interface belongs to another one (ohai skips it too).
    if (route.src && !iface.addresses[route.src] && addresses.some(([, a]) => a.family === route.family)) continue;
    const entry: RouteFacts = { destination: route.destination, family: route.family };
    if (route.via) entry.via = route.via;
    if (route.scope) entry.scope = route.scope;
    if (route.metric !== undefined) entry.metric = String(route.metric);
    if (route.proto) entry.proto = route.proto;
    if (route.src) entry.src = route.src;
    (iface.routes ??= []).push(entry);
    attached.push({ ...entry, dev: route.dev });
  }
  return attached;
}

function metricOf(route: RouteFacts): number {
  return route.metric === undefined ? 0 : Number(route.metric);
}

function prefixOf(destination: string, family: "inet" | "inet6"): number {
  if (destination === "default") return 0;
  const [, prefix] = destination.split("/");
  return prefix === undefined ? (family === "inet" ? 32 : 128) : Number(prefix);
}

function compareKeys(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** The first item with the smallest key (keys compared element by element). */
function minBy<T>(items: readonly T[], key: (item: T) => number[]): T | undefined {
  let best: T | undefined;
  let bestKey: number[] = [];
  for (const item of items) {
    const k = key(item);
    if (best === undefined || compareKeys(k, bestKey) < 0) [best, bestKey] = [item, k];
  }
  return best;
}

function routeReachesGateway(route: RouteFacts, defaultRoute: RouteFacts): boolean {
  if (route.destination === "default") return true;
  if (!defaultRoute.via) return false;
  const [network = "", prefix] = route.destination.split("/");
  return networkContains(network, prefix === undefined ? (route.family === "inet" ? 32 : 128) : Number(prefix), defaultRoute.via);
}

function macOf(iface: NetworkInterface | undefined, honourNoarp: boolean): string | undefined {
  if (!iface || (honourNoarp && iface.flags.includes("NOARP"))) return undefined;
  return Object.entries(iface.addresses).find(([, a]) => a.family === "lladdr")?.[0];
}

const SCOPE_ORDER = ["global", "site", "link", "host", "node"];

function scopeRank(scope: string | undefined): number {
  if (scope === undefined) return SCOPE_ORDER.length;
  const i = SCOPE_ORDER.indexOf(scope.toLowerCase());
  return i < 0 ? 999_999 : i;
}

interface Candidate {
  address: string;
  prefixlen: number;
  scope?: string;
  peer?: string;
  iface: string;
  value: bigint;
}

/** The best address of a family: on the default interface, in the gateway's network when possible. */
function chooseAddress(network: NetworkFacts, family: "inet" | "inet6"): Candidate | undefined {
  const candidates: Candidate[] = [];
  for (const [name, iface] of Object.entries(network.interfaces)) {
    for (const [address, entry] of Object.entries(iface.addresses)) {
      if (entry.family !== family) continue;
      const parsed = parseAddress(address);
      if (parsed) candidates.push({ address, prefixlen: Number(entry.prefixlen ?? (family === "inet" ? 32 : 128)), scope: entry.scope, peer: entry.peer, iface: name, value: parsed.value });
    }
  }
  candidates.sort((a, b) => scopeRank(a.scope) - scopeRank(b.scope) || b.prefixlen - a.prefixlen || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
  const defaultInterface = family === "inet" ? network.default_interface : network.default_inet6_interface;
  const gateway = family === "inet" ? network.default_gateway : network.default_inet6_gateway;
  if (!defaultInterface) return candidates[0];
  const onDefault = candidates.filter((c) => c.iface === defaultInterface);
  if (!gateway || gateway === "0.0.0.0" || gateway === "::" || /^fe80:/i.test(gateway)) return onDefault[0];
  return onDefault.find((c) => (c.peer ? c.peer === gateway : networkContains(c.address, c.prefixlen, gateway))) ?? onDefault[0];
}

/** Builds network facts and the primary addresses from raw links and routes. */
export function buildNetwork(links: readonly RawLink[], routes: readonly RawRoute[]): NetworkResult {
  const network: NetworkFacts = { interfaces: buildInterfaces(links) };
  const attached = attachRoutes(network.interfaces, routes);
  const result: NetworkResult = { network };
  for (const family of ["inet", "inet6"] as const) {
    const familyRoutes = attached.filter((r) => r.family === family);
    const defaultRoute = minBy(
      familyRoutes.filter((r) => r.destination === "default"),
      (r) => [metricOf(r)],
    );
    if (!defaultRoute) continue;
    if (family === "inet") {
      network.default_interface = defaultRoute.dev;
      network.default_gateway = defaultRoute.via ?? "0.0.0.0";
    } else {
      network.default_inet6_interface = defaultRoute.dev;
      network.default_inet6_gateway = defaultRoute.via ?? "::";
    }
    const favoured = minBy(
      familyRoutes.filter((r) => {
        const iface = network.interfaces[r.dev];
        if (!iface || !routeReachesGateway(r, defaultRoute)) return false;
        if (family === "inet6") return iface.state === "up";
        if (!r.src) return false;
        const own = Object.values(iface.addresses).some((a) => a.family === "inet");
        const address = iface.addresses[r.src];
        return !own || (address !== undefined && address.scope?.toLowerCase() !== "link");
      }),
      (r) => [r.destination === "default" ? 0 : 1, metricOf(r), prefixOf(r.destination, family)],
    );
    if (!favoured) continue;
    if (family === "inet") {
      result.ipaddress = favoured.src;
      result.macaddress = macOf(network.interfaces[favoured.dev], true);
    } else {
      result.ip6address = favoured.src;
      result.macaddress ??= macOf(network.interfaces[favoured.dev], true);
    }
  }
  for (const family of ["inet", "inet6"] as const) {
    const chosen = chooseAddress(network, family);
    if (family === "inet") result.ipaddress ??= chosen?.address;
    else result.ip6address ??= chosen?.address;
    if (chosen) result.macaddress ??= macOf(network.interfaces[chosen.iface], false);
  }
  return result;
}
