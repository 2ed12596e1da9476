/** Test helpers: scratch directories, in-memory event capture, converge of declared resources. */
import { mkdtempSync, rmSync, readdirSync, readFileSync, lstatSync, readlinkSync } from "node:fs";
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { spawn } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { after } from "node:test";
import assert from "node:assert/strict";
import { ResourceCollection } from "../src/core/collection.js";
import { converge, type RunResult } from "../src/core/engine.js";
import type { RunEvent } from "../src/core/events.js";
import { resourceFunctions, type Resources, type NodeView } from "../src/dsl.js";
import { LocalHost } from "../src/host/local.js";
import { builtinRegistry } from "../src/resources/registry.js";
import type { Host } from "../src/host/host.js";

/** A scratch directory removed when the test file ends (also when it fails). */
export function scratch(prefix = "sous-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const testNode = { name: "test", environment: "_default", runList: [], recipes: [], roles: [], attributes: {}, automatic: {}, platform: "debian", platformFamily: "debian", platformVersion: "12", hostname: "test", ipaddress: undefined } as NodeView;

/** The outcome of converging a set of declarations. */
export interface Converged {
  result: RunResult;
  events: RunEvent[];
  updated: string[];
}

/**
 * Declares resources with `declare` (a fresh collection each call), then converges them.
 * `cookbookDir` serves templates/ and files/.
 */
export async function convergeWith(
  declare: (resources: Resources) => void,
  options: { dryRun?: boolean; host?: Host; backupDir?: string; cookbookDir?: string } = {},
): Promise<Converged> {
  const collection = new ResourceCollection();
  const registry = builtinRegistry();
  const cookbook = { name: "test", version: "1.0.0", dir: options.cookbookDir ?? "/nonexistent" };
  const { declare: _declare, ...resources } = resourceFunctions(() => ({ collection, registry, recipe: "test::default", cookbook }), testNode);
  declare(resources);
  const frozen = collection.freeze();
  const events: RunEvent[] = [];
  const result = await converge({
    host: options.host ?? new LocalHost(),
    collection: frozen,
    dryRun: options.dryRun,
    events: (e) => events.push(e),
    // A scratch folder by default, so that backups never pile up outside the test's own temp dirs.
    backupDir: options.backupDir ?? scratch("sous-test-backups-"),
  });
  const updated = events.filter((e) => e.type === "resource:updated").map((e) => (e as { resource: { id: string } }).resource.id);
  return { result, events, updated };
}

/** A digest of everything under a directory: names, types, modes, owners, contents, link targets. */
export function treeDigest(root: string): string {
  const hash = createHash("sha256");
  const visit = (path: string, rel: string) => {
    const info = lstatSync(path);
    hash.update(`${rel}\0${info.mode}\0${info.uid}\0${info.gid}\0${info.mtimeMs}\0`);
    if (info.isSymbolicLink()) hash.update(readlinkSync(path));
    else if (info.isFile()) hash.update(readFileSync(path));
    else if (info.isDirectory()) for (const entry of readdirSync(path).sort()) visit(join(path, entry), `${rel}/${entry}`);
  };
  visit(root, ".");
  return hash.digest("hex");
}

/** The line number of the caller, to compare with the file:line that errors and events report. */
export function lineHere(): number {
  const frame = new Error().stack?.split("\n")[2] ?? "";
  const match = /:(\d+):\d+\)?$/.exec(frame.trim());
  if (!match) throw new Error(`cannot find a line number in ${JSON.stringify(frame)}`);
  return Number(match[1]);
}

/** The events of one type, typed. */
export function eventsOf<T extends RunEvent["type"]>(events: readonly RunEvent[], type: T): Array<Extract<RunEvent, { type: T }>> {
  return events.filter((event): event is Extract<RunEvent, { type: T }> => event.type === type);
}

/** A real HTTP server on 127.0.0.1 with a port chosen by the kernel, closed when the test file ends. */
export interface TestHttpServer {
  /** The base URL, without a trailing slash. */
  url: string;
  /** How many requests each path has received. */
  requests: Map<string, number>;
  /** The request headers each path last received. */
  headers: Map<string, import("node:http").IncomingHttpHeaders>;
  /** What each path serves (change it between runs); a missing path answers 404. */
  routes: Map<string, Buffer | string>;
}

/** Starts a TestHttpServer serving `routes`. */
export async function serveHttp(routes: Record<string, Buffer | string> = {}): Promise<TestHttpServer> {
  const state: TestHttpServer = { url: "", requests: new Map(), headers: new Map(), routes: new Map(Object.entries(routes)) };
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? "/", "http://127.0.0.1").pathname;
    state.requests.set(path, (state.requests.get(path) ?? 0) + 1);
    state.headers.set(path, request.headers);
    const body = state.routes.get(path);
    if (body === undefined) {
      response.writeHead(404).end("not found");
      return;
    }
    response.writeHead(200, { "content-type": "application/octet-stream" }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the test HTTP server has no TCP address");
  state.url = `http://127.0.0.1:${address.port}`;
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  return state;
}

/**
 * The idempotency check: converges `declare` twice and asserts that both runs converged, that
 * the first updated exactly `expectUpdated` (resource ids) and that the second updated nothing.
 */
export async function convergeTwice(
  declare: (resources: Resources) => void,
  expectUpdated: readonly string[],
  options: Parameters<typeof convergeWith>[1] = {},
): Promise<{ first: Converged; second: Converged }> {
  const failures = (run: Converged) => JSON.stringify(run.events.filter((e) => e.type === "resource:failed"));
  const first = await convergeWith(declare, options);
  assert.equal(first.result.status, "converged", failures(first));
  assert.deepEqual(first.updated, expectUpdated, "the first run updates");
  const second = await convergeWith(declare, options);
  assert.equal(second.result.status, "converged", failures(second));
  assert.deepEqual(second.updated, [], "the second run updates nothing");
  assert.equal(second.result.counts.updated, 0);
  return { first, second };
}

/** What one CLI invocation printed and returned. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `sous ARGV` in this process with captured output (no colour). */
export async function sous(...argv: string[]): Promise<CliResult> {
  // Loaded on first use: most test files never run the command line.
  const { main } = await import("../src/cli/main.js");
  let stdout = "";
  let stderr = "";
  const code = await main(argv, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), color: false });
  return { code, stdout, stderr };
}

/** This checkout's root: where bin/sous.js and dist/ are. */
export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Runs the real `sous` command (bin/sous.js over dist/, built by `npm test` first) in `cwd`. */
export function sousProcess(cwd: string, ...args: string[]): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(projectRoot, "bin", "sous.js"), ...args], { cwd, env: { ...process.env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code: code ?? 1, stdout, stderr }));
  });
}
