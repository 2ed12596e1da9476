/** IPv4 and IPv6 address arithmetic for choosing a node's primary addresses. */

/** An address as a number, with its family's width. */
export interface ParsedAddress {
  version: 4 | 6;
  value: bigint;
}

function parseIpv4(text: string): bigint | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = (value << 8n) | BigInt(part);
  }
  return value;
}

function parseIpv6(text: string): bigint | undefined {
  let body = text.replace(/%.*$/, "");
  // An embedded IPv4 tail (::ffff:192.0.2.1) counts as two groups.
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(body);
  if (v4) {
    const tail = parseIpv4(v4[2]!);
    if (tail === undefined) return undefined;
    body = `${v4[1]}${(tail >> 16n).toString(16)}:${(tail & 0xffffn).toString(16)}`;
  }
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  let value = 0n;
  for (const group of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
    value = (value << 16n) | BigInt(`0x${group}`);
  }
  return value;
}

/** Parses a dotted IPv4 or a colon IPv6 address; undefined when it is neither. */
export function parseAddress(text: string): ParsedAddress | undefined {
  if (text.includes(":")) {
    const value = parseIpv6(text);
    return value === undefined ? undefined : { version: 6, value };
  }
  const value = parseIpv4(text);
  return value === undefined ? undefined : { version: 4, value };
}

/** Whether `candidate` lies in the network `address/prefixlen` (same family only). */
export function networkContains(address: string, prefixlen: number, candidate: string): boolean {
  const network = parseAddress(address);
  const other = parseAddress(candidate);
  if (!network || !other || network.version !== other.version) return false;
  const width = network.version === 4 ? 32n : 128n;
  const shift = width - BigInt(Math.max(0, Math.min(prefixlen, Number(width))));
  return network.value >> shift === other.value >> shift;
}

/** The dotted IPv4 netmask of a prefix length ("255.255.255.0" for 24). */
export function ipv4Netmask(prefixlen: number): string {
  const bits = prefixlen <= 0 ? 0 : prefixlen >= 32 ? 0xffffffff : (0xffffffff << (32 - prefixlen)) >>> 0;
  return [24, 16, 8, 0].map((shift) => (bits >>> shift) & 255).join(".");
}

/** Formats a 128-bit number as a compressed IPv6 address (longest zero run as "::"). */
export function formatIpv6(value: bigint): string {
  const groups: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(Number((value >> shift) & 0xffffn));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}
