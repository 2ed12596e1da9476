/**
 * The run report an agent (or push mode) sends to the server, built from the engine's run
 * report: the body of `POST /api/v1/orgs/:org/reports` (src/protocol/reports.ts, FLEET-CONTRACT.md).
 */
import type { SourceLocation } from "../../core/errors.js";
import type { ReportedFailure, ReportedResource, RunReportBody } from "../../protocol/reports.js";
import { VERSION } from "../../version.js";
import type { RunReport } from "./run-report.js";

/** What the engine's report does not know about the run. */
export interface ServerReportContext {
  /** The expanded run list (`recipe[web::default]`, ...). */
  runList: readonly string[];
  environment: string;
  /** Cookbook name → version used. */
  cookbooks: Readonly<Record<string, string>>;
  /** The run converged from the agent's cache because the server could not be reached. */
  cached?: boolean;
  /** The run-now request this run answers. */
  runRequest?: string;
}

function where(location: SourceLocation | undefined): string | undefined {
  return location ? `${location.file}:${location.line}` : undefined;
}

/** Recipe names as run list items: `web::default` → `recipe[web::default]`. */
export function recipeItems(recipes: readonly string[]): string[] {
  return recipes.map((recipe) => (recipe.startsWith("recipe[") ? recipe : `recipe[${recipe.includes("::") ? recipe : `${recipe}::default`}]`));
}

/** Maps the engine's run report (src/run/report/run-report.ts) to the server's report body. */
export function runReportToServerReport(report: RunReport, context: ServerReportContext): RunReportBody {
  const counts = report.counts ?? { resources: 0, updated: 0, upToDate: 0, skipped: 0, failed: 0 };
  const resources: ReportedResource[] = [];
  for (const action of report.actions) {
    if (action.status !== "updated" && action.status !== "failed") continue;
    const location = where(action.resource.location);
    resources.push({
      id: action.resource.id,
      action: action.action,
      status: action.status,
      changes: action.changes ?? [],
      ...(action.diff !== undefined ? { diff: action.diff } : {}),
      ...(location ? { location } : {}),
      ...(action.notifiedBy ? { parent: action.notifiedBy } : {}),
    });
  }
  let failure: ReportedFailure | undefined;
  if (report.status === "failed") {
    const error = report.error;
    const output = [error?.stdout, error?.stderr].filter((text) => text !== undefined && text !== "").join("\n");
    const problems = (report.problems ?? []).map((problem) => `${problem.location ? `${problem.location.file}:${problem.location.line} ` : ""}${problem.path}: ${problem.message}`);
    const location = where(error?.location) ?? where(report.problems?.find((problem) => problem.location)?.location);
    failure = {
      message: [error?.message ?? "the run failed", ...problems].join("\n"),
      ...(error?.resource ? { resource: error.resource } : {}),
      ...(location ? { location } : {}),
      ...(error?.command ? { command: error.command } : {}),
      ...(error?.exitCode !== undefined ? { exit_code: error.exitCode } : {}),
      ...(output ? { output } : {}),
    };
  }
  const status = report.status === "failed" ? "failed" : context.cached ? "cached" : "success";
  return {
    id: report.runId,
    node: report.node,
    status,
    started_at: report.startedAt,
    ended_at: report.finishedAt ?? new Date().toISOString(),
    run_list: recipeItems(context.runList),
    environment: context.environment,
    cookbooks: { ...context.cookbooks },
    totals: { resources: counts.resources, updated: counts.updated, skipped: counts.skipped, failed: counts.failed },
    resources,
    ...(failure ? { failure } : {}),
    ...(context.runRequest ? { run_request: context.runRequest } : {}),
    agent_version: VERSION,
    queued: false,
  };
}
