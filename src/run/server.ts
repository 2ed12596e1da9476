/**
 * The server service: starts a Sous server in this process, loading the HTTP server and the
 * store drivers only now (they are optional packages: nodes running the agent go without), and
 * says where the store and the first administrator key are.
 */
import { join } from "node:path";
import { sousHome } from "../client/config.js";
import { importOptional } from "../core/optional.js";
import type { ServerOptions } from "../server/server.js";

/** `~/.sous/server` (or `$SOUS_HOME/server`): the server's default data directory. */
export function defaultDataDir(home: string = sousHome()): string {
  return join(home, "server");
}

/** Where the first start writes the server administrator's key when the data directory is the default one. */
export function defaultAdminKeyFile(): string {
  return join(defaultDataDir(), "server-admin.pem");
}

/** How to start a server: the server's options, `dataDir` defaulting to ~/.sous/server. */
export type StartOptions = Omit<ServerOptions, "dataDir"> & { dataDir?: string };

/** A started server: its URL, what it stores in, the administrator key written at a first start, and how to stop it. */
export interface StartedServer {
  url: string;
  /** "PostgreSQL", or the SQLite file's path. */
  store: string;
  /** The server administrator's key when this start wrote it (the first start). */
  adminKeyFile?: string;
  close(): Promise<void>;
}

/** Starts a Sous server; resolves once it listens. */
export async function startSousServer(options: StartOptions): Promise<StartedServer> {
  const dataDir = options.dataDir ?? defaultDataDir();
  const { startServer } = await importOptional(["fastify", "better-sqlite3"], "sous server", () => import("../server/server.js"));
  const server = await startServer({ ...options, dataDir });
  return {
    url: server.url,
    store: options.database ? "PostgreSQL" : join(dataDir, "sous.db"),
    ...(server.adminKeyFile ? { adminKeyFile: server.adminKeyFile } : {}),
    close: () => server.close(),
  };
}
