/** `sous converge ssh://user@host ...`: agentless push of the repository's run list. */
import { UsageError } from "../core/errors.js";
import { humanReporter } from "../run/report/human.js";
import { readNodeJson } from "../run/node-json.js";
import type { HostOutcome, HostRun } from "../run/push.js";
import { cliSearchSource } from "../run/search-source.js";
import { type ConvergeCliOptions, engineEvent, type Output, repositoryOf, showDiffs } from "./converge.js";
import { positiveNumber, progressFor, type SshCliOptions, sshOptions, targetsOf } from "./ssh-options.js";

export type { SshCliOptions } from "./ssh-options.js";

/** Options of a push run, beyond those of a local converge. */
export interface PushCliOptions extends ConvergeCliOptions, SshCliOptions {
  /** false (--no-server-reports): send no run reports to the configured server. */
  serverReports?: boolean;
}

/**
 * With a server configured (sous.config.ts server, SOUS_*, ~/.sous/config.json), each host's run
 * report goes to it; one line on stderr says how many, or why some were not sent.
 */
async function sendReports(root: string, outcomes: HostOutcome<HostRun>[], output: Output): Promise<void> {
  const { sendReportsToConfiguredServer } = await import("../run/push-reports.js");
  const sent = await sendReportsToConfiguredServer(root, outcomes);
  if (!sent) return;
  if (sent.error !== undefined) return output.stderr(`run reports not sent to ${sent.server}: ${sent.error}\n`);
  if (sent.failed.length === 0) output.stderr(`${sent.sent} run report${sent.sent === 1 ? "" : "s"} sent to ${sent.server}\n`);
  else output.stderr(`${sent.sent} run reports sent to ${sent.server}; not sent: ${sent.failed.map((f) => `${f.host} (${f.error})`).join("; ")}\n`);
}

function summary(output: Output, outcomes: HostOutcome<unknown>[], describe: (outcome: HostOutcome<never>) => string): void {
  const width = Math.max(...outcomes.map((o) => o.host.length));
  output.stdout(`\nResults (${outcomes.length} host${outcomes.length === 1 ? "" : "s"}):\n`);
  for (const outcome of outcomes) output.stdout(`  ${outcome.host.padEnd(width)}  ${describe(outcome as HostOutcome<never>)}\n`);
  const failed = outcomes.filter((o) => !o.ok).length;
  output.stdout(`${outcomes.length - failed} ok, ${failed} failed\n`);
}

/** Converges remote targets over SSH; returns the process exit code (1 if any host failed). */
export async function pushCommand(targetArgs: string[], options: PushCliOptions, output: Output): Promise<number> {
  const root = repositoryOf(options);
  if (options.nodeName) throw new UsageError("--node-name names one node; in push mode each target's node name comes from its facts (FQDN)");
  const targets = targetsOf(targetArgs, options);
  // Checked the same way as a local converge's, before any host is reached.
  const node = options.jsonAttributes ? readNodeJson(options.jsonAttributes) : undefined;
  // Loaded here, not at the top: `sous exec` needs none of the compiler and engine behind it.
  const { checkPushOptions, describeOutcome, pushConverge } = await import("../run/push.js");
  checkPushOptions({ root, targets, ...(options.backupDir !== undefined ? { backupDir: options.backupDir } : {}), ...(options.report !== undefined ? { report: options.report } : {}) });
  const dryRun = options.dryRun === true;
  const progress = await progressFor(output, dryRun ? "Dry run on" : "Converging", targets.length, options.json === true);
  const color = output.color && options.color !== false && !options.json;
  // Per host, the human reporter renders changes and failures (not every up-to-date resource).
  const reporters = new Map<string, ReturnType<typeof humanReporter>>();
  const outcomes = await pushConverge({
    root,
    targets,
    search: await cliSearchSource(root, options.searchDir),
    runList: options.runList ?? node?.runList,
    ...(options.environment !== undefined ? { environment: options.environment } : {}),
    ...(node ? { normal: node.attributes } : {}),
    dryRun,
    ssh: sshOptions(options),
    concurrency: positiveNumber("--concurrency", options.concurrency),
    ...(options.backupDir !== undefined ? { backupDir: options.backupDir } : {}),
    ...(options.report !== undefined ? { report: options.report } : {}),
    events(host, event) {
      if (options.json) return output.stdout(`${JSON.stringify(event)}\n`);
      if (event.type === "resource:up-to-date" || event.type === "resource:updated" || event.type === "resource:failed") progress.activity(host, event.resource.id);
      if (event.type === "run:start" || event.type === "run:finish") return;
      const engine = engineEvent(event);
      if (!engine) return;
      let reporter = reporters.get(host);
      if (!reporter) {
        reporter = humanReporter({ level: "warn", why: options.why === true, diff: showDiffs(options), color, write: (text) => progress.line(text.replace(/\n$/, "").split("\n").map((l) => `${host} |${l}`).join("\n")) });
        reporters.set(host, reporter);
      }
      reporter(engine);
    },
    onPhase(host, phase, outcome) {
      progress.phase(host, phase, outcome ? describeOutcome(outcome, dryRun) : undefined);
    },
  });
  progress.stop();
  if (!dryRun && options.serverReports !== false) await sendReports(root, outcomes, output);
  if (options.json) {
    for (const o of outcomes) {
      const counts = o.value?.result.counts;
      output.stdout(`${JSON.stringify({ type: "host:finish", host: o.host, status: o.ok ? "converged" : "failed", ...(counts ? { counts } : {}), ...(o.value?.reportPath ? { report: o.value.reportPath } : {}), ...(o.error ? { error: o.error, code: o.code } : {}), durationMs: Math.round(o.durationMs) })}\n`);
    }
  } else summary(output, outcomes, (o) => describeOutcome(o as HostOutcome<HostRun>, dryRun));
  return outcomes.every((o) => o.ok) ? 0 : 1;
}
