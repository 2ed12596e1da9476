/**
 * What a resource's change needs from the host (users, groups, a parent directory, a
 * command), checked by the engine in a dry run, so that a dry run refuses what the real run
 * would refuse. Read-only: lookups, stat and `command -v`. A need that an earlier resource of
 * the same run would meet (a user it creates, a package it installs) becomes an assumption
 * the report shows, not a problem.
 */
import { dirname } from "node:path";
import type { Host } from "../host/host.js";
import type { DeclaredResource } from "./resource.js";

/** One thing a resource's change needs; `property` is the one that asks for it. */
export type Requirement =
  | { kind: "user"; name: string | number; property: string }
  | { kind: "group"; name: string | number; property: string }
  | { kind: "directory"; path: string; property: string }
  | { kind: "command"; name: string; property: string };

/** The outcome of checking a resource's requirements. */
export interface RequirementCheck {
  /** What the real run would fail on, one line each (every one, not only the first). */
  problems: string[];
  /** Needs that earlier resources of this run would meet. */
  assumptions: string[];
}

/** Resource types that may create users, groups, directories or commands as a side effect (a package's install scripts). */
const INSTALLERS = new Set(["package", "archive", "git", "execute", "code", "remote_file"]);

function property(resource: DeclaredResource, name: string): unknown {
  return (resource.properties as Record<string, unknown>)[name];
}

const creates = (resource: DeclaredResource) => !resource.actions.every((a) => a === "nothing" || a === "remove" || a === "delete");

function installers(earlier: readonly DeclaredResource[]): string | undefined {
  const found = earlier.filter((r) => INSTALLERS.has(r.resourceType.name)).map((r) => r.id);
  if (found.length === 0) return undefined;
  return found.length > 3 ? `${found.slice(-3).join(", ")} and ${found.length - 3} more` : found.join(", ");
}

/** The command word a requirement can check: argv[0], or a shell string's first word when it is a plain name or path. */
export function commandWord(command: string | readonly string[]): string | undefined {
  if (typeof command !== "string") return command[0];
  const first = command.trim().split(/\s+/)[0] ?? "";
  return /^[A-Za-z0-9_./+-]+$/.test(first) ? first : undefined;
}

/**
 * Checks `requirements` against the host; `earlier` are the resources of this run that
 * would change before this one (in a dry run nothing did change).
 */
export async function checkRequirements(host: Host, requirements: readonly Requirement[], earlier: readonly DeclaredResource[]): Promise<RequirementCheck> {
  const problems: string[] = [];
  const assumptions: string[] = [];
  const byInstaller = (what: string, fails: string) => {
    const by = installers(earlier);
    if (by) assumptions.push(`${what} does not exist yet: assumed to come from ${by}, earlier in this run`);
    else problems.push(fails);
  };
  for (const need of requirements) {
    if (need.kind === "user") {
      if (typeof need.name === "number" || (await host.lookupUser(need.name)) !== undefined) continue;
      const creator = earlier.find((r) => r.resourceType.name === "user" && property(r, "name") === need.name && creates(r));
      if (creator) assumptions.push(`user ${need.name} does not exist yet: ${creator.id} earlier in this run creates it`);
      else byInstaller(`user ${need.name}`, `${need.property} ${JSON.stringify(need.name)}: no such user on ${host.name}`);
    } else if (need.kind === "group") {
      if (typeof need.name === "number" || (await host.lookupGroup(need.name)) !== undefined) continue;
      const creator =
        earlier.find((r) => r.resourceType.name === "group" && property(r, "name") === need.name && creates(r)) ??
        // useradd makes a user's own group when no primary group is given (Debian's USERGROUPS_ENAB).
        earlier.find((r) => r.resourceType.name === "user" && property(r, "name") === need.name && property(r, "gid") === undefined && creates(r));
      if (creator) assumptions.push(`group ${need.name} does not exist yet: ${creator.id} earlier in this run creates it`);
      else byInstaller(`group ${need.name}`, `${need.property} ${JSON.stringify(need.name)}: no such group on ${host.name}`);
    } else if (need.kind === "directory") {
      const stat = await host.tryStat(need.path);
      if (stat?.type === "directory") continue;
      if (stat) {
        problems.push(`${need.property}: ${need.path} is not a directory`);
        continue;
      }
      const creator = earlier.find(
        (r) => r.resourceType.name === "directory" && creates(r) && (property(r, "path") === need.path || (property(r, "recursive") === true && String(property(r, "path")).startsWith(`${need.path}/`))),
      );
      if (creator) assumptions.push(`directory ${need.path} does not exist yet: ${creator.id} earlier in this run creates it`);
      else byInstaller(`directory ${need.path}`, `${need.property}: directory ${need.path} does not exist (declare it first with directory, recursive: true)`);
    } else {
      const found = need.name.startsWith("/")
        ? (await host.tryStat(need.name)) !== undefined
        : need.name.includes("/") || (await host.exec(["sh", "-c", 'command -v -- "$1" >/dev/null', "sh", need.name])).exitCode === 0;
      if (!found) byInstaller(`command ${need.name}`, `${need.property}: command ${need.name} not found on ${host.name}`);
    }
  }
  return { problems, assumptions };
}

/** The requirements of a path with owner and group: the account names, and the directory it goes in when it does not exist yet. */
export function pathRequirements(properties: { path: string; owner?: string | number; group?: string | number }, options: { parent: boolean }): Requirement[] {
  const out: Requirement[] = [];
  if (options.parent) out.push({ kind: "directory", path: dirname(properties.path), property: "path" });
  if (properties.owner !== undefined) out.push({ kind: "user", name: properties.owner, property: "owner" });
  if (properties.group !== undefined) out.push({ kind: "group", name: properties.group, property: "group" });
  return out;
}
