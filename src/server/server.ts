// Starting a Sous server: open the store, make sure a server administrator exists, listen.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { generateKeyPair } from "../protocol/signing.js";
import { buildApp } from "./app.js";
import { pruneReports } from "./fleet/reports.js";
import { SERVER_ADMIN_PREFIX } from "./auth.js";
import type { IndexLimits } from "./limits.js";
import { Store } from "./store/store.js";
import type { StoreLocation } from "./store/store.js";

/** Options of `sous server`. */
export interface ServerOptions {
  /** `postgres://...` to use PostgreSQL; the embedded SQLite file in `dataDir` otherwise. */
  database?: string;
  /** Where the SQLite file and the first server administrator's key go. */
  dataDir: string;
  /** Address to listen on. Default 127.0.0.1. */
  host?: string;
  /** Port; 0 picks a free one. Default 8787. */
  port?: number;
  /** TLS certificate and key files (PEM). */
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** Overrides `database`/`dataDir` for the store (tests use a PostgreSQL schema of their own). */
  location?: StoreLocation;
  /** See AppOptions. */
  clockSkewMs?: number;
  maxFileSize?: number;
  logger?: boolean;
  /** Keep recent search results while what they depend on is unchanged (SQLite). Default true. */
  searchCache?: boolean;
  /** What one object may add to the search index. Default DEFAULT_INDEX_LIMITS. */
  indexLimits?: IndexLimits;
  /** Days run reports are kept (by the run's end); older ones are deleted at start and every hour. Default 30; 0 keeps them forever. */
  reportRetentionDays?: number;
  /** The agents' run interval in seconds, for `sous node status` (missing after two). Default 1800. */
  runIntervalSeconds?: number;
}

/** Days run reports are kept unless told otherwise. */
export const DEFAULT_REPORT_RETENTION_DAYS = 30;

/** A running server. */
export interface RunningServer {
  url: string;
  store: Store;
  app: FastifyInstance;
  /** Set when this start created the first server administrator: where its private key was written. */
  adminKeyFile?: string;
  /** Client name of the server administrator, for signing (`server:admin`). */
  adminClient: string;
  /** Stops listening and closes the store. */
  close(): Promise<void>;
}

/** Name of the first server administrator. */
export const FIRST_ADMIN = "admin";

/** Where the store lives for these options. */
export function storeLocation(options: Pick<ServerOptions, "database" | "dataDir">): StoreLocation {
  if (options.database && /^postgres(ql)?:\/\//.test(options.database)) return { postgresUrl: options.database };
  if (options.database) throw new Error(`--database must be a postgres:// URL (the default store is SQLite in --data-dir); got '${options.database}'`);
  return { sqliteFile: join(options.dataDir, "sous.db") };
}

/** Opens the store, creates the first server administrator if there is none, and listens. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const store = await Store.open(options.location ?? storeLocation(options), { searchCache: options.searchCache !== false, ...(options.indexLimits ? { indexLimits: options.indexLimits } : {}) });
  // Started now, while nothing waits for them, so that the first large save does not pay for them.
  store.startIndexThreads();
  let adminKeyFile: string | undefined;
  try {
    if ((await store.serverAdminKey(FIRST_ADMIN)) === undefined) {
      const pair = generateKeyPair();
      // With several servers on one database only the one whose insert wins writes a key file.
      if (await store.addServerAdmin(FIRST_ADMIN, pair.publicKey)) {
        adminKeyFile = join(options.dataDir, "server-admin.pem");
        writeFileSync(adminKeyFile, pair.privateKey, { mode: 0o600 });
        chmodSync(adminKeyFile, 0o600);
      }
    }
    const https =
      options.tlsCertFile && options.tlsKeyFile ? { cert: readFileSync(options.tlsCertFile, "utf8"), key: readFileSync(options.tlsKeyFile, "utf8") } : undefined;
    if ((options.tlsCertFile === undefined) !== (options.tlsKeyFile === undefined)) throw new Error("TLS needs both --tls-cert and --tls-key");
    const app = buildApp({
      store,
      ...(options.clockSkewMs !== undefined ? { clockSkewMs: options.clockSkewMs } : {}),
      ...(options.maxFileSize !== undefined ? { maxFileSize: options.maxFileSize } : {}),
      ...(options.logger !== undefined ? { logger: options.logger } : {}),
      ...(https ? { https } : {}),
      ...(options.runIntervalSeconds !== undefined ? { runIntervalSeconds: options.runIntervalSeconds } : {}),
    });
    const retentionDays = options.reportRetentionDays ?? DEFAULT_REPORT_RETENTION_DAYS;
    if (!Number.isFinite(retentionDays) || retentionDays < 0) throw new Error(`--report-retention must be a number of days of at least 0, not ${retentionDays}`);
    let pruner: NodeJS.Timeout | undefined;
    if (retentionDays > 0) {
      // Every server process on a database prunes; the deletes are idempotent, and each batch is its own short transaction.
      const prune = (): Promise<unknown> => pruneReports(store, new Date(Date.now() - retentionDays * 86_400_000)).catch((error: Error) => app.log.error(error));
      await prune();
      pruner = setInterval(() => void prune(), 3_600_000);
      pruner.unref();
    }
    const host = options.host ?? "127.0.0.1";
    await app.listen({ host, port: options.port ?? 8787 });
    const address = app.server.address();
    const port = typeof address === "object" && address ? address.port : options.port;
    const url = `${https ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${port}`;
    return {
      url,
      store,
      app,
      ...(adminKeyFile ? { adminKeyFile } : {}),
      adminClient: `${SERVER_ADMIN_PREFIX}${FIRST_ADMIN}`,
      async close() {
        if (pruner) clearInterval(pruner);
        await app.close();
        await store.close();
      },
    };
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
}
