// The fleet's routes: run reports (posted by each node's agent, or by push mode), node status, and
// run-now requests with the long-poll agents wait on. Routes translate HTTP to the functions of
// reports.ts and run-requests.ts; the rules live there.
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Permission } from "../auth.js";
import { badRequest, notFound } from "../errors.js";
import type { JsonObject } from "../objects.js";
import { checkName } from "../objects.js";
import { parseQuery } from "../search/query.js";
import type { Store } from "../store/store.js";
import { getReport, listReports, nodeStatuses, normalizeReport, saveReport } from "./reports.js";
import { createRunRequest, getRunRequest, pendingRunRequest, RunRequestWaiters } from "./run-requests.js";

/** What the fleet routes need from the application that mounts them. */
export interface FleetRouteContext {
  store: Store;
  prefix: string;
  /** Throws 401/403 unless the request's signer has the permission. */
  need(request: FastifyRequest, permission: Permission): void;
  /** The request's JSON object body, or a 400/415 naming what is wrong. */
  jsonObjectBody(request: FastifyRequest): JsonObject;
  /** The agents' run interval the server assumes for `missing` (seconds). Default 1800. */
  runIntervalSeconds?: number;
}

/** Longest long-poll of the run-request route. */
export const MAX_WAIT_SECONDS = 60;

type Params = Record<string, string>;
type Query = Record<string, string | undefined>;

function whole(query: Query, name: string, fallback: number, min: number, max: number): number {
  const text = query[name];
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw badRequest("invalid_parameter", `${name}=${text} must be a whole number from ${min} to ${max}`);
  return value;
}

/** Every node name a query returns, read page by page. */
async function nodesMatching(store: Store, org: string, query: string): Promise<string[]> {
  const parsed = parseQuery(query);
  const names: string[] = [];
  for (;;) {
    const page = await store.search({ org, idx: "node", kind: "node", bag: "" }, parsed, { start: names.length, rows: 10_000, sort: "name", attributes: [] });
    names.push(...page.hits.map((hit) => hit.name));
    if (page.hits.length === 0 || names.length >= page.total) return names;
  }
}

/** Mounts the fleet routes on the application; returns what the server closes on shutdown. */
export function registerFleetRoutes(app: FastifyInstance, context: FleetRouteContext): { waiters: RunRequestWaiters } {
  const { store, need, jsonObjectBody } = context;
  const v = context.prefix;
  const waiters = new RunRequestWaiters(store);
  // A waiting long-poll would hold the server's close until it times out.
  app.addHook("preClose", async () => waiters.close());

  // A client is known only inside its organization; a server administrator could name any.
  const requireOrg = async (request: FastifyRequest, org: string): Promise<void> => {
    if (request.principal?.kind === "server-admin" && !(await store.getOrg(org))) throw notFound("organization", org);
  };

  app.post(`${v}/orgs/:org/reports`, async (request, reply) => {
    const { org } = request.params as Params;
    const report = normalizeReport(jsonObjectBody(request));
    // A node's key may post only its own node's reports; administrators any.
    need(request, { node: report.node });
    await requireOrg(request, org!);
    const { created } = await saveReport(store, org!, report);
    return reply.code(created ? 201 : 200).send({ id: report.id });
  });

  app.get(`${v}/orgs/:org/reports`, async (request) => {
    const { org } = request.params as Params;
    need(request, "org-read");
    const query = request.query as Query;
    const limit = whole(query, "limit", 50, 1, 1000);
    let before: string | undefined;
    if (query.before !== undefined && query.before !== "") {
      const parsed = Date.parse(query.before);
      if (!Number.isFinite(parsed)) throw badRequest("invalid_parameter", `before=${query.before} must be an ISO 8601 time`);
      before = new Date(parsed).toISOString();
    }
    const node = query.node !== undefined && query.node !== "" ? checkName("node", query.node) : undefined;
    return { reports: await listReports(store, org!, { limit, ...(node ? { node } : {}), ...(before ? { before } : {}) }) };
  });

  app.get(`${v}/orgs/:org/reports/:id`, async (request) => {
    const { org, id } = request.params as Params;
    need(request, "org-read");
    const found = await getReport(store, org!, id!);
    if (!found) throw notFound("run report", id!);
    return found;
  });

  // Each node of a query (all nodes by default) with its last check-in; `missing` when it has not
  // checked in for two intervals.
  app.get(`${v}/orgs/:org/node-status`, async (request) => {
    const { org } = request.params as Params;
    need(request, "org-read");
    const query = request.query as Query;
    const interval = whole(query, "interval", context.runIntervalSeconds ?? 1800, 1, 30 * 86400);
    const q = query.q !== undefined && query.q !== "" ? query.q : "*:*";
    const names = await nodesMatching(store, org!, q);
    const statuses = new Map((await nodeStatuses(store, org!, names)).map((row) => [row.node, row]));
    const now = Date.now();
    const nodes = names.map((name) => {
      const status = statuses.get(name);
      if (!status) return { name, last_checkin: null, last_status: null, last_report: null, updated: null, resources: null, missing: false, never_reported: true };
      const { node: _node, ...rest } = status;
      return { name, ...rest, missing: now - Date.parse(status.last_checkin) > 2 * interval * 1000, never_reported: false };
    });
    return { interval, query: q, checked_at: new Date(now).toISOString(), nodes };
  });

  app.post(`${v}/orgs/:org/run-requests`, async (request, reply) => {
    const { org } = request.params as Params;
    need(request, "org-admin");
    await requireOrg(request, org!);
    const body = jsonObjectBody(request);
    if (typeof body.query !== "string" || body.query.trim() === "") throw badRequest("invalid_field", 'query must be a node search, e.g. {"query": "role:web"}');
    const nodes = await nodesMatching(store, org!, body.query);
    const created = await createRunRequest(store, org!, { query: body.query, nodes, createdBy: request.principal!.name });
    waiters.notify(org!, nodes);
    return reply.code(201).send({ id: created.id, query: created.query, nodes: created.nodes, created_at: created.created_at });
  });

  app.get(`${v}/orgs/:org/run-requests/:id`, async (request) => {
    const { org, id } = request.params as Params;
    need(request, "org-read");
    const found = await getRunRequest(store, org!, id!);
    if (!found) throw notFound("run request", id!);
    const reports = await listReports(store, org!, { runRequest: found.id, limit: Math.max(found.nodes.length * 2, 10) });
    return { id: found.id, query: found.query, nodes: found.nodes, created_at: found.created_at, reports: reports.reverse() };
  });

  // The agent's long-poll: its oldest pending request, or 204 when none came within the wait.
  app.get(`${v}/orgs/:org/nodes/:name/run-requests`, async (request, reply) => {
    const { org, name } = request.params as Params;
    need(request, { node: name! });
    const waitSeconds = whole(request.query as Query, "wait", 0, 0, MAX_WAIT_SECONDS);
    const deadline = Date.now() + waitSeconds * 1000;
    for (;;) {
      const pending = await pendingRunRequest(store, org!, name!);
      if (pending) return reply.code(200).send(pending);
      const left = deadline - Date.now();
      // Not woken: nothing came (a request stored just as the wait ends is the next poll's).
      if (left <= 0 || !(await waiters.wait(org!, name!, left))) break;
    }
    return reply.code(204).send();
  });

  return { waiters };
}
