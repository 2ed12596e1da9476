/**
 * The hosts of a deploy: from a list of targets, inventory files (the push format: one target
 * a line, # comments) or a search of the server's nodes, each with its roles and which role it
 * is the primary host of.
 */
import { isAbsolute, join } from "node:path";
import { SousError } from "../core/errors.js";
import { parseTarget, type SshTarget } from "../host/ssh.js";
import { collectTargets, targetName } from "../push/fleet.js";
import type { AppRole, HostSpec } from "./definition.js";

/** One host of a deploy. */
export interface DeployHost {
  /** `user@address[:port]`, as the SSH code names it. */
  name: string;
  target: SshTarget;
  roles: AppRole[];
  /** The roles this host is the primary host of. */
  primaryOf: AppRole[];
}

/** Finds nodes on the server: a query in, the addresses (with the node names) out. */
export type NodeSearch = (query: string, addressAttribute: string) => Promise<Array<{ node: string; address: string | undefined }>>;

/** Resolves an application's host specs; a host named twice gets the union of its roles. */
export async function resolveHosts(specs: readonly HostSpec[], options: { root: string; search?: NodeSearch }): Promise<DeployHost[]> {
  const hosts = new Map<string, DeployHost>();
  const explicitPrimary = new Map<AppRole, string>();
  const add = (target: SshTarget, roles: readonly AppRole[] | undefined, primary?: boolean | readonly AppRole[]) => {
    const name = targetName(target);
    const host = hosts.get(name) ?? { name, target, roles: [], primaryOf: [] };
    for (const role of roles && roles.length ? roles : (["app"] as AppRole[])) if (!host.roles.includes(role)) host.roles.push(role);
    const primaries = primary === true ? host.roles : Array.isArray(primary) ? (primary as AppRole[]) : [];
    for (const role of primaries) {
      const other = explicitPrimary.get(role);
      if (other && other !== name) throw new SousError("bad-app", `hosts: both ${other} and ${name} are marked primary for role ${role}`);
      explicitPrimary.set(role, name);
    }
    hosts.set(name, host);
  };
  for (const spec of specs) {
    if (typeof spec === "string") add(parseTarget(spec), undefined);
    else if ("target" in spec) add(parseTarget(spec.target), spec.roles, spec.primary);
    else if ("inventory" in spec) {
      const file = isAbsolute(spec.inventory) ? spec.inventory : join(options.root, spec.inventory);
      const targets = collectTargets([], file);
      if (targets.length === 0) throw new SousError("bad-inventory", `inventory ${file} lists no hosts`);
      for (const target of targets) add(target, spec.roles);
    } else {
      if (!options.search) throw new SousError("no_server", `hosts: the search ${JSON.stringify(spec.search)} needs a server: pass --server-url or set server.url in sous.config.ts`);
      const attribute = spec.addressAttribute ?? "ipaddress";
      const found = await options.search(spec.search, attribute);
      if (found.length === 0) throw new SousError("no-hosts", `hosts: the search ${JSON.stringify(spec.search)} found no nodes`);
      for (const node of found) {
        if (!node.address) throw new SousError("no-address", `hosts: node ${node.node} (found by ${JSON.stringify(spec.search)}) has no ${attribute} attribute to connect to`);
        add({ user: spec.user ?? "root", host: node.address, port: spec.port ?? 22 }, spec.roles);
      }
    }
  }
  const list = [...hosts.values()];
  // A role without a host marked primary gets its first host as primary.
  for (const role of ["app", "web", "db", "worker"] as AppRole[]) {
    const chosen = explicitPrimary.get(role) ?? list.find((h) => h.roles.includes(role))?.name;
    if (chosen) hosts.get(chosen)!.primaryOf.push(role);
  }
  return list;
}

/** The host holding the lock: the first host that is the primary of a role marked explicitly, else the primary app host, else the first host. */
export function lockHost(hosts: readonly DeployHost[]): DeployHost {
  return hosts.find((h) => h.primaryOf.includes("app")) ?? hosts.find((h) => h.primaryOf.length > 0) ?? hosts[0]!;
}

/** The host migrations run on: the primary db host, else the lock host. */
export function migrationHost(hosts: readonly DeployHost[]): DeployHost {
  return hosts.find((h) => h.primaryOf.includes("db")) ?? lockHost(hosts);
}

/** Splits hosts into switch batches: a count (`2`) or a share (`"25%"`, at least one host); all at once without a spec. */
export function batchesOf<T>(hosts: readonly T[], spec: number | string | undefined): T[][] {
  if (hosts.length === 0) return [];
  let size = hosts.length;
  if (typeof spec === "number") size = spec;
  else if (typeof spec === "string") {
    const match = /^(\d+(?:\.\d+)?)(%?)$/.exec(spec.trim());
    if (!match || Number(match[1]) <= 0) throw new SousError("usage", `--batch: expected a host count or a percentage like 25%, got ${JSON.stringify(spec)}`);
    size = match[2] ? Math.max(1, Math.floor((hosts.length * Number(match[1])) / 100)) : Number(match[1]);
  }
  if (!Number.isInteger(size) || size < 1) throw new SousError("usage", `--batch: expected a whole number of hosts, got ${JSON.stringify(spec)}`);
  const out: T[][] = [];
  for (let i = 0; i < hosts.length; i += size) out.push(hosts.slice(i, i + size));
  return out;
}

/** A target string's host part (for health-check URLs). */
export function addressOf(host: DeployHost): string {
  return host.target.host.includes(":") ? `[${host.target.host}]` : host.target.host;
}


