/** `remote_file`: a file downloaded over HTTP(S), verified by SHA-256, fetched only when needed. */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { SousError } from "../core/errors.js";
import { prop } from "../core/properties.js";
import type { ResourceType } from "../core/resource.js";
import { applyManagedFile, type ManagedFileCurrent, type ManagedFileProperties, planManagedFile, readManagedFile, managedFileProperties } from "./managed-file.js";
import { sha256 } from "./metadata.js";
import { pathRequirements } from "../core/preconditions.js";

/** Actions of `remote_file`. */
export type RemoteFileAction = "create" | "create_if_missing" | "delete" | "nothing";

/** What a recipe writes for `remote_file`. */
export interface RemoteFileInput {
  /** Absolute path of the file (defaults to the resource name). */
  path?: string;
  /** http://, https:// or file:// URL. */
  source: string;
  /** Expected SHA-256 (hex). With it, a file that already matches is never downloaded again. */
  checksum?: string;
  /** Extra request headers (sensitive: never printed). */
  headers?: Record<string, string>;
  /** Seconds before the download is abandoned (default 300). */
  timeout?: number;
  mode?: number | string;
  owner?: string | number;
  group?: string | number;
  backup?: number;
  forceUnlink?: boolean;
}

interface RemoteFileProperties extends ManagedFileProperties {
  source: string;
  checksum?: string;
  headers?: Record<string, string>;
  timeout: number;
}

async function download(properties: RemoteFileProperties): Promise<Buffer> {
  const url = new URL(properties.source);
  if (url.protocol === "file:") return readFile(fileURLToPath(url));
  const failed = (error: unknown) => {
    const cause = (error as { cause?: { message?: string } }).cause?.message;
    return new SousError("download-failed", `downloading ${properties.source} failed: ${cause ?? (error as Error).message}`);
  };
  let response: Response;
  try {
    response = await fetch(url, { headers: properties.headers, signal: AbortSignal.timeout(properties.timeout * 1000), redirect: "follow" });
  } catch (error) {
    throw failed(error);
  }
  if (!response.ok) throw new SousError("download-failed", `downloading ${properties.source} failed: HTTP ${response.status} ${response.statusText}`);
  // The body can fail too (connection cut, timeout while reading): say which download.
  try {
    return Buffer.from(await response.arrayBuffer());
  } catch (error) {
    throw failed(error);
  }
}

/** The `remote_file` resource type. */
export const remoteFileType: ResourceType<RemoteFileProperties, ManagedFileCurrent> = {
  name: "remote_file",
  description: "A file downloaded over HTTP(S) or from a file:// URL, verified by SHA-256 and not fetched again when it already matches.",
  actions: ["create", "create_if_missing", "delete", "nothing"],
  defaultAction: "create",
  identity: "path",
  properties: {
    path: prop.absolutePath({ role: "identity" }),
    source: prop.matching("an http://, https:// or file:// URL", (v) => /^(https?|file):\/\//.test(v) && URL.canParse(v), { required: true }),
    checksum: prop.matching("a SHA-256 checksum (64 hex digits)", (v) => /^(sha256:)?[0-9a-fA-F]{64}$/.test(v), { transform: (v: string) => v.replace(/^sha256:/, "").toLowerCase() }),
    headers: prop.stringRecord({ role: "control", sensitive: true }),
    timeout: prop.seconds({ role: "control", default: 300 }),
    ...managedFileProperties,
  },
  // The real run needs the owner, the group and the directory the file goes in.
  requires: (properties, action) => (action === "delete" ? [] : pathRequirements(properties, { parent: true })),
  provider: {
    async read(context, properties, action) {
      if (action === "delete") return readManagedFile(context, properties, undefined);
      const existing = await context.host.tryLstat(properties.path);
      if (existing?.type === "file" && (action === "create_if_missing" || properties.checksum !== undefined)) {
        const content = action === "create_if_missing" ? undefined : await context.host.tryReadFile(properties.path);
        if (action === "create_if_missing" || (content && sha256(content) === properties.checksum)) {
          return readManagedFile(context, properties, content);
        }
      }
      const downloaded = await download(properties);
      if (properties.checksum !== undefined) {
        const actual = sha256(downloaded);
        if (actual !== properties.checksum) {
          throw new SousError("checksum-mismatch", `checksum mismatch for ${properties.source}: expected sha256 ${properties.checksum}, downloaded ${downloaded.length} bytes with sha256 ${actual}; ${properties.path} was left as it was`);
        }
      }
      return readManagedFile(context, properties, downloaded);
    },
    plan: planManagedFile,
    apply: applyManagedFile,
  },
};
