/**
 * What the `package` resource needs on dnf/rpm systems: installed state from rpm's database,
 * what the repositories offer from `dnf repoquery`, and dnf command lines. Versions are rpm's
 * `[epoch:]version-release`; which one is newer is left to dnf, whose ordering is rpm's.
 */
import { SousError } from "../core/errors.js";
import { CommandFailedError, type Host, run, succeeded } from "../host/host.js";

/** Environment of every rpm and dnf command: stable English output. */
export const DNF_ENV: Readonly<Record<string, string>> = { LC_ALL: "C" };

/** A package name as rpm accepts it (`perl-Data-Dumper`, `python3.11`, `libstdc++`). */
export const RPM_PACKAGE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_+.-]*$/;

/** One package build: rpm's epoch, version-release and architecture. */
export interface RpmBuild {
  name: string;
  /** 0 when the package declares none. */
  epoch: number;
  /** `version-release`. */
  versionRelease: string;
  arch: string;
}

/** How a version is shown and given to dnf: `1.0-1`, or `2:1.0-1` when there is an epoch. */
export function rpmVersion(build: RpmBuild): string {
  return build.epoch > 0 ? `${build.epoch}:${build.versionRelease}` : build.versionRelease;
}

/**
 * Whether a build is the one a pin names. A pin is `[epoch:]version[-release]`: without a
 * release any release matches, without an epoch any epoch does, as `dnf install name-1.0` does.
 */
export function rpmPinMatches(build: RpmBuild, pin: string): boolean {
  const epochMatch = /^(\d+):(.*)$/.exec(pin);
  const rest = epochMatch ? epochMatch[2]! : pin;
  if (epochMatch && Number(epochMatch[1]) !== build.epoch) return false;
  return rest.includes("-") ? build.versionRelease === rest : build.versionRelease.split("-")[0] === rest;
}

/** One row per build: name, epoch, version-release, arch, tab-separated. */
const ROW_FORMAT = "%{name}\t%{epoch}\t%{version}-%{release}\t%{arch}\n";

/** Parses rows in ROW_FORMAT (rpm prints `(none)` for a missing epoch); other lines are ignored. */
export function parseRpmRows(text: string): RpmBuild[] {
  return text
    .split("\n")
    .map((line) => line.split("\t"))
    .filter((fields) => fields.length === 4)
    .map(([name = "", epoch = "", versionRelease = "", arch = ""]) => ({ name, epoch: /^\d+$/.test(epoch) ? Number(epoch) : 0, versionRelease, arch }));
}

/** Reads the installed builds of each package from rpm's database in one `rpm -q` call; absent packages map to an empty list. */
export async function readRpmStates(host: Host, names: readonly string[]): Promise<Map<string, RpmBuild[]>> {
  const result = await host.exec(["rpm", "-q", "--qf", ROW_FORMAT, ...names], { env: { ...DNF_ENV } });
  if (result.exitCode === 127) throw new SousError("no-package-manager", `${host.name} has no rpm: the dnf provider needs rpm (${result.stderr.trim()})`);
  // rpm exits with the number of packages it did not find: those are simply absent.
  if (!succeeded(result, Array.from({ length: names.length + 1 }, (_, count) => count))) throw new CommandFailedError(result);
  const builds = parseRpmRows(result.stdout);
  return new Map(names.map((name) => [name, builds.filter((build) => build.name === name)]));
}

/** What `dnf repoquery` answers about the repositories. */
export type RepoQuery = "newest" | "all" | "upgrades";

const QUERY_OPTIONS: Record<RepoQuery, string[]> = {
  newest: ["--available", "--latest-limit=1"],
  all: ["--available", "--showduplicates"],
  // dnf's own rpm ordering decides what counts as newer than the installed build.
  upgrades: ["--upgrades", "--latest-limit=1"],
};

/** Asks dnf what its repositories offer for `names`, in one call; a package no repository has maps to an empty list. */
export async function queryRepositories(host: Host, names: readonly string[], query: RepoQuery): Promise<Map<string, RpmBuild[]>> {
  const result = await run(host, ["dnf", "-q", "repoquery", ...QUERY_OPTIONS[query], "--qf", ROW_FORMAT, ...names], { env: { ...DNF_ENV } });
  const builds = parseRpmRows(result.stdout);
  return new Map(names.map((name) => [name, builds.filter((build) => build.name === name)]));
}

/** A dnf command line: no questions, no weak dependencies unless the options ask for them. */
export function dnfCommand(subcommand: "install" | "remove", args: readonly string[], extraOptions: readonly string[] = []): string[] {
  return ["dnf", "-y", "--setopt=install_weak_deps=False", ...extraOptions, subcommand, ...args];
}

/** Whether the host has dnf on its PATH. */
export async function hasDnf(host: Host): Promise<boolean> {
  return (await host.exec(["sh", "-c", "command -v dnf"])).exitCode === 0;
}
