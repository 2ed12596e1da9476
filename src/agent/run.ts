/**
 * One agent run: facts → the node, its environment and roles from the server → the resolved
 * cookbooks (only files not cached) → converge → save the node (not after a failed run) → the
 * run report, queued on disk first and sent in order. With the server down, the run
 * converges the last good cache (unless the node's environment changed since) and its report
 * is marked `cached` and waits in the queue.
 */
import { randomUUID } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SousApiError, SousClient } from "../client/api.js";
import { errorMessage, SousError } from "../core/errors.js";
import type { EventSink, RunEvent } from "../core/events.js";
import type { AttributeTree } from "../dsl.js";
import { gatherBasicFacts } from "../facts/basic.js";
import { LocalHost } from "../host/local.js";
import { humanReporter } from "../run/report/human.js";
import { jsonLinesReporter } from "../run/report/json.js";
import { invalidRunReport, type RunReport } from "../run/report/run-report.js";
import type { NodeBody } from "../protocol/bodies.js";
import type { RunReportBody } from "../protocol/reports.js";
import { runReportToServerReport } from "../run/report/server-report.js";
import { CookbookCache, type RunInputs } from "./cache.js";
import type { AgentConfig } from "./config.js";
import { convergeForAgent } from "./converge.js";
import { acquireRunLock } from "./lock.js";
import { RecordingSearchBackend, ReplaySearchBackend } from "./search-cache.js";
import { ServerSearchBackend } from "../search/server.js";
import { type FlushResult, ReportQueue } from "./queue.js";

/** Where an agent run writes for people. */
export interface AgentOutput {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  color: boolean;
}

/** Options of one run. */
export interface AgentRunOptions {
  config: AgentConfig;
  output: AgentOutput;
  /** The run's id (the daemon chooses it, so that it can report a run it had to kill). */
  runId?: string;
  /** The run-now request this run answers. */
  runRequest?: string;
  /** Seconds to wait for another run's lock (0: fail at once). */
  lockTimeoutSeconds?: number;
  /** JSON lines instead of the human report. */
  json?: boolean;
  /** True once the run was given up (its timeout): it then neither saves the node nor reports. */
  isAbandoned?: () => boolean;
}

/** How a run ended. */
export interface AgentRunOutcome {
  status: "success" | "failed" | "cached" | "disabled";
  runId: string;
  report?: RunReportBody;
  flush?: FlushResult;
}

/** Why the agent is disabled, when it is. */
export interface DisabledState {
  reason: string;
  since: string;
}

/** The disabled state, or undefined when runs are enabled. */
export function disabledState(config: AgentConfig): DisabledState | undefined {
  try {
    return JSON.parse(readFileSync(config.paths.disabledFile, "utf8")) as DisabledState;
  } catch {
    return undefined;
  }
}

/** Disables runs (`sous agent disable "reason"`); a run in progress finishes. */
export function disableAgent(config: AgentConfig, reason: string): DisabledState {
  ensureStateDirs(config);
  const state = { reason, since: new Date().toISOString() };
  writeFileSync(config.paths.disabledFile, `${JSON.stringify(state)}\n`, { mode: 0o600 });
  return state;
}

/** Enables runs again; returns whether the agent was disabled. */
export function enableAgent(config: AgentConfig): boolean {
  const was = existsSync(config.paths.disabledFile);
  rmSync(config.paths.disabledFile, { force: true });
  return was;
}

/** The state, cache and queue folders, owned by root and readable by nobody else. */
export function ensureStateDirs(config: AgentConfig): void {
  for (const dir of [config.paths.stateDir, config.paths.cacheDir, config.paths.queueDir]) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // mkdir's mode is only used for new folders (and through the umask): make it so.
    chmodSync(dir, 0o700);
  }
}

/** The signed client of the node itself. */
export function nodeClient(config: AgentConfig, timeoutMs?: number): SousClient {
  return new SousClient({ serverUrl: config.serverUrl, org: config.org, client: config.nodeName, privateKeyFile: config.keyFile, ...(config.trustedCertificate ? { ca: config.trustedCertificate } : {}), ...(timeoutMs ? { timeoutMs } : {}) });
}

/** Whether an error means the server is down or unreachable (a cached run may help), not that it refused. */
export function serverUnavailable(error: unknown): boolean {
  if (!(error instanceof SousApiError)) return false;
  return (error.status === 0 && error.code === "unreachable") || error.status >= 500;
}

const LAST_ENVIRONMENT = "last-environment";

/** Runs once under the run lock; never throws for a failed run (the outcome says so), only for a lock held or a broken setup. */
export async function runAgentOnce(options: AgentRunOptions): Promise<AgentRunOutcome> {
  const { config, output } = options;
  const runId = options.runId ?? randomUUID();
  const disabled = disabledState(config);
  if (disabled) {
    output.stdout(`sous agent is disabled since ${disabled.since}: ${disabled.reason} (sous agent enable to run again); skipping this run\n`);
    return { status: "disabled", runId };
  }
  ensureStateDirs(config);
  const lock = acquireRunLock(config.paths.lockFile, options.lockTimeoutSeconds ?? 0);
  try {
    return await runLocked(options, runId);
  } finally {
    lock.release();
  }
}

async function runLocked(options: AgentRunOptions, runId: string): Promise<AgentRunOutcome> {
  const { config, output } = options;
  const host = new LocalHost();
  const factsPending = gatherBasicFacts(host);
  factsPending.catch(() => {});
  const client = nodeClient(config);
  const cache = new CookbookCache(config.paths.cacheDir);
  const queue = new ReportQueue(config.paths.queueDir);
  const sink: EventSink = options.json ? jsonLinesReporter(output.stdout) : humanReporter({ level: "info", why: false, diff: true, color: output.color, write: output.stdout });
  const startedAt = new Date();
  const say = (text: string) => (options.json ? undefined : output.stdout(`${text}\n`));

  let inputs: RunInputs | undefined;
  let node: { data: NodeBody; etag?: string } | undefined;
  let cached = false;
  let refusal: string | undefined;
  try {
    const response = await client.getNode(config.nodeName);
    node = { data: response.body, ...(response.etag ? { etag: response.etag } : {}) };
    writeFileSync(join(config.paths.cacheDir, LAST_ENVIRONMENT), node.data.chef_environment || "_default", { mode: 0o600 });
    inputs = await cache.sync(client, node.data);
    say(`Run ${runId} of node ${config.nodeName} (environment ${inputs.environment}): ${inputs.recipes.length} recipe${inputs.recipes.length === 1 ? "" : "s"}, ${Object.keys(inputs.cookbooks).length} cookbook${Object.keys(inputs.cookbooks).length === 1 ? "" : "s"} (${inputs.downloaded} file${inputs.downloaded === 1 ? "" : "s"} downloaded, ${inputs.cachedFiles} cached)`);
  } catch (error) {
    if (!serverUnavailable(error)) {
      refusal = error instanceof SousApiError && error.status === 404 && !node ? `node ${config.nodeName} is not on the server ${config.serverUrl} (org ${config.org}): bootstrap it again (sous bootstrap --force)` : errorMessage(error);
    } else {
      const good = cache.lastGood();
      let lastEnvironment: string | undefined;
      try {
        lastEnvironment = readFileSync(join(config.paths.cacheDir, LAST_ENVIRONMENT), "utf8").trim();
      } catch {
        lastEnvironment = undefined;
      }
      const expected = lastEnvironment ?? config.environment;
      if (!good) refusal = `the server is unavailable (${errorMessage(error)}) and there is no cached run to converge yet`;
      else if (expected !== undefined && good.environment !== expected) {
        refusal = `the server is unavailable (${errorMessage(error)}); the cached run is of environment ${good.environment} but the node is now in ${expected}: not converging from the cache`;
      } else {
        inputs = good;
        cached = true;
        say(`The server is unavailable (${errorMessage(error)}): converging the cached run of ${good.recorded_at} (environment ${good.environment})`);
      }
    }
  }

  const facts = await factsPending.catch((error: unknown) => {
    throw new SousError("facts_failed", `cannot gather this machine's facts: ${errorMessage(error)}`);
  });
  let report: RunReport;
  let recipes: string[] = inputs?.recipes ?? [];
  let roles: string[] = [];
  let search: RecordingSearchBackend | ReplaySearchBackend | undefined;
  if (!inputs) {
    report = invalidRunReport({ runId, node: config.nodeName, dryRun: false, startedAt }, refusal ?? "the run could not start", []);
    report.error = { code: "run_refused", message: refusal ?? "the run could not start" };
    output.stderr(`sous agent: ${refusal}\n`);
  } else {
    // Online, the node's own key asks the server (opened only when a recipe searches) and the answers are kept; cached, they are replayed.
    const good = cached ? cache.lastGood() : undefined;
    search = cached ? new ReplaySearchBackend(good?.search ?? {}, good?.recorded_at ?? "unknown") : new RecordingSearchBackend(() => new ServerSearchBackend(nodeClient(config).options));
    const result = await convergeForAgent({
      host,
      root: inputs.root,
      runId,
      nodeName: config.nodeName,
      environment: inputs.environment,
      runList: inputs.runList,
      normal: inputs.normal,
      facts,
      reportFile: config.paths.lastRunFile,
      search,
      events: (event: RunEvent) => sink(event),
    });
    if (search instanceof RecordingSearchBackend) search.close();
    report = result.report;
    recipes = result.recipes ?? recipes;
    roles = result.roles ?? [];
  }

  if (options.isAbandoned?.()) return { status: "failed", runId };
  const succeeded = report.status === "converged";
  if (succeeded && inputs && !cached && node) {
    // Facts and the run's expansion are the node's automatic attributes; what an administrator
    // set (run list, environment, normal attributes) is kept as the server has it now.
    const automatic: AttributeTree = { ...facts, roles, recipes };
    try {
      await saveNode(client, node, automatic);
      cache.recordGood(inputs, search instanceof RecordingSearchBackend ? search.answers : {});
    } catch (error) {
      output.stderr(`sous agent: the run converged but saving node ${config.nodeName} failed: ${errorMessage(error)}\n`);
    }
  }

  const serverReport = runReportToServerReport(report, { runList: recipes, environment: inputs?.environment ?? node?.data.chef_environment ?? config.environment ?? "_default", cookbooks: inputs?.cookbooks ?? {}, cached, ...(options.runRequest ? { runRequest: options.runRequest } : {}) });
  const queued = queue.add(serverReport);
  const flush = cached ? { sent: 0, rejected: 0, left: queue.pending().length } : await queue.flush(client, queued);
  const status = serverReport.status;
  const reportState = flush.left > 0 ? `report queued (${flush.left} waiting for the server)` : `report sent${flush.sent > 1 ? ` with ${flush.sent - 1} queued before it` : ""}`;
  say(`Agent run ${runId}: ${status}; ${reportState}`);
  return { status, runId, report: serverReport, flush };
}

/** Saves the node's automatic attributes; if an administrator changed the node meanwhile, reads it again and saves over that. */
async function saveNode(client: SousClient, node: { data: NodeBody; etag?: string }, automatic: AttributeTree): Promise<void> {
  let current = node;
  for (let attempt = 0; ; attempt++) {
    try {
      await client.saveNode({ ...current.data, automatic }, current.etag);
      return;
    } catch (error) {
      if (!(error instanceof SousApiError) || error.status !== 412 || attempt >= 2) throw error;
      const fresh = await client.getNode(current.data.name);
      current = { data: fresh.body, ...(fresh.etag ? { etag: fresh.etag } : {}) };
    }
  }
}
