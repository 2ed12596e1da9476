/**
 * The local account databases (/etc/passwd, /etc/group, /etc/shadow) as the user and group
 * resources read them: through the Host, fresh on every read, so an account created earlier in
 * the run is seen. Accounts from other NSS sources (LDAP, sssd) are not local and not managed.
 */
import type { Host } from "../host/host.js";

/** One line of /etc/passwd. */
export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  comment: string;
  home: string;
  shell: string;
}

/** One line of /etc/group. */
export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** An account or group name as shadow-utils accepts it. */
export const ACCOUNT_NAME = /^[a-z_][a-z0-9_.-]*\$?$/i;

async function fields(host: Host, path: string): Promise<string[][]> {
  const text = (await host.tryReadFile(path))?.toString("utf8") ?? "";
  return text
    .split("\n")
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => line.split(":"));
}

/** The entry of one user in /etc/passwd, or undefined. */
export async function readPasswdEntry(host: Host, name: string): Promise<PasswdEntry | undefined> {
  const row = (await fields(host, "/etc/passwd")).find((f) => f[0] === name);
  if (!row) return undefined;
  return { name, uid: Number(row[2]), gid: Number(row[3]), comment: row[4] ?? "", home: row[5] ?? "", shell: row[6] ?? "" };
}

/** Every group in /etc/group. */
export async function readGroups(host: Host): Promise<GroupEntry[]> {
  return (await fields(host, "/etc/group")).map((f) => ({ name: f[0]!, gid: Number(f[2]), members: (f[3] ?? "").split(",").filter(Boolean) }));
}

/** The password field of a user in /etc/shadow (a hash, `!`-prefixed when locked), or undefined. */
export async function readShadowPassword(host: Host, name: string): Promise<string | undefined> {
  return (await fields(host, "/etc/shadow")).find((f) => f[0] === name)?.[1];
}

/** Whether two name lists hold the same names, in any order. */
export function sameNames(left: readonly string[], right: readonly string[]): boolean {
  const a = [...new Set(left)].sort();
  const b = [...new Set(right)].sort();
  return a.length === b.length && a.every((name, index) => name === b[index]);
}
