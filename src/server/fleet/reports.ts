// Run reports as the server keeps them: what a report body must hold (validated field by field,
// each problem naming its field), and the SQL that stores reports, keeps each node's status in
// step in the same transaction, lists them and prunes them past the retention.
import { ApiError, badRequest } from "../errors.js";
import type { JsonObject } from "../objects.js";
import { checkName } from "../objects.js";
import type { NodeStatusRow, ReportedFailure, ReportedResource, ReportSummary, RunReportBody } from "../../protocol/reports.js";
import type { Store } from "../store/store.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_RESOURCES = 20_000;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function invalid(field: string, expected: string, value: unknown): ApiError {
  const shown = value === undefined ? "nothing" : JSON.stringify(value)?.slice(0, 80);
  return badRequest("invalid_report", `report.${field} must be ${expected}, got ${shown}`);
}

function text(body: JsonObject, field: string, where: string, optional = false): string | undefined {
  const value = body[field];
  if (value === undefined && optional) return undefined;
  if (typeof value !== "string") throw invalid(`${where}${field}`, "a string", value);
  return value;
}

function time(body: JsonObject, field: string): string {
  const value = body[field];
  const parsed = typeof value === "string" ? Date.parse(value) : NaN;
  if (!Number.isFinite(parsed)) throw invalid(field, "an ISO 8601 time", value);
  // Stored as UTC ISO text, so that times order as text on both databases.
  return new Date(parsed).toISOString();
}

function count(totals: JsonObject, field: string): number {
  const value = totals[field] ?? 0;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) throw invalid(`totals.${field}`, "a whole number of at least 0", value);
  return value;
}

function resource(value: unknown, index: number): ReportedResource {
  const where = `resources[${index}].`;
  if (!isObject(value)) throw invalid(`resources[${index}]`, "an object", value);
  const status = value.status;
  if (status !== "updated" && status !== "failed") throw invalid(`${where}status`, '"updated" or "failed" (only those resources are reported)', status);
  const out: ReportedResource = { id: text(value, "id", where)!, action: text(value, "action", where)!, status };
  if (value.changes !== undefined) {
    if (!Array.isArray(value.changes)) throw invalid(`${where}changes`, "an array of {property, from, to}", value.changes);
    out.changes = value.changes.map((change, i) => {
      if (!isObject(change) || typeof change.property !== "string") throw invalid(`${where}changes[${i}]`, "{property, from, to}", change);
      return { property: change.property, from: change.from ?? null, to: change.to ?? null };
    });
  }
  for (const field of ["diff", "location", "parent"] as const) {
    const found = text(value, field, where, true);
    if (found !== undefined) out[field] = found;
  }
  return out;
}

function failure(value: unknown): ReportedFailure {
  if (!isObject(value)) throw invalid("failure", "an object with at least a message", value);
  const out: ReportedFailure = { message: text(value, "message", "failure.")! };
  for (const field of ["resource", "location", "command", "output"] as const) {
    const found = text(value, field, "failure.", true);
    if (found !== undefined) out[field] = found;
  }
  if (value.exit_code !== undefined && value.exit_code !== null) {
    if (typeof value.exit_code !== "number" || !Number.isInteger(value.exit_code)) throw invalid("failure.exit_code", "a whole number", value.exit_code);
    out.exit_code = value.exit_code;
  }
  return out;
}

/** Validates a posted report body; every field is checked and named when wrong. Unknown fields are dropped. */
export function normalizeReport(body: unknown): RunReportBody {
  if (!isObject(body)) throw badRequest("invalid_report", "a run report must be a JSON object (see docs/server.md, Run reports)");
  const id = body.id;
  if (typeof id !== "string" || !UUID.test(id)) throw invalid("id", "the run's UUID", id);
  const node = checkName("node", body.node);
  const status = body.status;
  if (status !== "success" && status !== "failed" && status !== "cached") throw invalid("status", '"success", "failed" or "cached"', status);
  const startedAt = time(body, "started_at");
  const endedAt = time(body, "ended_at");
  if (endedAt < startedAt) throw invalid("ended_at", `a time at or after started_at (${startedAt})`, body.ended_at);
  const runList = body.run_list ?? [];
  if (!Array.isArray(runList) || !runList.every((entry) => typeof entry === "string")) throw invalid("run_list", "an array of strings", runList);
  const cookbooks = body.cookbooks ?? {};
  if (!isObject(cookbooks) || !Object.values(cookbooks).every((version) => typeof version === "string")) throw invalid("cookbooks", "an object of cookbook name to version", cookbooks);
  const totals = body.totals;
  if (!isObject(totals)) throw invalid("totals", "{resources, updated, skipped, failed}", totals);
  const resources = body.resources ?? [];
  if (!Array.isArray(resources)) throw invalid("resources", "an array of the updated and failed resources", resources);
  if (resources.length > MAX_RESOURCES) throw invalid("resources", `at most ${MAX_RESOURCES} entries`, `${resources.length} entries`);
  const report: RunReportBody = {
    id: id.toLowerCase(),
    node,
    status,
    started_at: startedAt,
    ended_at: endedAt,
    run_list: runList as string[],
    environment: body.environment === undefined ? "_default" : checkName("environment", body.environment),
    cookbooks: cookbooks as Record<string, string>,
    totals: { resources: count(totals, "resources"), updated: count(totals, "updated"), skipped: count(totals, "skipped"), failed: count(totals, "failed") },
    resources: resources.map(resource),
  };
  if (status === "failed") {
    if (body.failure === undefined || body.failure === null) throw invalid("failure", "the failure (resource, location, command, exit_code, output, message) of a failed run", body.failure);
  }
  if (body.failure !== undefined && body.failure !== null) report.failure = failure(body.failure);
  if (body.run_request !== undefined && body.run_request !== null) report.run_request = text(body, "run_request", "")!;
  if (body.agent_version !== undefined) report.agent_version = text(body, "agent_version", "")!;
  if (body.queued !== undefined) {
    if (typeof body.queued !== "boolean") throw invalid("queued", "true or false", body.queued);
    report.queued = body.queued;
  }
  return report;
}

/** A report's listing fields. */
export function summarize(report: RunReportBody): ReportSummary {
  return {
    id: report.id,
    node: report.node,
    status: report.status,
    started_at: report.started_at,
    ended_at: report.ended_at,
    received_at: report.received_at ?? report.ended_at,
    totals: report.totals,
    ...(report.run_request ? { run_request: report.run_request } : {}),
    ...(report.queued ? { queued: true } : {}),
    ...(report.failure ? { failure: { message: report.failure.message, ...(report.failure.resource ? { resource: report.failure.resource } : {}), ...(report.failure.location ? { location: report.failure.location } : {}) } } : {}),
  };
}

/**
 * Stores a report once: the same run id again is a no-op (an agent resends a report whose answer
 * it never saw). In the same transaction the node's status moves to this run, unless a later run
 * is already recorded (a queued report arriving late), and the run-now request it answers is marked
 * answered for that node. `created` is false for a repeat; a repeat of the id from another node is refused.
 */
export async function saveReport(store: Store, org: string, report: RunReportBody): Promise<{ created: boolean }> {
  const received = new Date().toISOString();
  const stored: RunReportBody = { ...report, received_at: received };
  return store.transaction(async (t) => {
    const db = t.sql;
    const inserted = await db.all(
      "INSERT INTO run_reports (org, id, node, status, started_at, ended_at, received_at, run_request, updated, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (org, id) DO NOTHING RETURNING id",
      [org, report.id, report.node, report.status, report.started_at, report.ended_at, received, report.run_request ?? null, report.totals.updated, JSON.stringify(stored)],
    );
    if (inserted.length === 0) {
      const existing = await db.all<{ node: string }>("SELECT node FROM run_reports WHERE org = ? AND id = ?", [org, report.id]);
      if (existing[0] && existing[0].node !== report.node) throw new ApiError(409, "report_id_taken", `run ${report.id} is already stored for node '${existing[0].node}', not '${report.node}'`);
      return { created: false };
    }
    await db.run(
      `INSERT INTO node_status (org, node, last_checkin, last_status, last_report, updated, resources) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (org, node) DO UPDATE SET last_checkin = excluded.last_checkin, last_status = excluded.last_status, last_report = excluded.last_report, updated = excluded.updated, resources = excluded.resources
       WHERE node_status.last_checkin <= excluded.last_checkin`,
      [org, report.node, report.ended_at, report.status, report.id, report.totals.updated, report.totals.resources],
    );
    if (report.run_request) {
      await db.run("UPDATE run_request_nodes SET report_id = ? WHERE org = ? AND request_id = ? AND node = ? AND report_id IS NULL", [report.id, org, report.run_request, report.node]);
    }
    return { created: true };
  });
}

/** A stored report, or undefined. */
export async function getReport(store: Store, org: string, id: string): Promise<RunReportBody | undefined> {
  const rows = await store.sql.all<{ data: string }>("SELECT data FROM run_reports WHERE org = ? AND id = ?", [org, id.toLowerCase()]);
  return rows[0] ? (JSON.parse(rows[0].data) as RunReportBody) : undefined;
}

/** Reports newest first (by the run's end), of one node or all, ending before `before`. */
export async function listReports(store: Store, org: string, options: { node?: string; limit: number; before?: string; runRequest?: string }): Promise<ReportSummary[]> {
  const where = ["org = ?"];
  const params: unknown[] = [org];
  if (options.node !== undefined) {
    where.push("node = ?");
    params.push(options.node);
  }
  if (options.before !== undefined) {
    where.push("ended_at < ?");
    params.push(options.before);
  }
  if (options.runRequest !== undefined) {
    where.push("run_request = ?");
    params.push(options.runRequest);
  }
  const rows = await store.sql.all<{ data: string }>(`SELECT data FROM run_reports WHERE ${where.join(" AND ")} ORDER BY ended_at DESC, id DESC LIMIT ?`, [...params, options.limit]);
  return rows.map((row) => summarize(JSON.parse(row.data) as RunReportBody));
}

/** The status rows of these nodes (all the organization's when `nodes` is undefined). */
export async function nodeStatuses(store: Store, org: string, nodes?: readonly string[]): Promise<NodeStatusRow[]> {
  const columns = "node, last_checkin, last_status, last_report, updated, resources";
  const convert = (row: NodeStatusRow): NodeStatusRow => ({ ...row, updated: Number(row.updated), resources: Number(row.resources) });
  if (nodes === undefined) return (await store.sql.all<NodeStatusRow>(`SELECT ${columns} FROM node_status WHERE org = ? ORDER BY node`, [org])).map(convert);
  const out: NodeStatusRow[] = [];
  for (let start = 0; start < nodes.length; start += 500) {
    const part = nodes.slice(start, start + 500);
    const rows = await store.sql.all<NodeStatusRow>(`SELECT ${columns} FROM node_status WHERE org = ? AND node IN (${part.map(() => "?").join(", ")})`, [org, ...part]);
    out.push(...rows.map(convert));
  }
  return out;
}

/**
 * Deletes reports of runs that ended before `before`, and run-now requests made before it, a batch
 * per transaction so that a large prune never holds the database's write lock for long. Node
 * statuses stay: a node that stopped reporting keeps its last check-in (that is how it shows as missing).
 */
export async function pruneReports(store: Store, before: Date): Promise<number> {
  const cutoff = before.toISOString();
  let removed = 0;
  for (;;) {
    const batch = await store.transaction((t) =>
      t.sql.run("DELETE FROM run_reports WHERE (org, id) IN (SELECT org, id FROM run_reports WHERE ended_at < ? LIMIT 2000)", [cutoff]),
    );
    removed += batch;
    if (batch < 2000) break;
  }
  await store.transaction(async (t) => {
    await t.sql.run("DELETE FROM run_request_nodes WHERE created_at < ?", [cutoff]);
    await t.sql.run("DELETE FROM run_requests WHERE created_at < ?", [cutoff]);
  });
  return removed;
}
