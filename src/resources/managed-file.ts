/**
 * What file, template and remote_file share: a regular file whose content, mode, owner
 * and group are managed; written atomically, with the previous version backed up. The
 * temporary files of writes that a killed run left beside the path (or of its backups, in the
 * backup folder) are found when it is read and removed by the next run (a change of their own,
 * `leftovers`).
 */
import { SousError } from "../core/errors.js";
import type { Change, Plan, ProviderContext } from "../core/resource.js";
import type { FileStat } from "../host/host.js";
import { findLeftovers, leftoverChange, removeLeftovers } from "./leftovers.js";
import { backupFile, findBackupLeftovers } from "./backup.js";
import { prop } from "../core/properties.js";
import { applyMetadata, backupProperty, metadataProperties, contentDiff, loadDiffLibrary, type CurrentMetadata, type DesiredMetadata, planMetadata, readMetadata, requireParentDirectory, resolveOwnership, sha256 } from "./metadata.js";

/** Properties every managed file has. */
export interface ManagedFileProperties extends DesiredMetadata {
  path: string;
  /** How many previous versions to keep (0 keeps none). */
  backup: number;
  /** Replace a symbolic link found at the path instead of failing. */
  forceUnlink?: boolean;
}

/** The property specs every managed file shares (beside its path and content source). */
export const managedFileProperties = {
  ...metadataProperties,
  /** How many previous versions to keep under the backup folder (default 5; 0 keeps none). */
  backup: backupProperty,
  /** Replace a symbolic link found at the path (default false: fail). */
  forceUnlink: prop.boolean({ role: "control", default: false }),
};

/** The state of a managed file on the host. */
export interface ManagedFileCurrent extends CurrentMetadata {
  content: Buffer | undefined;
  /** The content the file must have (undefined: content is not managed). */
  desired: Buffer | undefined;
  /** Temporary files of this path's atomic writes that a killed run left beside it or in its backup folder (full paths). */
  leftovers?: string[];
}

/** Reads the file at `path`; `wantContent` says whether its content matters. */
export async function readManagedFile(context: ProviderContext, properties: ManagedFileProperties, desired: Buffer | undefined): Promise<ManagedFileCurrent> {
  const { host } = context;
  const stat = await host.tryLstat(properties.path);
  checkKind(properties, stat);
  const usable = stat && stat.type === "file" ? stat : undefined;
  const [metadata, content, beside, backups] = await Promise.all([
    readMetadata(host, usable, properties),
    usable && desired !== undefined && usable.size === desired.length ? host.tryReadFile(properties.path) : Promise.resolve(undefined),
    findLeftovers(host, properties.path),
    findBackupLeftovers(host, context.backupDir, properties.path),
  ]);
  const leftovers = [...beside, ...backups];
  // A size mismatch already proves the content differs; read it only to show the diff.
  const shown = usable && desired !== undefined && content === undefined ? await host.tryReadFile(properties.path) : content;
  if (desired !== undefined && (shown === undefined || !shown.equals(desired))) await loadDiffLibrary();
  return { ...metadata, content: shown, desired, ...(leftovers.length > 0 ? { leftovers } : {}) };
}

function checkKind(properties: ManagedFileProperties, stat: FileStat | undefined): void {
  if (!stat || stat.type === "file") return;
  if (stat.type === "symlink" && properties.forceUnlink) return;
  const what = stat.type === "symlink" ? "a symbolic link (set forceUnlink: true to replace it with a file)" : `a ${stat.type === "directory" ? "directory" : "special file"}`;
  throw new SousError("wrong-file-type", `${properties.path} is ${what}, not a regular file`);
}

/** Plans the `create` action: content first, then metadata. */
export function planCreate(current: ManagedFileCurrent, properties: ManagedFileProperties): Plan {
  const exists = current.stat?.type === "file";
  const changes: Change[] = [];
  let diff: Plan["diff"];
  if (!exists) {
    const content = current.desired ?? Buffer.alloc(0);
    changes.push({ property: "content", from: undefined, to: `sha256:${sha256(content).slice(0, 16)} (${content.length} bytes)` });
    diff = { property: "content", text: contentDiff(properties.path, undefined, content) };
    const metadata = planMetadata({ stat: undefined }, properties);
    changes.push(...metadata, ...leftoverChange(current));
    return { changes, diff };
  }
  if (current.desired !== undefined && (current.content === undefined || !current.content.equals(current.desired))) {
    changes.push({
      property: "content",
      from: current.content ? `sha256:${sha256(current.content).slice(0, 16)} (${current.content.length} bytes)` : undefined,
      to: `sha256:${sha256(current.desired).slice(0, 16)} (${current.desired.length} bytes)`,
    });
    diff = { property: "content", text: contentDiff(properties.path, current.content, current.desired) };
  }
  changes.push(...planMetadata(current, properties), ...leftoverChange(current));
  return diff ? { changes, diff } : { changes };
}

/** Applies a `create` plan: writes content atomically (keeping a backup) or fixes metadata only. */
export async function applyCreate(context: ProviderContext, plan: Plan, properties: ManagedFileProperties, current: ManagedFileCurrent): Promise<void> {
  const { host } = context;
  const exists = current.stat?.type === "file";
  await removeLeftovers(host, plan, current);
  const contentChanges = plan.changes.some((c) => c.property === "content");
  if (!contentChanges) {
    await applyMetadata(host, properties.path, plan.changes, properties);
    return;
  }
  if (!current.stat) await requireParentDirectory(host, properties.path);
  const { uid, gid } = await resolveOwnership(host, properties);
  if (exists && current.content) await backupFile(host, context.backupDir, properties.path, current.content, properties.backup, current.stat!.mode);
  if (current.stat?.type === "symlink") await host.remove(properties.path);
  await host.writeFileAtomic(properties.path, current.desired ?? Buffer.alloc(0), {
    mode: properties.mode ?? (exists ? current.stat!.mode : 0o644),
    uid: uid ?? (exists ? current.stat!.uid : undefined),
    gid: gid ?? (exists ? current.stat!.gid : undefined),
  });
}

/** Plans `delete`: a change when the file exists. */
export function planDelete(current: { stat: FileStat | undefined; leftovers?: string[] }): Plan {
  return { changes: [...(current.stat ? [{ property: "exists", from: true, to: false }] : []), ...leftoverChange(current)] };
}

/** Applies `delete`, keeping a backup of the content. */
export async function applyDelete(context: ProviderContext, properties: ManagedFileProperties, current: ManagedFileCurrent): Promise<void> {
  const content = current.stat?.type === "file" ? (current.content ?? (await context.host.tryReadFile(properties.path))) : undefined;
  if (content) await backupFile(context.host, context.backupDir, properties.path, content, properties.backup, current.stat!.mode);
  for (const leftover of current.leftovers ?? []) await context.host.remove(leftover);
  if (current.stat) await context.host.remove(properties.path);
}

/** The plan step of a managed file's create, create_if_missing and delete actions. */
export function planManagedFile(current: ManagedFileCurrent, properties: ManagedFileProperties, action: string): Plan {
  if (action === "delete") return planDelete(current);
  if (action === "create_if_missing" && current.stat) return { changes: leftoverChange(current) };
  return planCreate(current, properties);
}

/** The apply step matching planManagedFile. */
export async function applyManagedFile(context: ProviderContext, plan: Plan, properties: ManagedFileProperties, action: string, current: ManagedFileCurrent): Promise<void> {
  if (action === "delete") return applyDelete(context, properties, current);
  await applyCreate(context, plan, properties, current);
}
