/**
 * known_hosts, read and matched as OpenSSH does: the name looked up is `host` on port 22 and
 * `[host]:port` on any other; a line's host field is a comma-separated list of patterns (`*` and
 * `?` wildcards, case-insensitive) where a matching `!pattern` excludes the line whatever else
 * matches, or one hashed name `|1|salt|hmac` (HMAC-SHA1 of the name keyed by the salt); the
 * markers `@revoked` (this key is never accepted) and `@cert-authority` (the line holds a CA
 * key that signs host certificates, not a host key).
 *
 * One place is stricter than OpenSSH: a key marked `@revoked` is refused for every host, not
 * only for the hosts its patterns name.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";

/** One usable line of a known_hosts file. */
export interface KnownHostEntry {
  /** The host field as written (patterns, or one hashed name). */
  hosts: string;
  marker?: "revoked" | "cert-authority";
  /** The key's algorithm name, e.g. `ssh-ed25519`. */
  keyType: string;
  /** The key, base64 as written. */
  key: string;
  /** 1-based line number, for messages. */
  line: number;
}

/** The name known_hosts records for a host and port (`web1`, `[web1]:2222`, `[::1]:2222`). */
export function knownHostName(host: string, port: number): string {
  const lower = host.toLowerCase();
  return port === 22 ? lower : `[${lower}]:${port}`;
}

/** Parses known_hosts text; comments, blank lines, unknown markers and malformed lines are skipped as OpenSSH skips them. */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split("\n").forEach((raw, index) => {
    let fields = raw.trim().split(/[ \t]+/);
    if (!fields[0] || fields[0].startsWith("#")) return;
    let marker: KnownHostEntry["marker"];
    if (fields[0].startsWith("@")) {
      if (fields[0] === "@revoked") marker = "revoked";
      else if (fields[0] === "@cert-authority") marker = "cert-authority";
      else return;
      fields = fields.slice(1);
    }
    if (fields.length < 3) return;
    entries.push({ hosts: fields[0]!, ...(marker ? { marker } : {}), keyType: fields[1]!, key: fields[2]!, line: index + 1 });
  });
  return entries;
}

/** Reads a known_hosts file; a missing file holds no entries. */
export function readKnownHosts(file: string): KnownHostEntry[] {
  return existsSync(file) ? parseKnownHosts(readFileSync(file, "utf8")) : [];
}

/** OpenSSH's wildcard match: `*` any run of characters, `?` one character, everything else literal, case-insensitive. */
export function wildcardMatches(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase();
  const n = name.toLowerCase();
  // Iterative glob match with backtracking to the last `*`: no regular expression, so `[`, `]` and `.` are plain characters.
  let pi = 0;
  let ni = 0;
  let star = -1;
  let resume = 0;
  while (ni < n.length) {
    if (pi < p.length && (p[pi] === "?" || p[pi] === n[ni])) {
      pi++;
      ni++;
    } else if (pi < p.length && p[pi] === "*") {
      star = pi++;
      resume = ni;
    } else if (star >= 0) {
      pi = star + 1;
      ni = ++resume;
    } else return false;
  }
  while (pi < p.length && p[pi] === "*") pi++;
  return pi === p.length;
}

function hashedMatches(field: string, name: string): boolean {
  const [, magic, salt, hash] = field.split("|");
  if (magic !== "1" || !salt || !hash) return false;
  const expected = Buffer.from(hash, "base64");
  const actual = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** Whether a line's host field names `name` (as {@link knownHostName} gives it). */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith("|")) return hashedMatches(field, name);
  let matched = false;
  for (const pattern of field.split(",")) {
    if (pattern.startsWith("!")) {
      if (wildcardMatches(pattern.slice(1), name)) return false;
    } else if (pattern !== "" && wildcardMatches(pattern, name)) matched = true;
  }
  return matched;
}

/** What known_hosts says about a presented host key. */
export type KnownHostVerdict =
  /** The key is recorded for this host. */
  | { status: "known"; entry: KnownHostEntry }
  /** The key is marked @revoked. */
  | { status: "revoked"; entry: KnownHostEntry }
  /** Other keys are recorded for this host: the presented one is not among them. */
  | { status: "changed"; entries: KnownHostEntry[] }
  /**
   * Nothing is recorded for this host but certificate authorities: the host is meant to prove
   * itself with a certificate, which this client does not check, so its plain key must not be
   * taken on trust either.
   */
  | { status: "certificate-expected"; entries: KnownHostEntry[] }
  /** Nothing is recorded for this host. */
  | { status: "unknown" };

/** Checks a presented key (`keyType`, base64 `key`) of `name` against the entries of a known_hosts file. */
export function checkKnownHost(entries: readonly KnownHostEntry[], name: string, keyType: string, key: string): KnownHostVerdict {
  const revoked = entries.find((entry) => entry.marker === "revoked" && entry.key === key);
  if (revoked) return { status: "revoked", entry: revoked };
  const forHost = entries.filter((entry) => entry.marker !== "revoked" && hostFieldMatches(entry.hosts, name));
  const plain = forHost.filter((entry) => entry.marker === undefined);
  const known = plain.find((entry) => entry.key === key && entry.keyType === keyType);
  if (known) return { status: "known", entry: known };
  if (plain.length > 0) return { status: "changed", entries: plain };
  const authorities = forHost.filter((entry) => entry.marker === "cert-authority");
  if (authorities.length > 0) return { status: "certificate-expected", entries: authorities };
  return { status: "unknown" };
}

/** The key types recorded (unmarked) for a host, in file order: the host key algorithms to ask for first. */
export function knownKeyTypes(entries: readonly KnownHostEntry[], name: string): string[] {
  const types: string[] = [];
  for (const entry of entries) if (entry.marker === undefined && hostFieldMatches(entry.hosts, name) && !types.includes(entry.keyType)) types.push(entry.keyType);
  return types;
}
