// Shared fixtures of the server tests: the two store back ends (SQLite in a temp file and
// PostgreSQL in a schema of its own), so that one suite runs against both.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import pg from "pg";
import { SousApiError } from "../../src/client/api.js";
import { Store } from "../../src/server/store/store.js";
import type { StoreLocation } from "../../src/server/store/store.js";

/** A store back end under test. */
export interface Backend {
  name: "sqlite" | "postgres";
  /** Why the back end is skipped here, or undefined when it runs. */
  skip?: string;
  /** A fresh, empty location plus its cleanup. */
  location(): Promise<{ location: StoreLocation; cleanup: () => Promise<void> }>;
}

let postgresUrl: string | undefined = process.env.SOUS_TEST_POSTGRES_URL;
let postgresSkip: string | undefined;

function startOwnPostgres(): void {
  // No URL given: start a throwaway cluster the way CI does, and stop it when this process exits.
  const hasInitdb = existsSync("/usr/lib/postgresql") && readdirSync("/usr/lib/postgresql").some((v) => existsSync(`/usr/lib/postgresql/${v}/bin/initdb`));
  if (!hasInitdb) {
    postgresSkip = "PostgreSQL is not installed and SOUS_TEST_POSTGRES_URL is unset; run: eval \"$(bash scripts/ci-postgres.sh)\"";
    return;
  }
  const output = execFileSync("bash", [join(import.meta.dirname, "../../scripts/ci-postgres.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  const match = /SOUS_TEST_POSTGRES_URL=(\S+)/.exec(output);
  if (!match) {
    postgresSkip = "scripts/ci-postgres.sh printed no URL";
    return;
  }
  postgresUrl = match[1];
  const dataDir = /SOUS_TEST_POSTGRES_DATA=(\S+)/.exec(output)?.[1];
  if (dataDir) {
    const bin = readdirSync("/usr/lib/postgresql").map((v) => `/usr/lib/postgresql/${v}/bin`).find((b) => existsSync(`${b}/pg_ctl`))!;
    let stopped = false;
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      const pgCtl = [`${bin}/pg_ctl`, "-D", dataDir, "-m", "immediate", "stop"];
      // ci-postgres.sh runs the cluster as `postgres` when started by root, as the caller otherwise.
      if (process.getuid?.() === 0) spawnSync("runuser", ["-u", "postgres", "--", ...pgCtl], { stdio: "ignore" });
      else spawnSync(pgCtl[0]!, pgCtl.slice(1), { stdio: "ignore" });
      rmSync(join(dataDir, ".."), { recursive: true, force: true });
    };
    process.on("exit", stop);
    // A test run stopped by a signal must not leave its cluster running either.
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      process.once(signal, () => {
        stop();
        process.exit(1);
      });
    }
  }
}

if (!postgresUrl) {
  try {
    startOwnPostgres();
  } catch (error) {
    postgresSkip = `could not start PostgreSQL: ${(error as Error).message}`;
  }
}
if (postgresSkip && process.env.CI === "true") {
  throw new Error(`PostgreSQL tests must run in CI: ${postgresSkip}`);
}

let schemaCounter = 0;

/** The SQLite and PostgreSQL back ends. */
export const backends: Backend[] = [
  {
    name: "sqlite",
    async location() {
      const dir = mkdtempSync(join(tmpdir(), "sous-store-"));
      return { location: { sqliteFile: join(dir, "sous.db") }, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: "postgres",
    ...(postgresSkip ? { skip: postgresSkip } : {}),
    async location() {
      const schema = `sous_test_${process.pid}_${Date.now().toString(36)}_${++schemaCounter}`;
      return {
        location: { postgresUrl: postgresUrl!, schema },
        cleanup: async () => {
          const client = new pg.Client({ connectionString: postgresUrl });
          await client.connect();
          await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
          await client.end();
        },
      };
    },
  },
];

/** Opens a fresh store on a back end; returns it with a cleanup that closes and removes it. */
export async function openStore(backend: Backend): Promise<{ store: Store; location: StoreLocation; cleanup: () => Promise<void> }> {
  const { location, cleanup } = await backend.location();
  const store = await Store.open(location);
  return {
    store,
    location,
    cleanup: async () => {
      await store.close().catch(() => undefined);
      await cleanup();
    },
  };
}

/** A server on 127.0.0.1 port 0 over a fresh store, with a client signed as the server administrator. */
export async function startTestServer(backend: Backend, options: { clockSkewMs?: number; maxFileSize?: number } = {}) {
  const { startServer } = await import("../../src/server/server.js");
  const { SousClient } = await import("../../src/client/api.js");
  const { location, cleanup } = await backend.location();
  const dataDir = mkdtempSync(join(tmpdir(), "sous-server-"));
  const server = await startServer({ dataDir, port: 0, location, ...options });
  const serverAdmin = new SousClient({ serverUrl: server.url, client: server.adminClient, privateKeyFile: server.adminKeyFile! });
  return {
    server,
    location,
    dataDir,
    serverAdmin,
    cleanup: async () => {
      await server.close().catch(() => undefined);
      await cleanup();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Creates an organization through the API; returns clients signed as its admin and its validator. */
export async function createOrg(serverUrl: string, serverAdmin: import("../../src/client/api.js").SousClient, org: string) {
  const { SousClient } = await import("../../src/client/api.js");
  const { generateKeyPair } = await import("../../src/protocol/signing.js");
  const adminKeys = generateKeyPair();
  const validatorKeys = generateKeyPair();
  await serverAdmin.request("POST", "/api/v1/orgs", { body: { name: org, full_name: org.toUpperCase(), admin: { name: "alice", public_key: adminKeys.publicKey }, validator: { public_key: validatorKeys.publicKey } } });
  return {
    admin: new SousClient({ serverUrl, org, client: "alice", privateKey: adminKeys.privateKey }),
    validator: new SousClient({ serverUrl, org, client: `${org}-validator`, privateKey: validatorKeys.privateKey }),
    adminKeys,
  };
}

/** A test server with organization `acme` (admin `alice`), for suites that sign requests by hand with the admin's private key. */
export async function startServerWithOrg(backend: Backend) {
  const ctx = await startTestServer(backend);
  const org = await createOrg(ctx.server.url, ctx.serverAdmin, "acme");
  return { ctx, admin: org.admin, key: org.adminKeys.privateKey };
}

/** Awaits `promise` and asserts it fails with an API error of this status (and code); returns the error. */
export async function rejectsWith(promise: Promise<unknown>, status: number, code?: string): Promise<SousApiError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof SousApiError, `expected an API error, got ${String(error)}`);
    assert.equal(error.status, status, `${error.code}: ${error.message}`);
    if (code) assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected HTTP ${status}, but the request succeeded`);
}

/**
 * A server in a child process on 127.0.0.1 port 0 over a fresh store, with a client signed as the
 * server administrator: for code that waits synchronously for the server (recipes' search), which
 * would block a server running in the test's own thread.
 */
export async function startServerProcess(backend: Backend) {
  const { spawn } = await import("node:child_process");
  const { SousClient } = await import("../../src/client/api.js");
  const { location, cleanup } = await backend.location();
  const dataDir = mkdtempSync(join(tmpdir(), "sous-server-"));
  const serverModule = join(import.meta.dirname, "../../src/server/server.ts");
  const script = `import(${JSON.stringify(serverModule)}).then(async (m) => { const s = await m.startServer(${JSON.stringify({ dataDir, port: 0, location })}); console.log("listening on " + s.url); process.on("SIGTERM", () => s.close().then(() => process.exit(0))); })`;
  const child = spawn(process.execPath, ["--import", "tsx", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<void>((resolveExit) => child.on("exit", () => resolveExit()));
  const url = await new Promise<string>((resolveUrl, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error(`server did not start: ${output}`)), 30_000);
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolveUrl(match[1]!);
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("exit", (code) => reject(new Error(`server exited with ${code}: ${output}`)));
  });
  const serverAdmin = new SousClient({ serverUrl: url, client: "server:admin", privateKeyFile: join(dataDir, "server-admin.pem") });
  return {
    url,
    location,
    dataDir,
    serverAdmin,
    pid: child.pid!,
    cleanup: async () => {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (child.exitCode === null) child.kill("SIGKILL");
      }
      await cleanup();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A run report body as an agent sends it (FLEET-CONTRACT.md), its run ended `ago` seconds before now. */
export function runReportBody(node: string, overrides: Record<string, unknown> = {}, ago = 0): Record<string, unknown> {
  const end = Date.now() - ago * 1000;
  return {
    id: randomUUID(),
    node,
    status: "success",
    started_at: new Date(end - 2000).toISOString(),
    ended_at: new Date(end).toISOString(),
    run_list: ["recipe[web::default]"],
    environment: "_default",
    cookbooks: { web: "1.2.0" },
    totals: { resources: 12, updated: 1, skipped: 0, failed: 0 },
    resources: [{ id: "template[/etc/web.conf]", action: "create", status: "updated", changes: [{ property: "content", from: "a", to: "b" }], diff: "--- a\n+++ b\n-a\n+b\n", location: "/repo/cookbooks/web/recipes/default.ts:12" }],
    agent_version: "0.1.0",
    queued: false,
    ...overrides,
  };
}
