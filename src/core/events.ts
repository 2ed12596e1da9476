/**
 * Typed lifecycle events of a run. The core never prints: it emits these, and
 * reporters (human, JSON lines, the run report) render them.
 */
import type { Change } from "./resource.js";
import type { SourceLocation } from "./errors.js";

/** A resource as events describe it. */
export interface ResourceInfo {
  id: string;
  type: string;
  name: string;
  /** The custom resources it was declared by, outermost first (`webapp_site[shop]`); absent at the top of a run. */
  parents?: string[];
  recipe?: string;
  location?: SourceLocation;
}

/** The details of a failure, for people and scripts. */
export interface FailureInfo {
  message: string;
  code: string;
  command?: string;
  exitCode?: number | null;
  stdout?: string;
  stderr?: string;
}

/** Every event a run emits. */
export type RunEvent =
  | { type: "run:start"; runId: string; node: string; dryRun: boolean; resourceCount: number; time: string }
  | { type: "resource:up-to-date"; resource: ResourceInfo; action: string; durationMs: number; reason?: string }
  | {
      type: "resource:updated";
      resource: ResourceInfo;
      action: string;
      dryRun: boolean;
      changes: Change[];
      diff?: string;
      /** Set when a notification triggered the action: every resource that notified it, comma-separated. */
      notifiedBy?: string;
      /** Why it changes, when its properties alone do not say (the plan's reason). */
      reason?: string;
      /** What a dry run's plan assumed of earlier resources that did not really change. */
      assumptions?: string[];
      /** For a custom resource: the inner resources that were updated (their paths). */
      updatedInner?: string[];
      durationMs: number;
    }
  | { type: "resource:skipped"; resource: ResourceInfo; action: string; guard: "onlyIf" | "notIf"; reason: string }
  | { type: "resource:retry"; resource: ResourceInfo; action: string; attempt: number; error: string }
  | { type: "resource:failed"; resource: ResourceInfo; action: string; ignored: boolean; error: FailureInfo; durationMs: number }
  | { type: "notification:queued"; source: string; target: string; action: string; timing: "delayed" | "immediately" }
  | { type: "log"; resource?: string; level: "debug" | "info" | "warn"; message: string }
  | {
      type: "run:finish";
      runId: string;
      status: "converged" | "failed";
      dryRun: boolean;
      counts: RunCounts;
      durationMs: number;
      /** Delayed notifications that did not run because the run failed. */
      pendingNotifications: string[];
      error?: FailureInfo & { resource?: string; location?: SourceLocation };
      /** A failed run that stopped before any resource was applied (a template's missing variable): nothing was changed. */
      nothingChanged?: boolean;
    };

/** Tallies of one run, per resource (failed > updated > skipped > up to date); resources never reached count in none. */
export interface RunCounts {
  resources: number;
  updated: number;
  upToDate: number;
  skipped: number;
  failed: number;
}

/** How a resource shows in reports: its parents and itself, `webapp_site[shop] > template[/etc/shop.conf]`. */
export function shownId(resource: ResourceInfo): string {
  return resource.parents?.length ? `${resource.parents.join(" > ")} > ${resource.id}` : resource.id;
}

/** Receives events. */
export type EventSink = (event: RunEvent) => void;

/** Fans events out to several sinks. */
export function fanOut(sinks: EventSink[]): EventSink {
  return (event) => {
    for (const sink of sinks) sink(event);
  };
}
