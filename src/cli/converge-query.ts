// `sous converge --query QUERY`: a converge now on every node a search returns, through their
// agents. The server records a run request for those nodes; each agent, long-polling for it,
// runs at once and reports with the request's id; this command shows those reports per node as
// they arrive, until every node answered or the timeout.
import { SousApiError, SousClient } from "../client/api.js";
import { resolveConfigSources } from "../client/config.js";
import { SousError, UsageError } from "../core/errors.js";
import type { Output } from "./converge.js";
import type { ReportSummary as Summary } from "../client/api.js";

/** Options of `sous converge --query`. */
export interface ConvergeQueryOptions {
  /** Seconds to wait for the nodes' reports. */
  timeout?: string;
  json?: boolean;
  /** Milliseconds between looks at the request's reports (tests shorten it). */
  pollMs?: number;
}

/** The default wait: an agent answers within seconds, its run may take minutes. */
export const DEFAULT_QUERY_TIMEOUT_SECONDS = 600;

async function client(): Promise<SousClient> {
  const { config, sources } = await resolveConfigSources({});
  if (!config.server_url || !config.client || !config.key) {
    throw new UsageError("converge --query asks the Sous server: configure it (sous.config.ts server, SOUS_SERVER_URL/SOUS_ORG/SOUS_CLIENT/SOUS_KEY, or ~/.sous/config.json from sous org create)");
  }
  try {
    return new SousClient({ serverUrl: config.server_url, client: config.client, privateKeyFile: config.key, ...(config.org ? { org: config.org } : {}) });
  } catch (error) {
    if (error instanceof SousApiError) throw new SousError(error.code, `${error.message} (the key setting comes from ${sources.key})`);
    throw error;
  }
}

function line(report: Summary, width: number): string {
  const took = `${((Date.parse(report.ended_at) - Date.parse(report.started_at)) / 1000).toFixed(1)} s`;
  const name = report.node.padEnd(width);
  if (report.status === "failed") {
    const failure = report.failure;
    return `${name}  FAILED  ${failure?.resource ? `${failure.resource}: ` : ""}${failure?.message ?? "the run failed"}${failure?.location ? ` (${failure.location})` : ""}  [sous runs show ${report.id}]`;
  }
  const what = report.totals.updated === 0 ? `up to date (${report.totals.resources} resources)` : `${report.totals.updated} updated of ${report.totals.resources}`;
  return `${name}  ${report.status === "cached" ? "converged from cache" : "converged"}, ${what}, ${took}`;
}

/** Requests the converge, shows each node's report as it arrives; exit code 1 if any failed or did not answer. */
export async function convergeQueryCommand(query: string, options: ConvergeQueryOptions, output: Output): Promise<number> {
  const timeoutSeconds = options.timeout === undefined ? DEFAULT_QUERY_TIMEOUT_SECONDS : Number(options.timeout);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) throw new UsageError(`--timeout must be a positive number of seconds, got ${JSON.stringify(options.timeout)}`);
  const api = await client();
  let request: { id: string; nodes: string[] };
  try {
    request = await api.createRunRequest(query);
  } catch (error) {
    if (error instanceof SousApiError) throw new SousError(error.code, error.message);
    throw error;
  }
  const write = (value: unknown): void => output.stdout(`${JSON.stringify(value)}\n`);
  if (options.json) write({ type: "request", id: request.id, query, nodes: request.nodes });
  if (request.nodes.length === 0) {
    if (!options.json) output.stderr(`no nodes match ${query}\n`);
    return 1;
  }
  const width = Math.max(...request.nodes.map((node) => node.length));
  if (!options.json) output.stdout(`Asked ${request.nodes.length} node${request.nodes.length === 1 ? "" : "s"} to converge now (${query}); waiting up to ${timeoutSeconds} s for their reports\n`);
  const seen = new Map<string, Summary>();
  const deadline = Date.now() + timeoutSeconds * 1000;
  const pollMs = options.pollMs ?? 1000;
  while (seen.size < request.nodes.length && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, Math.max(0, deadline - Date.now()))));
    let state: { reports: Summary[] };
    try {
      state = await api.getRunRequest(request.id);
    } catch (error) {
      // A server that blinks does not end the wait; the next look may reach it.
      if (error instanceof SousApiError && error.status === 0) continue;
      throw error instanceof SousApiError ? new SousError(error.code, error.message) : error;
    }
    for (const report of state.reports) {
      if (seen.has(report.node)) continue;
      seen.set(report.node, report);
      if (options.json) write({ type: "report", ...report });
      else output.stdout(`${line(report, width)}\n`);
    }
  }
  const silent = request.nodes.filter((node) => !seen.has(node));
  const failed = [...seen.values()].filter((report) => report.status === "failed");
  if (options.json) write({ type: "finish", id: request.id, answered: seen.size, failed: failed.map((r) => r.node), silent });
  else {
    for (const node of silent) output.stdout(`${node.padEnd(width)}  NO ANSWER within ${timeoutSeconds} s (is its agent running? sous node status name:${node})\n`);
    output.stdout(`${seen.size - failed.length} converged, ${failed.length} failed, ${silent.length} did not answer\n`);
  }
  return failed.length > 0 || silent.length > 0 ? 1 : 0;
}
