/** `remote_file`: a file downloaded over HTTP(S), verified by SHA-256, fetched only when needed. */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { SousError } from "../core/errors.js";
import { type InputOf, type OutputOf, prop } from "../core/properties.js";
import { defineType } from "../core/resource.js";
import { applyManagedFile, type ManagedFileCurrent, planManagedFile, readManagedFile, managedFileProperties } from "./managed-file.js";
import { sha256 } from "./metadata.js";
import { pathRequirements } from "../core/preconditions.js";

const properties = {
  /** Absolute path of the file (defaults to the resource name). */
  path: prop.absolutePath({ role: "identity" }),
  /** http://, https:// or file:// URL. */
  source: prop.matching("an http://, https:// or file:// URL", (v) => /^(https?|file):\/\//.test(v) && URL.canParse(v), { required: true }),
  /** Expected SHA-256 (hex). With it, a file that already matches is never downloaded again. */
  checksum: prop.matching("a SHA-256 checksum (64 hex digits)", (v) => /^(sha256:)?[0-9a-fA-F]{64}$/.test(v), { transform: (v: string) => v.replace(/^sha256:/, "").toLowerCase() }),
  /** Extra request headers (sensitive: never printed). */
  headers: prop.stringRecord({ role: "control", sensitive: true }),
  /** Seconds before the download is abandoned (default 300). */
  timeout: prop.seconds({ role: "control", default: 300 }),
  ...managedFileProperties,
};

/** What a recipe writes for `remote_file` (derived from its property specs). */
export type RemoteFileInput = InputOf<typeof properties>;

type RemoteFileProperties = OutputOf<typeof properties>;

/** Actions of `remote_file`. */
export type RemoteFileAction = (typeof remoteFileType.actions)[number];

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
export const remoteFileType = defineType({
  name: "remote_file",
  description: "A file downloaded over HTTP(S) or from a file:// URL, verified by SHA-256 and not fetched again when it already matches.",
  actions: ["create", "create_if_missing", "delete", "nothing"],
  defaultAction: "create",
  identity: "path",
  properties,
  // The real run needs the owner, the group and the directory the file goes in.
  requires: (properties, action) => (action === "delete" ? [] : pathRequirements(properties, { parent: true })),
  provider: {
    async read(context, properties, action): Promise<ManagedFileCurrent> {
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
});
