// The API's paths, written once: the server mounts its routes under API_PREFIX, and the client
// builds every URL with these functions (each part URL-encoded), so the two cannot drift apart.

/** API path prefix, the version of the API being the last part. */
export const API_PREFIX = "/api/v1";

/** `/api/v1/health`: the unsigned liveness check. */
export const HEALTH_PATH = `${API_PREFIX}/health`;

/** `/api/v1/orgs`, or `/api/v1/orgs/ORG` when an organization is given. */
export function orgsPath(org?: string): string {
  return org === undefined ? `${API_PREFIX}/orgs` : `${API_PREFIX}/orgs/${encodeURIComponent(org)}`;
}

/** An organization-scoped path: `/api/v1/orgs/ORG/...parts`, each part URL-encoded (`orgPath("acme", "nodes", "web1")`). */
export function orgPath(org: string, ...parts: string[]): string {
  return [orgsPath(org), ...parts.map(encodeURIComponent)].join("/");
}
