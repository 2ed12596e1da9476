/**
 * `package`: system packages through apt/dpkg. Several packages in one resource go to one
 * apt-get call. State comes from dpkg, candidates from `apt-cache policy`, and versions are
 * compared with dpkg's rules. (dnf systems are not supported yet: read fails saying so.)
 */
import { SousError } from "../core/errors.js";
import { prop } from "../core/properties.js";
import type { Change, ResourceType } from "../core/resource.js";
import { run } from "../host/host.js";
import { stringOrList } from "./list-property.js";
import { APT_ENV, aptGet, type AptPolicy, compareDebianVersions, type DpkgState, PACKAGE_NAME, readAptPolicy, readDpkgStates } from "./apt.js";

/** Actions of `package`. */
export type PackageAction = "install" | "upgrade" | "remove" | "purge" | "nothing";

/** What a recipe writes for `package`. */
export interface PackageInput {
  /** The package, or several installed in one apt-get call (defaults to the resource name). */
  packageName?: string | string[];
  /** An exact version to hold (`"1.2-1"`), or one per package in `packageName`'s order. */
  version?: string | string[];
  /** Extra apt-get options, such as `["--no-install-recommends"]`. */
  options?: string[];
  /** Seconds before apt-get is killed (default 3600). */
  timeout?: number;
}

interface PackageProperties {
  name: string;
  packageName?: string[];
  version?: string[];
  options: string[];
  timeout: number;
}

/** One package as found on the host, with what apt offers when that matters. */
interface PackageState extends DpkgState {
  /** Only read when the action may install something. */
  policy?: AptPolicy;
  /** Whether the installed version equals the pinned one (dpkg's equality: `1.0` = `1.0-0`). */
  pinSatisfied?: boolean;
  /** Whether the candidate is newer than the installed version. */
  upgradable?: boolean;
}

interface PackageCurrent {
  packages: PackageState[];
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

/** The `package` resource type (apt/dpkg). */
export const packageType: ResourceType<PackageProperties, PackageCurrent> = {
  name: "package",
  description: "System packages through apt/dpkg: install, upgrade, remove, purge; version pins; several packages in one apt-get call.",
  actions: ["install", "upgrade", "remove", "purge", "nothing"],
  defaultAction: "install",
  identity: "name",
  properties: {
    name: prop.string({ role: "identity", nonEmpty: true }),
    packageName: stringOrList("a package name or a non-empty array of them", (v) => PACKAGE_NAME.test(v)),
    version: stringOrList("a Debian version or an array of them", (v) => /^[A-Za-z0-9.+~:-]+$/.test(v)),
    options: prop.stringArray({ role: "control", default: () => [] }),
    timeout: prop.seconds({ role: "control", default: 3600 }),
  },
  validate(properties) {
    const problems: Array<[string, string]> = [];
    const names = packageNames(properties);
    if (properties.packageName === undefined && !PACKAGE_NAME.test(properties.name)) problems.push(["name", `${JSON.stringify(properties.name)} is not a package name; set packageName`]);
    if (properties.version && properties.version.length !== names.length) problems.push(["version", `give one version per package (${names.length}), got ${properties.version.length}`]);
    return problems;
  },
  provider: {
    async read({ host }, properties, action) {
      const names = packageNames(properties);
      const states = await readDpkgStates(host, names);
      const packages: PackageState[] = names.map((name) => ({ ...states.get(name)! }));
      if (action !== "install" && action !== "upgrade") return { packages };
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
      if (needPolicy.length === 0) return { packages };
      const policies = await readAptPolicy(host, needPolicy.map((state) => state.name));
      for (const state of needPolicy) {
        state.policy = policies.get(state.name);
        const candidate = state.policy?.candidate;
        if (action === "upgrade" && state.status === "installed" && state.version !== undefined && candidate !== undefined && candidate !== state.version) {
          state.upgradable = await compareDebianVersions(host, state.version, "lt", candidate);
        }
      }
      return { packages };
    },
    plan(current, properties, action) {
      const changes: Change[] = [];
      current.packages.forEach((state, index) => {
        const pin = pinOf(properties, index);
        switch (action) {
          case "install":
          case "upgrade": {
            const wanted = (): string => {
              const versions = state.policy?.versions ?? [];
              if (pin !== undefined) {
                if (!versions.includes(pin)) {
                  throw new SousError("no-such-version", `package ${state.name}: version ${pin} is not available (apt knows ${versions.length ? versions.join(", ") : "no version"}; is the apt cache up to date?)`);
                }
                return pin;
              }
              if (state.policy?.candidate === undefined) throw new SousError("no-candidate", `package ${state.name}: apt has no installation candidate (unknown package, or the apt cache needs an update: declare apt_update first)`);
              return state.policy.candidate;
            };
            const needed = state.status !== "installed" || state.pinSatisfied === false || (pin === undefined && action === "upgrade" && state.upgradable === true);
            if (needed) changes.push({ property: state.name, from: shown(state), to: wanted() });
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
      return { changes };
    },
    async apply({ host }, plan, properties, action) {
      const names = plan.changes.map((change) => change.property);
      const env = { ...APT_ENV };
      const timeoutMs = properties.timeout * 1000;
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
};
