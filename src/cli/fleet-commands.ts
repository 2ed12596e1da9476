// The fleet's commands: `sous runs [NODE]`, `sous runs show ID`, `sous node status [QUERY]` (what
// the nodes reported) and `sous ssh QUERY COMMAND` (knife ssh: a command on every node a search
// returns). Rendering only; the server answers from its store.
import type { Command } from "commander";
import { Option } from "commander";
import type { RunReportBody } from "../client/api.js";
import { SousError } from "../core/errors.js";
import { addSshOptions } from "./ssh-flags.js";
import { action, clientFor, connectionOptions, flagsOf, print, rootOf, writers } from "./connection.js";

type Json = Record<string, unknown>;

/** Adds `--json`, the fleet commands' spelling of `--format json`. */
function jsonOption(command: Command): Command {
  return command.option("--json", "print JSON (same as --format json)");
}

function format(command: Command): "text" | "json" {
  const flags = flagsOf(command);
  return flags.json === true || flags.format === "json" ? "json" : "text";
}

function seconds(from: string, to: string): string {
  return `${((Date.parse(to) - Date.parse(from)) / 1000).toFixed(1)} s`;
}

/** `2026-12-03 10:00:04` (UTC, to the second): short enough for a table. */
function shortTime(iso: string): string {
  return iso.replace("T", " ").replace(/\.\d+Z$|Z$/, "");
}

function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172_800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join("  ").trimEnd()).join("\n");
}

function shown(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value) : JSON.stringify(value);
}

function indent(text: string, by: string): string {
  return text
    .replace(/\n$/, "")
    .split("\n")
    .map((line) => `${by}${line}`)
    .join("\n");
}

/** One report, for people: what ran, what changed (with diffs), and why it failed. */
export function renderReport(report: RunReportBody): string {
  const lines = [
    `Run ${report.id} on ${report.node}: ${report.status}${report.queued ? " (sent later from the agent's queue)" : ""}`,
    `  started     ${report.started_at}, ended ${report.ended_at} (${seconds(report.started_at, report.ended_at)}), received ${report.received_at}`,
    `  run list    ${report.run_list.join(", ") || "(empty)"}`,
    `  environment ${report.environment}`,
    `  cookbooks   ${Object.entries(report.cookbooks).map(([name, version]) => `${name} ${version}`).join(", ") || "(none)"}`,
    `  resources   ${report.totals.resources}, updated ${report.totals.updated}, skipped ${report.totals.skipped}, failed ${report.totals.failed}`,
  ];
  if (report.run_request) lines.push(`  answers     run request ${report.run_request}`);
  if (report.agent_version) lines.push(`  agent       ${report.agent_version}`);
  for (const resource of report.resources) {
    lines.push("", `${resource.status === "failed" ? "✗" : "↻"} ${resource.id} (${resource.action})${resource.location ? ` at ${resource.location}` : ""}${resource.parent ? `, in ${resource.parent}` : ""}`);
    for (const change of resource.changes ?? []) lines.push(`    ${change.property}: ${shown(change.from)} → ${shown(change.to)}`);
    if (resource.diff) lines.push(indent(resource.diff, "    "));
  }
  const failure = report.failure;
  if (failure) {
    lines.push("", `Failure: ${failure.message}`);
    if (failure.resource) lines.push(`  resource    ${failure.resource}`);
    if (failure.location) lines.push(`  declared at ${failure.location}`);
    if (failure.command) lines.push(`  command     ${failure.command}`);
    if (failure.exit_code !== undefined) lines.push(`  exit code   ${failure.exit_code}`);
    if (failure.output) lines.push("  output:", indent(failure.output, "    "));
  }
  return lines.join("\n");
}

function registerRuns(program: Command): void {
  const runs = jsonOption(
    connectionOptions(
      program
        .command("runs")
        .argument("[node]", "only this node's runs")
        .description("List run reports, newest first (sous runs show ID for one)"),
    ),
  )
    .option("--limit <n>", "how many", "20")
    .option("--before <time>", "only runs that ended before this ISO 8601 time (the next page)")
    .action(
      action(async (command, node: string | undefined) => {
        const flags = flagsOf(command);
        const client = await clientFor(command);
        const body = await client.listReports({ limit: String(flags.limit), ...(node ? { node } : {}), ...(flags.before ? { before: String(flags.before) } : {}) });
        print(
          command,
          body.reports,
          () => {
            if (body.reports.length === 0) return node ? `no run reports of node '${node}'` : "no run reports";
            const rows = body.reports.map((r) => [shortTime(r.ended_at), r.node, `${r.status}${r.queued ? " (queued)" : ""}`, String(r.totals.updated), String(r.totals.resources), seconds(r.started_at, r.ended_at), r.id, r.failure ? `${r.failure.resource ? `${r.failure.resource}: ` : ""}${r.failure.message}` : ""]);
            return table([["ENDED (UTC)", "NODE", "STATUS", "UPDATED", "RESOURCES", "TOOK", "ID", "FAILURE"], ...rows]);
          },
          format(command),
        );
      }),
    );
  jsonOption(connectionOptions(runs.command("show").argument("<id>", "the run's id (from sous runs)").description("Show one run: what changed, with diffs, and the failure with its resource, file:line, command, exit code and output"))).action(
    action(async (command, id: string) => {
      const client = await clientFor(command);
      const report = await client.getReport(id);
      print(command, report, () => renderReport(report), format(command));
    }),
  );
}

function registerNodeStatus(node: Command): void {
  jsonOption(
    connectionOptions(
      node
        .command("status")
        .argument("[query]", "the nodes a search returns, e.g. 'role:web'", "*:*")
        .description("Each node's last check-in, last run status and updated count; nodes that missed two run intervals are flagged MISSING"),
    ),
  )
    .option("--interval <seconds>", "the agents' run interval (default: the server's --run-interval, 1800)")
    .action(
      action(async (command, query: string) => {
        const flags = flagsOf(command);
        const client = await clientFor(command);
        let interval: number | undefined;
        if (flags.interval !== undefined) {
          interval = Number(flags.interval);
          if (!Number.isInteger(interval) || interval < 1) throw new SousError("usage", `--interval ${String(flags.interval)}: expected a whole number of seconds`);
        }
        const body = await client.nodeStatus({ q: query, ...(interval !== undefined ? { interval } : {}) });
        print(
          command,
          body,
          () => {
            if (body.nodes.length === 0) return `no nodes match ${query}`;
            const rows = body.nodes.map((n) =>
              n.never_reported
                ? [n.name, "never reported", "", "", ""]
                : [n.name, `${shortTime(n.last_checkin!)} (${ago(n.last_checkin!)})`, n.last_status!, String(n.updated), n.missing ? `MISSING: no report for over ${Math.round((2 * body.interval) / 60)} min` : ""],
            );
            const missing = body.nodes.filter((n) => n.missing).length;
            const never = body.nodes.filter((n) => n.never_reported).length;
            const failed = body.nodes.filter((n) => n.last_status === "failed").length;
            return `${table([["NODE", "LAST CHECK-IN (UTC)", "STATUS", "UPDATED", ""], ...rows])}\n${body.nodes.length} node${body.nodes.length === 1 ? "" : "s"}: ${missing} missing, ${failed} failed last run, ${never} never reported`;
          },
          format(command),
        );
      }),
    );
}

function registerSsh(program: Command): void {
  addSshOptions(
    jsonOption(
      connectionOptions(
        program
          .command("ssh")
          .argument("<query>", "node search, e.g. 'role:web'")
          .argument("<command>", "shell command to run on each node, e.g. 'uptime'")
          .description("Run a command over SSH on every node a search returns (knife ssh), in parallel"),
      ),
    ),
  )
    .option("-a, --attribute <path>", "the attribute holding each node's address (default: ipaddress, then fqdn)")
    .option("-x, --ssh-user <user>", "SSH user", "root")
    .option("-p, --ssh-port <port>", "SSH port", "22")
    .option("-C, --concurrency <n>", "how many nodes at once", "50")
    .addOption(new Option("-i, --identity-file <file>", "same as -k (knife's spelling)").hideHelp())
    .option("--timeout <seconds>", "kill the command after this long")
    .option("--group", "print each node's output together under its name, instead of line by line prefixed with it")
    .option("--exit-on-error", "stop at the first node that fails (cannot connect or exits non-zero): start no more")
    .action(
      action(async (command, query: string, shell: string) => {
        const client = await clientFor(command);
        const { sshCommand } = await import("./ssh-query.js");
        const { out } = writers(rootOf(command));
        const flags = flagsOf(command) as Json;
        const failed = await sshCommand(client, query, shell, { ...flags, ...(flags.identityFile ? { identity: flags.identityFile } : {}), json: format(command) === "json" } as never, out);
        // Exit code 1, with the summary as the last line.
        if (failed) throw new SousError("ssh-failed", failed);
      }),
    );
}

/** Registers the fleet's commands on the program and on its `node` command. */
export function registerFleetCommands(program: Command, node: Command): void {
  registerRuns(program);
  registerNodeStatus(node);
  registerSsh(program);
}
