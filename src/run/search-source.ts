// Which backend a CLI converge (local or push) gives its recipes' search(): --search-dir, else the
// repository's own nodes/ and data_bags/ folders, else the configured Sous server. The server's
// settings are read when a recipe first searches, so a run that never searches reads no
// configuration and opens nothing; the folder backend's modules (the query parser) are loaded
// only when there is a folder to search.
import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { layerConfig, serverSectionConfig } from "../client/config.js";
import { UsageError } from "../core/errors.js";
import type { SousConfig } from "../dsl.js";
import type { SearchBackend } from "../search/backend.js";

/** Whether a folder holds anything the folder backend can search (`nodes/` or `data_bags/`). */
export function hasSearchFolders(dir: string): boolean {
  return ["nodes", "data_bags"].some((name) => existsSync(join(dir, name)) && statSync(join(dir, name)).isDirectory());
}

/** The search source of a converge from the CLI; one backend for every host of a push. */
export async function cliSearchSource(repo: string, searchDir: string | undefined): Promise<(settings: SousConfig) => SearchBackend | undefined> {
  if (searchDir !== undefined) {
    const dir = resolve(searchDir);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--search-dir ${searchDir}: no such folder (it should hold nodes/NAME.json and data_bags/BAG/ITEM.json)`);
    const backend = new (await import("../search/directory.js")).DirectorySearchBackend(dir);
    return () => backend;
  }
  if (hasSearchFolders(repo)) {
    const backend = new (await import("../search/directory.js")).DirectorySearchBackend(repo);
    return () => backend;
  }
  const { ServerSearchBackend } = await import("../search/server.js");
  let chosen: { backend: SearchBackend | undefined } | undefined;
  return (settings) => {
    if (chosen) return chosen.backend;
    const file = join(repo, "sous.config.ts");
    const { config } = layerConfig({}, process.env, { settings: serverSectionConfig(settings, repo, file), file });
    chosen = { backend: config.server_url && config.client && config.key ? new ServerSearchBackend({ serverUrl: config.server_url, client: config.client, privateKeyFile: config.key, ...(config.org ? { org: config.org } : {}) }) : undefined };
    return chosen.backend;
  };
}
