/**
 * `package`: system packages through apt/dpkg or dnf/rpm. Several packages in one resource go
 * to one apt-get or dnf call. With apt, state comes from dpkg, candidates from `apt-cache
 * policy`, and versions are compared with dpkg's rules; with dnf, state comes from rpm's
 * database and candidates from `dnf repoquery`. The provider is apt wherever dpkg exists,
 * dnf where dnf exists without dpkg, unless the resource names one.
 */
import { SousError } from "../core/errors.js";
import { type InputOf, type OutputOf, prop } from "../core/properties.js";
import { type Change, defineType } from "../core/resource.js";
import { type Host, run } from "../host/host.js";
import { DNF_ENV, dnfCommand, hasDnf, queryRepositories, readRpmStates, type RpmBuild, rpmPinMatches, rpmVersion, RPM_PACKAGE_NAME } from "./package-dnf.js";
import { APT_ENV, aptGet, type AptPolicy, compareDebianVersions, type DpkgState, PACKAGE_NAME, readAptPolicy, readDpkgStates } from "./apt.js";

/** Which package manager acts: `auto` is apt where dpkg exists, else dnf where dnf exists. */
export type PackageProvider = "auto" | "apt" | "dnf";

/** One package as found on the host, with what apt offers when that matters. */
interface PackageState extends DpkgState {
  /** Only read when the action may install something. */
  policy?: AptPolicy;
  /** Whether the installed version equals the pinned one (dpkg's equality: `1.0` = `1.0-0`). */
  pinSatisfied?: boolean;
  /** Whether the candidate is newer than the installed version. */
  upgradable?: boolean;
  /** dnf only: the available version a pin names (`1.0` may name `1.0-3`); undefined when none does. */
  pinTarget?: string;
}

interface PackageCurrent {
  /** The package manager that read this state and will act. */
  provider: "apt" | "dnf";
  packages: PackageState[];
  /**
   * Dry run only: earlier resources of the run that would have changed the package sources
   * (an apt_repository, an apt_update, a file under /etc/apt/) but did not, so the candidates
   * read now may not be the real run's.
   */
  sourcesNotYetChanged?: string[];
}

/** Whether a resource changes where packages come from. */
function changesSources(resource: { id: string; type: string }): boolean {
  return resource.type === "apt_repository" || resource.type === "apt_update" || resource.id.includes("[/etc/apt/") || resource.id.includes("[/etc/yum.repos.d/");
}

/** The package names a resource manages. */
function packageNames(properties: Readonly<PackageProperties>): string[] {
  return properties.packageName ?? [properties.name];
}

function pinOf(properties: Readonly<PackageProperties>, index: number): string | undefined {
  return properties.version?.[index];
}

function shown(state: PackageState): string | undefined {
  return state.status === "config-files" ? "(config files)" : state.status === "broken" ? `${state.version ?? "?"} (half-installed)` : state.version;
}

/** A name either package manager accepts: which one acts is known only when the host is read. */
function anyPackageName(name: string): boolean {
  return PACKAGE_NAME.test(name) || RPM_PACKAGE_NAME.test(name);
}

/** Throws when a name is not one `tool` accepts (declaration accepts the names of both). */
function checkNames(names: readonly string[], pattern: RegExp, tool: string): void {
  const bad = names.filter((name) => !pattern.test(name));
  if (bad.length) throw new SousError("bad-package-name", `${bad.map((name) => JSON.stringify(name)).join(", ")}: not a package name ${tool} accepts`);
}

async function readApt(host: Host, properties: Readonly<PackageProperties>, action: string): Promise<PackageCurrent> {
  const names = packageNames(properties);
  // dpkg-query fails on a name it cannot parse: ask only about valid ones, so that a host
  // without dpkg is still recognised (and dnf chosen) before the names are judged for apt.
  const states = await readDpkgStates(host, names.filter((name) => PACKAGE_NAME.test(name)));
  checkNames(names, PACKAGE_NAME, "apt");
  const packages: PackageState[] = names.map((name) => ({ ...states.get(name)! }));
  if (action !== "install" && action !== "upgrade") return { provider: "apt", packages };
  const pinned = (index: number) => pinOf(properties, index);
  // Compare pins with dpkg's equality, not string equality.
  await Promise.all(
    packages.map(async (state, index) => {
      const pin = pinned(index);
      if (pin !== undefined && state.status === "installed" && state.version !== undefined) {
        state.pinSatisfied = state.version === pin || (await compareDebianVersions(host, state.version, "eq", pin));
      }
    }),
  );
  const needPolicy = packages.filter((state, index) => action === "upgrade" || state.status !== "installed" || state.pinSatisfied === false || (pinned(index) !== undefined && state.pinSatisfied === undefined));
  if (needPolicy.length === 0) return { provider: "apt", packages };
  const policies = await readAptPolicy(host, needPolicy.map((state) => state.name));
  for (const state of needPolicy) {
    state.policy = policies.get(state.name);
    const candidate = state.policy?.candidate;
    if (action === "upgrade" && state.status === "installed" && state.version !== undefined && candidate !== undefined && candidate !== state.version) {
      state.upgradable = await compareDebianVersions(host, state.version, "lt", candidate);
    }
  }
  return { provider: "apt", packages };
}

/** The build of a package to act on: the installed architecture's when there is one. */
function sameArch(builds: readonly RpmBuild[], arch: string | undefined): RpmBuild[] {
  return arch === undefined ? [...builds] : builds.filter((build) => build.arch === arch || build.arch === "noarch");
}

async function readDnf(host: Host, properties: Readonly<PackageProperties>, action: string): Promise<PackageCurrent> {
  const names = packageNames(properties);
  checkNames(names, RPM_PACKAGE_NAME, "rpm");
  if (action === "purge") throw new SousError("unsupported-action", `package ${names.join(", ")}: dnf has no purge; use remove (rpm keeps changed configuration files as .rpmsave)`);
  const installed = await readRpmStates(host, names);
  const archOf = new Map<string, string | undefined>();
  const packages: PackageState[] = names.map((name) => {
    const build = installed.get(name)!.at(-1);
    archOf.set(name, build?.arch);
    return { name, status: build ? "installed" : "absent", version: build && rpmVersion(build) };
  });
  if (action !== "install" && action !== "upgrade") return { provider: "dnf", packages };
  const pinned: PackageState[] = [];
  const fresh: PackageState[] = [];
  const upgrading: PackageState[] = [];
  packages.forEach((state, index) => {
    const pin = pinOf(properties, index);
    if (pin !== undefined && state.status === "installed") state.pinSatisfied = installed.get(state.name)!.some((build) => rpmPinMatches(build, pin));
    if (pin !== undefined) {
      if (state.pinSatisfied !== true) pinned.push(state);
    } else if (state.status !== "installed") fresh.push(state);
    else if (action === "upgrade") upgrading.push(state);
  });
  // One repoquery per kind of question, one after the other: dnf runs hold a lock on their cache.
  if (pinned.length) {
    const offered = await queryRepositories(host, pinned.map((state) => state.name), "all");
    for (const state of pinned) {
      const builds = sameArch(offered.get(state.name)!, archOf.get(state.name));
      const pin = pinOf(properties, names.indexOf(state.name))!;
      state.policy = { candidate: undefined, versions: [...new Set(builds.map(rpmVersion))] };
      const match = builds.filter((build) => rpmPinMatches(build, pin)).at(-1);
      state.pinTarget = match && rpmVersion(match);
    }
  }
  if (fresh.length) {
    const newest = await queryRepositories(host, fresh.map((state) => state.name), "newest");
    for (const state of fresh) {
      const build = newest.get(state.name)![0];
      state.policy = { candidate: build && rpmVersion(build), versions: [] };
    }
  }
  if (upgrading.length) {
    const upgrades = await queryRepositories(host, upgrading.map((state) => state.name), "upgrades");
    for (const state of upgrading) {
      const build = sameArch(upgrades.get(state.name)!, archOf.get(state.name))[0];
      state.upgradable = build !== undefined;
      state.policy = { candidate: build ? rpmVersion(build) : state.version, versions: [] };
    }
  }
  return { provider: "dnf", packages };
}

const properties = {
  name: prop.string({ role: "identity", nonEmpty: true }),
  /** The package, or several installed in one apt-get or dnf call (defaults to the resource name). */
  packageName: prop.stringOrList("a package name or a non-empty array of them", anyPackageName),
  /** An exact version to hold (`"1.2-1"`, with dnf also `"1.2"`), or one per package in `packageName`'s order. */
  version: prop.stringOrList("a Debian or rpm version or an array of them", (v) => /^[A-Za-z0-9.+~^_:-]+$/.test(v)),
  /** Extra apt-get or dnf options, such as `["--no-install-recommends"]`. */
  options: prop.stringArray({ role: "control", default: () => [] }),
  /** Seconds before apt-get or dnf is killed (default 3600). */
  timeout: prop.seconds({ role: "control", default: 3600 }),
  /** The package manager (default `auto`). */
  provider: prop.oneOf(["auto", "apt", "dnf"], { role: "control", default: "auto" }),
};

type PackageProperties = OutputOf<typeof properties>;

/** What a recipe writes for `package` (derived from its property specs). */
export type PackageInput = InputOf<typeof properties>;

/** Actions of `package`. */
export type PackageAction = (typeof packageType.actions)[number];

/** The `package` resource type (apt/dpkg or dnf/rpm). */
export const packageType = defineType({
  name: "package",
  description: "System packages through apt/dpkg or dnf/rpm: install, upgrade, remove, purge (apt); version pins; several packages in one apt-get or dnf call.",
  actions: ["install", "upgrade", "remove", "purge", "nothing"],
  defaultAction: "install",
  identity: "name",
  properties,
  validate(properties) {
    const problems: Array<[string, string]> = [];
    const names = packageNames(properties);
    if (properties.packageName === undefined && !anyPackageName(properties.name)) problems.push(["name", `${JSON.stringify(properties.name)} is not a package name; set packageName`]);
    if (properties.version && properties.version.length !== names.length) problems.push(["version", `give one version per package (${names.length}), got ${properties.version.length}`]);
    return problems;
  },
  provider: {
    async read({ host, notYetChanged }, properties, action): Promise<PackageCurrent> {
      const sources = notYetChanged.filter(changesSources).map((resource) => resource.id);
      const withSources = (current: PackageCurrent): PackageCurrent => (sources.length ? { ...current, sourcesNotYetChanged: sources } : current);
      if (properties.provider === "dnf") return withSources(await readDnf(host, properties, action));
      try {
        return withSources(await readApt(host, properties, action));
      } catch (error) {
        const noDpkg = error instanceof SousError && error.code === "no-package-manager";
        if (properties.provider === "apt" || !noDpkg) throw error;
        if (await hasDnf(host)) return withSources(await readDnf(host, properties, action));
        throw new SousError("no-package-manager", `${host.name} has neither dpkg nor dnf: the package resource supports apt/dpkg and dnf/rpm systems`);
      }
    },
    plan(current, properties, action) {
      const changes: Change[] = [];
      const assumptions: string[] = [];
      const pending = current.sourcesNotYetChanged ?? [];
      current.packages.forEach((state, index) => {
        const pin = pinOf(properties, index);
        switch (action) {
          case "install":
          case "upgrade": {
            const wanted = (): string => {
              const versions = state.policy?.versions ?? [];
              const known = versions.length ? versions.join(", ") : "no version";
              if (pin !== undefined) {
                const target = current.provider === "dnf" ? state.pinTarget : versions.includes(pin) ? pin : undefined;
                if (target !== undefined) return target;
                const hint = current.provider === "dnf" ? "is its repository configured?" : "is the apt cache up to date?";
                throw new SousError("no-such-version", `package ${state.name}: version ${pin} is not available (${current.provider} knows ${known}; ${hint})`);
              }
              if (state.policy?.candidate !== undefined) return state.policy.candidate;
              if (current.provider === "dnf") throw new SousError("no-candidate", `package ${state.name}: no dnf repository offers it (unknown package, or its repository is not configured)`);
              throw new SousError("no-candidate", `package ${state.name}: apt has no installation candidate (unknown package, or the apt cache needs an update: declare apt_update first)`);
            };
            const needed = state.status !== "installed" || state.pinSatisfied === false || (pin === undefined && action === "upgrade" && state.upgradable === true);
            if (!needed) break;
            let to: string;
            try {
              to = wanted();
            } catch (error) {
              // The sources this dry run did not really change may well offer it: the real run reads them after they changed.
              if (pending.length === 0 || !(error instanceof SousError)) throw error;
              to = pin ?? "(candidate of a package source changed earlier in this run)";
              assumptions.push(`package ${state.name}: would install ${pin ?? "its candidate"} from a repository added earlier in this run (${pending.join(", ")}), not available before that; the real run fails here if it is not offered then`);
            }
            changes.push({ property: state.name, from: shown(state), to });
            break;
          }
          case "remove":
            if (state.status === "installed" || state.status === "broken") changes.push({ property: state.name, from: shown(state), to: "(removed)" });
            break;
          case "purge":
            if (state.status !== "absent") changes.push({ property: state.name, from: shown(state), to: "(purged)" });
            break;
        }
      });
      return assumptions.length ? { changes, assumptions } : { changes };
    },
    async apply({ host }, plan, properties, action, current) {
      const names = plan.changes.map((change) => change.property);
      const timeoutMs = properties.timeout * 1000;
      if (current.provider === "dnf") {
        const env = { ...DNF_ENV };
        if (action === "remove") return void (await run(host, dnfCommand("remove", names, properties.options), { env, timeoutMs }));
        // `install name-version` also upgrades or downgrades to exactly the version the plan showed.
        const targets = plan.changes.map((change) => `${change.property}-${String(change.to)}`);
        return void (await run(host, dnfCommand("install", targets, properties.options), { env, timeoutMs }));
      }
      const env = { ...APT_ENV };
      if (action === "remove" || action === "purge") {
        await run(host, aptGet(action, names, properties.options), { env, timeoutMs });
        return;
      }
      // Exactly the versions the plan showed, so a dry run and the real run agree.
      const targets = plan.changes.map((change) => `${change.property}=${String(change.to)}`);
      const extra = properties.version ? ["--allow-downgrades", ...properties.options] : properties.options;
      await run(host, aptGet("install", targets, extra), { env, timeoutMs });
    },
  },
});
