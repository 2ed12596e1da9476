/**
 * Mode, owner and group: read, planned and applied the same way by every resource
 * that manages a path (file, directory, template, remote_file, link).
 */
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { SousError } from "../core/errors.js";
import { prop } from "../core/properties.js";
import type { Change } from "../core/resource.js";
import type { FileStat, Host } from "../host/host.js";

/** The desired metadata of a path, as declared. */
export interface DesiredMetadata {
  mode?: number;
  owner?: string | number;
  group?: string | number;
}

/** Metadata as found on the host, plus the desired owner and group resolved to ids. */
export interface CurrentMetadata {
  stat: FileStat | undefined;
  owner?: string;
  group?: string;
  /** Desired owner and group as ids; undefined when not asked or not (yet) existing. */
  wantUid?: number;
  wantGid?: number;
}

/** The property specs of mode, owner and group, shared by every resource that manages a path. */
export const metadataProperties = {
  /** Mode as a number (0o644) or an octal string ("0644"). */
  mode: prop.mode(),
  /** The owner: a user name or uid. */
  owner: prop.principal("user"),
  /** The group: a group name or gid. */
  group: prop.principal("group"),
};

/** How many previous versions of a changed file to keep (0 keeps none). */
export const backupProperty = prop.integer({ role: "control", min: 0, default: 5 });

/** Formats a mode as four octal digits. */
export function formatMode(mode: number): string {
  return `0${(mode & 0o7777).toString(8).padStart(3, "0")}`;
}

/** Reads the metadata of a path and resolves the desired owner and group. */
export async function readMetadata(host: Host, stat: FileStat | undefined, desired: DesiredMetadata): Promise<CurrentMetadata> {
  const [owner, group, wantUid, wantGid] = await Promise.all([
    stat && desired.owner !== undefined ? host.userName(stat.uid) : undefined,
    stat && desired.group !== undefined ? host.groupName(stat.gid) : undefined,
    typeof desired.owner === "string" ? host.lookupUser(desired.owner) : desired.owner,
    typeof desired.group === "string" ? host.lookupGroup(desired.group) : desired.group,
  ]);
  return { stat, owner, group, wantUid, wantGid };
}

/** The mode/owner/group rows that differ. When the path does not exist yet, every declared value is a change. */
export function planMetadata(current: CurrentMetadata, desired: DesiredMetadata): Change[] {
  const changes: Change[] = [];
  const stat = current.stat;
  if (desired.mode !== undefined && (!stat || stat.mode !== desired.mode)) {
    changes.push({ property: "mode", from: stat ? formatMode(stat.mode) : undefined, to: formatMode(desired.mode) });
  }
  if (desired.owner !== undefined && (!stat || current.wantUid === undefined || stat.uid !== current.wantUid)) {
    changes.push({ property: "owner", from: stat ? (current.owner ?? stat.uid) : undefined, to: desired.owner });
  }
  if (desired.group !== undefined && (!stat || current.wantGid === undefined || stat.gid !== current.wantGid)) {
    changes.push({ property: "group", from: stat ? (current.group ?? stat.gid) : undefined, to: desired.group });
  }
  return changes;
}

/** Resolves a desired owner/group to ids at apply time, failing clearly when one does not exist. */
export async function resolveOwnership(host: Host, desired: DesiredMetadata): Promise<{ uid?: number; gid?: number }> {
  const uid = typeof desired.owner === "string" ? await host.lookupUser(desired.owner) : desired.owner;
  const gid = typeof desired.group === "string" ? await host.lookupGroup(desired.group) : desired.group;
  // Both named when both are missing: fixing one should not reveal the other on the next run.
  const missing = [
    ...(desired.owner !== undefined && uid === undefined ? [`owner ${JSON.stringify(desired.owner)}: no such user on ${host.name}`] : []),
    ...(desired.group !== undefined && gid === undefined ? [`group ${JSON.stringify(desired.group)}: no such group on ${host.name}`] : []),
  ];
  if (missing.length) throw new SousError(uid === undefined && desired.owner !== undefined ? "unknown-user" : "unknown-group", missing.join("; "));
  return { uid, gid };
}

/** Applies mode/owner/group rows to an existing path. */
export async function applyMetadata(host: Host, path: string, changes: Change[], desired: DesiredMetadata, options: { link?: boolean } = {}): Promise<void> {
  const properties = new Set(changes.map((c) => c.property));
  if (properties.has("owner") || properties.has("group")) {
    const { uid, gid } = await resolveOwnership(host, desired);
    await host.lchown(path, properties.has("owner") ? uid! : -1, properties.has("group") ? gid! : -1);
  }
  // After chown, which clears the setuid and setgid bits of a file even for root: a declared mode is set again.
  const ownerChanged = properties.has("owner") || properties.has("group");
  if ((properties.has("mode") || (ownerChanged && (desired.mode ?? 0) & 0o6000)) && desired.mode !== undefined && !options.link) await host.chmod(path, desired.mode);
}

/**
 * Fails clearly when a new path's directory is missing; otherwise the error would name the
 * temporary file that atomic writes and link replacement create beside the path.
 */
export async function requireParentDirectory(host: Host, path: string): Promise<void> {
  const parent = dirname(path);
  if ((await host.tryStat(parent))?.type === "directory") return;
  throw new SousError("missing-parent", `cannot create ${path}: its directory ${parent} does not exist (declare it first with directory, recursive: true)`);
}

/** SHA-256 of content, as hex. */
export function sha256(content: Buffer | string): string {
  return createHash("sha256").update(content).digest("hex");
}

function looksBinary(content: Buffer): boolean {
  return content.subarray(0, 8000).includes(0);
}

const DIFF_LIMIT = 200_000;

let diffLibrary: typeof import("diff") | undefined;

/** Loads the diff library ahead of time (optional: contentDiff loads it itself when first needed). */
export async function loadDiffLibrary(): Promise<void> {
  diffLibrary ??= await import("diff");
}

/** The diff library, loaded on first use so that runs with nothing to show never pay for it. */
function diffModule(): typeof import("diff") {
  diffLibrary ??= createRequire(import.meta.url)("diff") as typeof import("diff");
  return diffLibrary;
}

/** A unified diff of two versions of a file, or a one-line note for binary or huge content. */
export function contentDiff(path: string, before: Buffer | undefined, after: Buffer): string {
  if ((before && looksBinary(before)) || looksBinary(after)) return `Binary content differs (${before ? `${before.length} → ` : ""}${after.length} bytes)\n`;
  if ((before?.length ?? 0) + after.length > DIFF_LIMIT) return `Content differs (${before ? `${before.length} → ` : ""}${after.length} bytes; too large to show)\n`;
  return diffModule().createTwoFilesPatch(before ? path : "/dev/null", path, before?.toString("utf8") ?? "", after.toString("utf8"), undefined, undefined, { context: 3 });
}
