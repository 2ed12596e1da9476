/**
 * `archive`: extracts a tar (plain, gz, xz, bz2: GNU tar detects the compression) or zip file
 * that is already on the host into a directory, once. A marker under /var/lib/sous/archive
 * remembers the archive's checksum: the archive is extracted again when it changes or when
 * what it put in the destination has gone. `creates` short-cuts all of that.
 */
import { createHash } from "node:crypto";
import { posix } from "node:path";
import { SousError } from "../core/errors.js";
import { type InputOf, type OutputOf, prop } from "../core/properties.js";
import { defineType } from "../core/resource.js";
import { type Host, run } from "../host/host.js";
import { findLeftovers, leftoverChange, removeLeftovers } from "./leftovers.js";
import { resolveOwnership } from "./metadata.js";

/** Where the markers of extracted archives are kept. */
export const ARCHIVE_MARKER_DIR = "/var/lib/sous/archive";

const properties = {
  name: prop.string({ role: "identity", nonEmpty: true }),
  /** The archive on the host (defaults to the resource name). */
  path: prop.absolutePath({ role: "control" }),
  /** The directory to extract into (created when missing). */
  destination: prop.absolutePath({ required: true }),
  /** `tar` (any compression) or `zip`; by default from the file name. */
  format: prop.oneOf(["tar", "zip"], { role: "control" }),
  /** Leading path components to drop from every entry (as tar's --strip-components). */
  stripComponents: prop.integer({ min: 0, max: 100, default: 0 }),
  /** Owner of the extracted files (default: root, whatever the archive says). */
  owner: prop.principal("user"),
  /** Group of the extracted files. */
  group: prop.principal("group"),
  /** When this path exists, the archive counts as extracted. */
  creates: prop.absolutePath({ role: "control" }),
};

type ArchiveProperties = OutputOf<typeof properties>;

/** What a recipe writes for `archive` (derived from its property specs). */
export type ArchiveInput = InputOf<typeof properties>;

/** Actions of `archive`. */
export type ArchiveAction = (typeof archiveType.actions)[number];

/** What the marker file records. */
interface Marker {
  archive: string;
  destination: string;
  sha256: string;
  stripComponents: number;
  owner?: string | number;
  group?: string | number;
  /** The first path components the archive put in the destination (some of them). */
  top: string[];
}

interface ArchiveCurrent {
  /** `creates` exists. */
  created: boolean;
  sha256: string | undefined;
  marker: Marker | undefined;
  /** Whether everything the marker lists is still in the destination. */
  contentPresent: boolean;
  /** Temporary files that killed writes of the marker left beside it (full paths). */
  leftovers?: string[];
  /** Staging folders that killed extractions (zip with stripComponents) left in the destination (full paths). */
  staging?: string[];
}

/** A zip extraction's staging folder in the destination: `.sous-archive-` and 12 hex digits. */
const STAGING = /^\.sous-archive-[0-9a-f]{12}$/;

/** What killed runs left: the marker's temporary files, and staging folders in the destination. */
async function findArchiveLeftovers(host: Host, properties: Readonly<ArchiveProperties>): Promise<Pick<ArchiveCurrent, "leftovers" | "staging">> {
  const [leftovers, entries] = await Promise.all([findLeftovers(host, markerPath(properties)), host.readdir(properties.destination).catch(() => [] as string[])]);
  const candidates = entries.filter((entry) => STAGING.test(entry)).map((entry) => posix.join(properties.destination, entry));
  const stats = await Promise.all(candidates.map((path) => host.tryLstat(path)));
  const staging = candidates.filter((_, index) => stats[index]?.type === "directory");
  return { ...(leftovers.length > 0 ? { leftovers } : {}), ...(staging.length > 0 ? { staging } : {}) };
}

const MARKER_TOP_LIMIT = 50;

function archivePath(properties: Readonly<ArchiveProperties>): string {
  return properties.path ?? properties.name;
}

function formatOf(properties: Readonly<ArchiveProperties>): "tar" | "zip" {
  return properties.format ?? (/\.zip$/i.test(archivePath(properties)) ? "zip" : "tar");
}

function markerPath(properties: Readonly<ArchiveProperties>): string {
  const key = createHash("sha256").update(`${archivePath(properties)}\0${properties.destination}`).digest("hex").slice(0, 24);
  return `${ARCHIVE_MARKER_DIR}/${key}.json`;
}

/** An entry's path inside the destination after stripping, or undefined when nothing is left of it. */
export function strippedEntry(entry: string, strip: number): string | undefined {
  const parts = entry.split("/").filter((part) => part !== "");
  const kept = parts.slice(strip).filter((part) => part !== ".");
  if (kept.length === 0 || kept.includes("..")) return undefined;
  return kept.join("/");
}

async function listEntries(host: Host, path: string, format: "tar" | "zip"): Promise<string[]> {
  const listing = await run(host, format === "zip" ? ["unzip", "-Z1", path] : ["tar", "-t", "-f", path]);
  return listing.stdout.split("\n").filter(Boolean);
}

/** The `archive` resource type. */
export const archiveType = defineType({
  name: "archive",
  description: "Extracts a tar (gz/xz/bz2) or zip file into a directory once, again when the archive changes.",
  actions: ["extract", "nothing"],
  defaultAction: "extract",
  identity: "name",
  properties,
  validate(properties) {
    return properties.path === undefined && !properties.name.startsWith("/") ? [["path", "give the archive's absolute path (the name is not one)"]] : [];
  },
  provider: {
    async read({ host }, properties): Promise<ArchiveCurrent> {
      const leftovers = await findArchiveLeftovers(host, properties);
      if (properties.creates !== undefined && (await host.tryLstat(properties.creates))) return { created: true, sha256: undefined, marker: undefined, contentPresent: true, ...leftovers };
      const path = archivePath(properties);
      const stat = await host.tryStat(path);
      if (stat?.type !== "file") throw new SousError("missing-archive", `archive ${path} ${stat ? "is not a regular file" : "does not exist"}`);
      const [sum, markerText] = await Promise.all([run(host, ["sha256sum", "--", path]), host.tryReadFile(markerPath(properties))]);
      let marker: Marker | undefined;
      try {
        marker = markerText ? (JSON.parse(markerText.toString("utf8")) as Marker) : undefined;
      } catch {
        marker = undefined;
      }
      const present = marker ? await Promise.all(marker.top.map((top) => host.tryLstat(posix.join(properties.destination, top)))) : [];
      return { created: false, sha256: sum.stdout.split(" ")[0], marker, contentPresent: present.every(Boolean), ...leftovers };
    },
    plan(current, properties) {
      const left = leftoverChange({ leftovers: [...(current.leftovers ?? []), ...(current.staging ?? [])] });
      if (current.created) return { changes: left };
      const { marker } = current;
      const same = marker !== undefined && marker.sha256 === current.sha256 && marker.stripComponents === properties.stripComponents && marker.owner === properties.owner && marker.group === properties.group;
      if (same && current.contentPresent) return { changes: left };
      const from = marker ? `sha256:${marker.sha256.slice(0, 16)}${same ? " (extracted files missing)" : ""}` : undefined;
      return { changes: [{ property: "extracted", from, to: `sha256:${current.sha256!.slice(0, 16)} in ${properties.destination}` }, ...left] };
    },
    async apply({ host }, plan, properties, _action, current) {
      await removeLeftovers(host, plan, current);
      if (plan.changes.some((change) => change.property === "leftovers")) for (const folder of current.staging ?? []) await host.remove(folder, { recursive: true });
      if (!plan.changes.some((change) => change.property === "extracted")) return;
      const path = archivePath(properties);
      const format = formatOf(properties);
      const destination = properties.destination;
      const strip = properties.stripComponents;
      const { uid, gid } = await resolveOwnership(host, properties);
      if (!(await host.tryStat(destination))) {
        await host.mkdir(destination, { recursive: true, mode: 0o755 });
        if (uid !== undefined || gid !== undefined) await host.lchown(destination, uid ?? -1, gid ?? -1);
      }
      const entries = [...new Set((await listEntries(host, path, format)).map((entry) => strippedEntry(entry, strip)).filter((e): e is string => e !== undefined))];
      if (format === "tar") {
        await run(host, ["tar", "-x", "-f", path, "-C", destination, "--no-same-owner", "--no-overwrite-dir", ...(strip > 0 ? [`--strip-components=${strip}`] : [])]);
      } else if (strip === 0) {
        await run(host, ["unzip", "-q", "-o", path, "-d", destination]);
      } else {
        await extractZipStripped(host, path, destination, strip);
      }
      if (uid !== undefined || gid !== undefined) {
        // One chown for every extracted path, names passed NUL-separated on standard input.
        const paths = entries.map((entry) => posix.join(destination, entry));
        await run(host, ["xargs", "-0", "-r", "chown", "-h", "--", `${uid ?? ""}:${gid ?? ""}`], { input: `${paths.join("\0")}\0` });
      }
      const top = [...new Set(entries.map((entry) => entry.split("/")[0]!))].slice(0, MARKER_TOP_LIMIT);
      const marker: Marker = { archive: path, destination, sha256: current.sha256!, stripComponents: strip, owner: properties.owner, group: properties.group, top };
      await host.mkdir(ARCHIVE_MARKER_DIR, { recursive: true, mode: 0o700 });
      await host.writeFileAtomic(markerPath(properties), `${JSON.stringify(marker, null, 2)}\n`, { mode: 0o600 });
    },
  },
});

/** unzip has no --strip-components: extract into a staging directory beside the files, then copy the kept levels over. */
async function extractZipStripped(host: Host, path: string, destination: string, strip: number): Promise<void> {
  const staging = posix.join(destination, `.sous-archive-${createHash("sha256").update(`${path}${Date.now()}${Math.random()}`).digest("hex").slice(0, 12)}`);
  await host.mkdir(staging, { mode: 0o700 });
  try {
    await run(host, ["unzip", "-q", "-o", path, "-d", staging]);
    const kept = await run(host, ["find", staging, "-mindepth", String(strip + 1), "-maxdepth", String(strip + 1), "-print0"]);
    const sources = kept.stdout.split("\0").filter(Boolean);
    // cp -a into the destination merges directories that exist there already.
    if (sources.length > 0) await run(host, ["cp", "-a", "--", ...sources, `${destination}/`]);
  } finally {
    await host.remove(staging, { recursive: true });
  }
}
