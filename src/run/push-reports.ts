// Push mode's run reports on the server: each host's run, once finished, is posted as a run report
// (the body an agent sends, from the same mapping), so `sous runs` and `sous node status` see
// pushed nodes as they see pulled ones. Best effort: a server that cannot be reached costs the
// push its reports, never its result.
import PQueue from "p-queue";
import { SousClient } from "../client/api.js";
import { resolveConfigSources } from "../client/config.js";
import { errorMessage } from "../core/errors.js";
import { runReportToServerReport } from "./report/server-report.js";
import type { HostRun } from "./push.js";
import type { HostOutcome } from "../push/fleet.js";

/** What sending the reports came to: how many the server stored, and each host whose report it did not. */
export interface SentReports {
  sent: number;
  failed: Array<{ host: string; error: string }>;
}

/** Posts the run report of every host whose run started (a host that could not be reached ran nothing). */
export async function sendPushReports(client: SousClient, outcomes: readonly HostOutcome<HostRun>[]): Promise<SentReports> {
  const queue = new PQueue({ concurrency: 8 });
  const result: SentReports = { sent: 0, failed: [] };
  await Promise.all(
    outcomes.map((outcome) =>
      queue.add(async () => {
        const run = outcome.value;
        if (!run || run.report.dryRun) return;
        const cookbooks = Object.fromEntries([...(run.loaded?.cookbooks ?? new Map())].map(([name, cookbook]) => [name, cookbook.version]));
        const body = runReportToServerReport(run.report, { runList: run.loaded?.expanded.recipes ?? [], environment: run.loaded?.node.environment ?? "_default", cookbooks });
        try {
          await client.postReport(body);
          result.sent++;
        } catch (error) {
          result.failed.push({ host: outcome.host, error: errorMessage(error) });
        }
      }),
    ),
  );
  return result;
}

/**
 * With a server configured for the repository (sous.config.ts server, SOUS_*, ~/.sous/config.json),
 * sends each host's run report to it; undefined when none is configured, `error` when the server
 * could take none of them.
 */
export async function sendReportsToConfiguredServer(root: string, outcomes: readonly HostOutcome<HostRun>[]): Promise<((SentReports & { error?: undefined }) | { error: string }) & { server: string } | undefined> {
  const { config } = await resolveConfigSources({}, { cwd: root });
  if (!config.server_url || !config.client || !config.key || !config.org) return undefined;
  const client = new SousClient({ serverUrl: config.server_url, org: config.org, client: config.client, privateKeyFile: config.key, timeoutMs: 10_000 });
  try {
    return { server: config.server_url, ...(await sendPushReports(client, outcomes)) };
  } catch (error) {
    return { server: config.server_url, error: errorMessage(error) };
  }
}
