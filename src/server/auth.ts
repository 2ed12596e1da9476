// Who is asking: verifies a signed request against the client's public key and the clock-skew
// window, then answers what that identity may do.
import { SIGNATURE_HEADERS, sha256Hex, verifyRequest } from "../client/signing.js";
import { ApiError } from "./errors.js";
import type { Store } from "./store/store.js";

/** Client names starting with this prefix are server administrators (they may create organizations). */
export const SERVER_ADMIN_PREFIX = "server:";

/** The identity behind a request. */
export type Principal =
  | { kind: "server-admin"; name: string }
  | { kind: "client"; org: string; name: string; admin: boolean; validator: boolean };

/** What authentication needs from an HTTP request. */
export interface RequestFacts {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer | undefined;
}

/** A stored client: identity with a public key. */
export interface ClientRecord {
  name: string;
  public_key: string;
  admin: boolean;
  validator: boolean;
  created_at?: string;
}

function header(facts: RequestFacts, name: string): string | undefined {
  const value = facts.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function unauthorized(code: string, message: string): ApiError {
  return new ApiError(401, code, message);
}

/** Verifies a request's signature; `org` is the organization in the path, if any. Throws 401 when it does not check out. */
export async function authenticate(store: Store, facts: RequestFacts, org: string | undefined, clockSkewMs: number, now = Date.now()): Promise<Principal> {
  const client = header(facts, SIGNATURE_HEADERS.client);
  const timestamp = header(facts, SIGNATURE_HEADERS.timestamp);
  const contentSha256 = header(facts, SIGNATURE_HEADERS.contentSha256);
  const signature = header(facts, SIGNATURE_HEADERS.signature);
  if (!client || !timestamp || !contentSha256 || !signature) {
    throw unauthorized("unsigned", `this request is not signed: the headers ${Object.values(SIGNATURE_HEADERS).join(", ")} are required (the sous CLI and client sign for you)`);
  }
  const signedAt = Date.parse(timestamp);
  if (!Number.isFinite(signedAt)) throw unauthorized("bad_timestamp", `${SIGNATURE_HEADERS.timestamp} '${timestamp}' is not an ISO 8601 time`);
  if (Math.abs(now - signedAt) > clockSkewMs) {
    throw unauthorized("request_expired", `the request was signed at ${timestamp}, more than ${Math.round(clockSkewMs / 1000)} s from the server's clock (${new Date(now).toISOString()}); check the clock of this machine`);
  }
  if (sha256Hex(facts.body) !== contentSha256) {
    throw unauthorized("body_hash_mismatch", "the body's SHA-256 does not match the signed hash: the body changed after signing");
  }
  let principal: Principal;
  let publicKey: string | undefined;
  if (client.startsWith(SERVER_ADMIN_PREFIX)) {
    const name = client.slice(SERVER_ADMIN_PREFIX.length);
    publicKey = await store.serverAdminKey(name);
    principal = { kind: "server-admin", name };
  } else {
    if (org === undefined) throw unauthorized("unknown_client", `client '${client}' belongs to an organization; this route needs a server administrator (${SERVER_ADMIN_PREFIX}NAME)`);
    const record = await store.get<ClientRecord>({ org, kind: "client", name: client });
    publicKey = record?.data.public_key;
    principal = { kind: "client", org, name: client, admin: record?.data.admin === true, validator: record?.data.validator === true };
  }
  // One message for "no such client" and "wrong key", so the answer does not reveal which names exist.
  if (!publicKey || !verifyRequest(publicKey, { method: facts.method, path: facts.url, contentSha256, timestamp, client }, signature)) {
    throw unauthorized("bad_signature", `the signature does not verify for client '${client}'${org ? ` in organization '${org}'` : ""}: wrong key, unknown client, or a revoked key`);
  }
  return principal;
}

/** What an action needs. */
export type Permission =
  | "server-admin"
  | "org-admin"
  | "org-read"
  | "validator"
  /** Writing a node: admins any node, a node's client its own node. */
  | { node: string }
  /** Reading or re-keying one client: admins, or that client itself. */
  | { client: string };

/** Throws 403 unless the principal has the permission in `org`. */
export function authorize(principal: Principal, permission: Permission, org?: string): void {
  if (principal.kind === "server-admin") return;
  if (org !== undefined && principal.org !== org) throw forbidden(principal, "act in another organization");
  if (permission === "server-admin") throw forbidden(principal, "manage organizations (server administrators only)");
  if (principal.admin) return;
  if (principal.validator) {
    if (permission === "validator") return;
    throw forbidden(principal, "do anything but register new clients (it is the validator)");
  }
  if (permission === "org-read") return;
  if (typeof permission === "object" && "node" in permission && permission.node === principal.name) return;
  if (typeof permission === "object" && "client" in permission && permission.client === principal.name) return;
  const what = typeof permission === "object" ? ("node" in permission ? `write node '${permission.node}' (a node's client may write only its own node)` : `manage client '${permission.client}'`) : permission === "validator" ? "register clients" : "change this (administrators only)";
  throw forbidden(principal, what);
}

function forbidden(principal: Principal, what: string): ApiError {
  return new ApiError(403, "forbidden", `client '${principal.name}' may not ${what}`);
}
