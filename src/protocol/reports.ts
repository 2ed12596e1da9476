// The run report an agent (or push mode) posts to `POST /api/v1/orgs/:org/reports`, and the
// listings the server answers with (FLEET-CONTRACT.md): one type for the side that builds a
// report (src/run/report/server-report.ts) and the side that validates and stores it
// (src/server/fleet/reports.ts).

/** How a run ended: converged, failed, or converged from the agent's cache while the server was away. */
export type RunStatus = "success" | "failed" | "cached";

/** One property a resource changed. */
export interface ReportedChange {
  property: string;
  from: unknown;
  to: unknown;
}

/** One updated or failed resource of a run (up-to-date resources are only counted). */
export interface ReportedResource {
  id: string;
  action: string;
  status: "updated" | "failed";
  changes?: ReportedChange[];
  diff?: string;
  /** `file:line` of its declaration. */
  location?: string;
  /** The resource whose notification ran this one. */
  parent?: string;
}

/** Why a run failed. */
export interface ReportedFailure {
  resource?: string;
  location?: string;
  command?: string;
  /** The failed command's exit status; null (or absent) when it did not exit (a signal, no command). */
  exit_code?: number | null;
  output?: string;
  message: string;
}

/** The body of a run report, as posted and as stored. */
export interface RunReportBody {
  /** The run's UUID: the server stores a report once per id. */
  id: string;
  node: string;
  status: RunStatus;
  started_at: string;
  ended_at: string;
  run_list: string[];
  environment: string;
  cookbooks: Record<string, string>;
  totals: { resources: number; updated: number; skipped: number; failed: number };
  resources: ReportedResource[];
  /** Required when status is failed. */
  failure?: ReportedFailure;
  /** The run-now request this run answers. */
  run_request?: string;
  agent_version?: string;
  /** Sent later from the agent's queue, not at the end of the run. */
  queued?: boolean;
  /** When the server stored it (set by the server; ignored when posted). */
  received_at?: string;
}

/** The few fields of a report that a listing (`GET .../reports`, a run-now request) shows. */
export interface ReportSummary {
  id: string;
  node: string;
  status: RunStatus;
  started_at: string;
  ended_at: string;
  received_at: string;
  totals: RunReportBody["totals"];
  run_request?: string;
  queued?: boolean;
  failure?: { resource?: string; location?: string; message: string };
}

/** A node's last check-in, as the latest report left it. */
export interface NodeStatusRow {
  node: string;
  last_checkin: string;
  last_status: RunStatus;
  last_report: string;
  updated: number;
  resources: number;
}

/** The answer of `GET .../reports`: summaries newest first. */
export interface ReportList {
  reports: ReportSummary[];
}

/** One node of `GET .../node-status`: its last check-in, or `never_reported`. */
export interface NodeStatusEntry {
  name: string;
  last_checkin: string | null;
  last_status: RunStatus | null;
  last_report: string | null;
  updated: number | null;
  resources: number | null;
  /** No check-in for two run intervals. */
  missing: boolean;
  never_reported: boolean;
}

/** The answer of `GET .../node-status`. */
export interface NodeStatusList {
  /** The run interval in seconds the `missing` flags were judged by. */
  interval: number;
  query: string;
  checked_at: string;
  nodes: NodeStatusEntry[];
}

/** A run-now request as created (`POST .../run-requests`) and as an agent's long-poll receives it. */
export interface RunRequestBody {
  id: string;
  query: string;
  nodes: string[];
  created_at: string;
}

/** `GET .../run-requests/:id`: the request and the reports that answered it so far, oldest first. */
export interface RunRequestProgress extends RunRequestBody {
  reports: ReportSummary[];
}
