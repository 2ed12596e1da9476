/**
 * What the apt-based resources share: reading package state from dpkg, candidates from
 * `apt-cache policy`, comparing Debian versions with dpkg's own rules, and running apt-get
 * non-interactively. Reads never write: apt's binary caches are built in memory only.
 */
import { SousError } from "../core/errors.js";
import { CommandFailedError, type Host, run, succeeded } from "../host/host.js";

/** Environment of every apt and dpkg command: no questions, stable English output. */
export const APT_ENV: Readonly<Record<string, string>> = { DEBIAN_FRONTEND: "noninteractive", APT_LISTCHANGES_FRONTEND: "none", LC_ALL: "C" };

/** A package name as dpkg accepts it, optionally with an architecture (`libc6:i386`). */
export const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$/;

/** What dpkg knows about one package. */
export interface DpkgState {
  name: string;
  /** `broken`: unpacked or half-configured; an install finishes it. */
  status: "installed" | "config-files" | "absent" | "broken";
  version: string | undefined;
}

const INSTALLED_STATES = new Set(["installed", "triggers-awaited", "triggers-pending"]);

/** Reads the dpkg state of each package in one `dpkg-query` call. */
export async function readDpkgStates(host: Host, names: readonly string[]): Promise<Map<string, DpkgState>> {
  const result = await host.exec(["dpkg-query", "-W", "-f", "${binary:Package}\\t${Package}\\t${Status}\\t${Version}\\n", "--", ...names], { env: { ...APT_ENV } });
  if (result.exitCode === 127) throw new SousError("no-package-manager", `${host.name} has no dpkg-query: the package resource supports apt/dpkg systems only (${result.stderr.trim()})`);
  // Exit 1 only says some names are unknown to dpkg: they are simply absent.
  if (!succeeded(result, [0, 1])) throw new CommandFailedError(result);
  const rows = result.stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => line.split("\t"))
    .map(([binary = "", plain = "", status = "", version = ""]) => ({ binary, plain, state: status.split(" ")[2] ?? "", version }));
  const states = new Map<string, DpkgState>();
  for (const name of names) {
    const matching = rows.filter((row) => (name.includes(":") ? row.binary === name : row.plain === name));
    const row = matching.find((r) => INSTALLED_STATES.has(r.state)) ?? matching.find((r) => r.state === "config-files") ?? matching[0];
    const status: DpkgState["status"] = !row || row.state === "not-installed" ? "absent" : INSTALLED_STATES.has(row.state) ? "installed" : row.state === "config-files" ? "config-files" : "broken";
    states.set(name, { name, status, version: status === "absent" || !row?.version ? undefined : row.version });
  }
  return states;
}

/** What apt would install for one package. */
export interface AptPolicy {
  /** undefined when apt knows no installable version. */
  candidate: string | undefined;
  /** Every version apt knows, newest first. */
  versions: string[];
}

/** Options that keep apt from writing its binary caches while it only reads. */
const NO_CACHE_WRITES = ["-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache="];

/** Parses `apt-cache policy` output (LC_ALL=C) into candidates and known versions per package. */
export function parseAptPolicy(text: string): Map<string, AptPolicy> {
  const policies = new Map<string, AptPolicy>();
  let current: AptPolicy | undefined;
  let inTable = false;
  for (const line of text.split("\n")) {
    const header = /^(\S+):$/.exec(line);
    if (header) {
      current = { candidate: undefined, versions: [] };
      policies.set(header[1]!, current);
      inTable = false;
      continue;
    }
    if (!current) continue;
    const candidate = /^ {2}Candidate: (\S+)$/.exec(line);
    if (candidate) current.candidate = candidate[1] === "(none)" ? undefined : candidate[1];
    else if (/^ {2}Version table:/.test(line)) inTable = true;
    else if (inTable) {
      const version = /^ (?:\*\*\*| {3}) (\S+) -?\d+$/.exec(line);
      if (version) current.versions.push(version[1]!);
    }
  }
  return policies;
}

/** Reads candidates and known versions of packages in one `apt-cache policy` call. */
export async function readAptPolicy(host: Host, names: readonly string[]): Promise<Map<string, AptPolicy>> {
  const result = await run(host, ["apt-cache", ...NO_CACHE_WRITES, "policy", "--", ...names], { env: { ...APT_ENV } });
  const parsed = parseAptPolicy(result.stdout);
  const policies = new Map<string, AptPolicy>();
  for (const name of names) policies.set(name, parsed.get(name) ?? { candidate: undefined, versions: [] });
  return policies;
}

/** Compares two Debian versions with dpkg's rules (epochs, `~`, revisions): semver is wrong for them. */
export async function compareDebianVersions(host: Host, left: string, operator: "lt" | "eq" | "gt", right: string): Promise<boolean> {
  const result = await host.exec(["dpkg", "--compare-versions", left, operator, right], { env: { ...APT_ENV } });
  if (result.exitCode === 0) return true;
  if (result.exitCode === 1) return false;
  throw new CommandFailedError(result, "comparing Debian versions");
}

/** An apt-get command line: non-interactive, keeping changed config files, waiting for the dpkg lock. */
export function aptGet(subcommand: string, args: readonly string[], extraOptions: readonly string[] = []): string[] {
  return [
    "apt-get",
    "-q",
    "-y",
    "-o", "DPkg::Lock::Timeout=300",
    "-o", "Dpkg::Options::=--force-confdef",
    "-o", "Dpkg::Options::=--force-confold",
    ...extraOptions,
    subcommand,
    ...(args.length ? ["--", ...args] : []),
  ];
}
