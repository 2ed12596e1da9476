/** Collects a run's events into one report document, written atomically when the run ends. */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { Change } from "../../core/resource.js";
import type { EventSink, FailureInfo, ResourceInfo, RunCounts, RunEvent } from "../../core/events.js";
import type { Problem, SourceLocation } from "../../core/errors.js";

/** One resource action in the report. */
export interface ReportedAction {
  resource: ResourceInfo;
  action: string;
  status: "up-to-date" | "updated" | "skipped" | "failed";
  changes?: Change[];
  diff?: string;
  notifiedBy?: string;
  /** What a dry run assumed (see Plan.assumptions). */
  assumptions?: string[];
  reason?: string;
  error?: FailureInfo;
  durationMs?: number;
}

/** The whole run, as stored in the report file. */
export interface RunReport {
  runId: string;
  node: string;
  dryRun: boolean;
  status: "converged" | "failed" | "running";
  startedAt: string;
  finishedAt?: string;
  durationMs?: number;
  counts?: RunCounts;
  actions: ReportedAction[];
  error?: FailureInfo & { resource?: string; location?: SourceLocation };
  pendingNotifications?: string[];
  /** Why the recipes were refused before anything was applied. */
  problems?: Problem[];
}

/** The report of a run whose recipes were invalid: it failed before applying anything. */
export function invalidRunReport(run: { runId: string; node: string; dryRun: boolean; startedAt: Date }, message: string, problems: Problem[]): RunReport {
  const finished = new Date();
  return {
    runId: run.runId,
    node: run.node,
    dryRun: run.dryRun,
    status: "failed",
    startedAt: run.startedAt.toISOString(),
    finishedAt: finished.toISOString(),
    durationMs: finished.getTime() - run.startedAt.getTime(),
    counts: { resources: 0, updated: 0, upToDate: 0, skipped: 0, failed: 0 },
    actions: [],
    error: { code: "invalid-recipes", message },
    pendingNotifications: [],
    problems,
  };
}

/** A reporter that builds the report and writes it to `path` at run end (with no path, only builds it). */
export function runReportWriter(path: string | undefined): EventSink & { report(): RunReport | undefined } {
  let report: RunReport | undefined;
  const sink = (event: RunEvent) => {
    switch (event.type) {
      case "run:start":
        report = { runId: event.runId, node: event.node, dryRun: event.dryRun, status: "running", startedAt: event.time, actions: [] };
        break;
      case "resource:up-to-date":
        report?.actions.push({ resource: event.resource, action: event.action, status: "up-to-date", durationMs: event.durationMs });
        break;
      case "resource:updated":
        report?.actions.push({ resource: event.resource, action: event.action, status: "updated", changes: event.changes, ...(event.diff ? { diff: event.diff } : {}), ...(event.notifiedBy ? { notifiedBy: event.notifiedBy } : {}), ...(event.assumptions ? { assumptions: event.assumptions } : {}), durationMs: event.durationMs });
        break;
      case "resource:skipped":
        report?.actions.push({ resource: event.resource, action: event.action, status: "skipped", reason: event.reason });
        break;
      case "resource:failed":
        report?.actions.push({ resource: event.resource, action: event.action, status: "failed", error: event.error, durationMs: event.durationMs });
        break;
      case "run:finish":
        if (!report) return;
        Object.assign(report, {
          status: event.status,
          finishedAt: new Date().toISOString(),
          durationMs: event.durationMs,
          counts: event.counts,
          pendingNotifications: event.pendingNotifications,
          ...(event.error ? { error: event.error } : {}),
        });
        if (path !== undefined) writeReport(path, report);
        break;
    }
  };
  return Object.assign(sink, { report: () => report });
}

/**
 * Writes a report through a temporary file and a rename, readable by its owner only (0600, in a
 * folder made 0700): a report holds diffs and command output of the machine it ran on.
 */
export function writeReport(path: string, report: unknown): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(report, null, 2)}\n`, { mode: 0o600 });
  renameSync(temp, path);
}
