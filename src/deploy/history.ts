/**
 * Deploys recorded on the server, in a data bag (`sous_deploys`, one item per deploy or
 * rollback): the server's existing objects, permissions, search and dashboards serve them with
 * no new route or table, and `sous deploy history APP` is a search of that bag.
 */
import { SousApiError, type SousClient } from "../client/api.js";
import type { DeployResult } from "./events.js";

/** The data bag holding deploy records. */
export const HISTORY_BAG = "sous_deploys";

/** One recorded deploy or rollback, as stored in the data bag. */
export interface DeployRecord {
  id: string;
  app: string;
  stage: string;
  action: "deploy" | "rollback";
  ok: boolean;
  release?: string;
  revision?: string;
  by: string;
  started_at: string;
  duration_ms: number;
  batches: string[][];
  phases: Array<{ phase: string; ok: boolean; duration_ms: number; batch?: number }>;
  hosts: Array<{ host: string; outcome: string; release?: string; previous?: string; error?: string }>;
  error?: string;
}

/** The record of a result. */
export function recordOf(result: DeployResult): DeployRecord {
  const stamp = result.startedAt.replace(/[^0-9]/g, "").slice(0, 17);
  return {
    id: `${result.app}-${result.stage ?? "default"}-${result.action}-${stamp}`.replace(/[^A-Za-z0-9_-]/g, "_"),
    app: result.app,
    stage: result.stage ?? "default",
    action: result.action,
    ok: result.ok,
    ...(result.release ? { release: result.release } : {}),
    ...(result.revision ? { revision: result.revision } : {}),
    by: result.by,
    started_at: result.startedAt,
    duration_ms: Math.round(result.durationMs),
    batches: result.batches,
    phases: result.phases.map((p) => ({ phase: p.phase, ok: p.ok, duration_ms: Math.round(p.durationMs), ...(p.batch !== undefined ? { batch: p.batch } : {}) })),
    hosts: result.hosts.map((h) => ({ host: h.host, outcome: h.outcome, ...(h.release ? { release: h.release } : {}), ...(h.previous ? { previous: h.previous } : {}), ...(h.error ? { error: h.error.slice(0, 2000) } : {}) })),
    ...(result.error ? { error: result.error.slice(0, 2000) } : {}),
  };
}

/** Saves a run's record (making the data bag on first use). */
export async function recordDeploy(client: SousClient, result: DeployResult): Promise<DeployRecord> {
  const record = recordOf(result);
  try {
    await client.createDataBag(HISTORY_BAG);
  } catch (error) {
    if (!(error instanceof SousApiError && error.status === 409)) throw error;
  }
  await client.putItem(HISTORY_BAG, { ...record });
  return record;
}

/** The newest records of an application, newest first. */
export async function deployHistory(client: SousClient, app: string, limit: number): Promise<DeployRecord[]> {
  try {
    const page = await client.search<DeployRecord>(HISTORY_BAG, `app:${JSON.stringify(app)}`, { rows: limit, sort: "started_at desc" });
    return page.rows;
  } catch (error) {
    if (error instanceof SousApiError && error.status === 404) return [];
    throw error;
  }
}
