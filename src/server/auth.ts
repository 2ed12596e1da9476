// Who is asking: verifies a signed request against the client's public key, the clock-skew
// window and the request ids already seen, then answers what that identity may do. Everything
// but the body hash is checked from the headers alone, before the body is read.
import { REQUEST_ID_PATTERN, SIGNATURE_HEADERS, sha256Hex, verifyRequest } from "../protocol/signing.js";
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

/** A request whose signature verified from its headers; its body still has to match `contentSha256`. */
export interface SignedRequest {
  principal: Principal;
  contentSha256: string;
}

function header(facts: Pick<RequestFacts, "headers">, name: string): string | undefined {
  const value = facts.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function unauthorized(code: string, message: string): ApiError {
  return new ApiError(401, code, message);
}

/**
 * Verifies a request's signature from its headers alone (the signature covers the body's declared
 * SHA-256, not the body), then records its request id: a request id seen before within the clock
 * window is a replay. `org` is the organization in the path, if any. Throws 401 when it does not
 * check out. The body is checked afterwards with `checkBody`.
 */
export async function authenticateHeaders(store: Store, facts: Omit<RequestFacts, "body">, org: string | undefined, clockSkewMs: number, now = Date.now()): Promise<SignedRequest> {
  const client = header(facts, SIGNATURE_HEADERS.client);
  const timestamp = header(facts, SIGNATURE_HEADERS.timestamp);
  const contentSha256 = header(facts, SIGNATURE_HEADERS.contentSha256);
  const signature = header(facts, SIGNATURE_HEADERS.signature);
  const requestId = header(facts, SIGNATURE_HEADERS.requestId);
  if (!client || !timestamp || !contentSha256 || !signature || !requestId) {
    throw unauthorized("unsigned", `this request is not signed: the headers ${Object.values(SIGNATURE_HEADERS).join(", ")} are required (the sous CLI and client sign for you)`);
  }
  if (!REQUEST_ID_PATTERN.test(requestId)) throw unauthorized("bad_request_id", `${SIGNATURE_HEADERS.requestId} must be 16 to 64 characters of A-Z a-z 0-9 _ -`);
  const signedAt = Date.parse(timestamp);
  if (!Number.isFinite(signedAt)) throw unauthorized("bad_timestamp", `${SIGNATURE_HEADERS.timestamp} '${timestamp}' is not an ISO 8601 time`);
  if (Math.abs(now - signedAt) > clockSkewMs) {
    throw unauthorized("request_expired", `the request was signed at ${timestamp}, more than ${Math.round(clockSkewMs / 1000)} s from the server's clock (${new Date(now).toISOString()}); check the clock of this machine`);
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
  if (!publicKey || !verifyRequest(publicKey, { method: facts.method, path: facts.url, contentSha256, timestamp, client, requestId }, signature)) {
    throw unauthorized("bad_signature", `the signature does not verify for client '${client}'${org ? ` in organization '${org}'` : ""}: wrong key, unknown client, or a revoked key`);
  }
  // Only a verified request is recorded (an unsigned flood cannot fill the table), until the
  // time after which its timestamp is refused anyway.
  const signer = principal.kind === "server-admin" ? client : `${org}/${client}`;
  if (!(await store.rememberRequest(signer, requestId, signedAt + clockSkewMs))) {
    throw unauthorized("replayed_request", `request ${requestId} of client '${client}' was already received: each signed request is accepted once (sign a new one)`);
  }
  return { principal, contentSha256 };
}

/** Throws 401 unless the body's SHA-256 is the one the signature covers. */
export function checkBody(signed: SignedRequest, body: Buffer | undefined): void {
  if (sha256Hex(body) !== signed.contentSha256) {
    throw unauthorized("body_hash_mismatch", "the body's SHA-256 does not match the signed hash: the body changed after signing");
  }
}

/** Verifies a whole request (headers, then body); see `authenticateHeaders`. */
export async function authenticate(store: Store, facts: RequestFacts, org: string | undefined, clockSkewMs: number, now = Date.now()): Promise<Principal> {
  const signed = await authenticateHeaders(store, facts, org, clockSkewMs, now);
  checkBody(signed, facts.body);
  return signed.principal;
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
