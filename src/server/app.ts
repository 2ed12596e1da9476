// The HTTP API (versioned under /api/v1): organizations and everything inside them, behind
// signed requests. Routes only translate HTTP to store calls; rules live in objects.ts,
// cookbooks.ts, auth.ts and the store.
import { createHash, randomBytes } from "node:crypto";
import Fastify from "fastify";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import semver from "semver";
import { publicKeyProblem, SIGNATURE_HEADERS } from "../protocol/signing.js";
import type { Permission, Principal, ClientRecord, SignedRequest } from "./auth.js";
import { authenticateHeaders, authorize, checkBody } from "./auth.js";
import type { CookbookManifest } from "../protocol/manifest.js";
import { API_PREFIX } from "../protocol/paths.js";
import { satisfiesConstraint } from "../protocol/constraints.js";
import { cookbookOfRecipe, normalizeManifest, resolveCookbooks } from "./cookbooks.js";
import { ApiError, badRequest, notFound } from "./errors.js";
import { checkJsonShape, utf8Text } from "./limits.js";
import { yieldToOthers } from "./store/search-index.js";
import type { JsonObject } from "./objects.js";
import { checkName, checkRunList, normalizeEnvironment, normalizeItem, normalizeNode, normalizeRole, searchEntry } from "./objects.js";
import { registerFleetRoutes } from "./fleet/routes.js";
import { runListNames } from "./search/flatten.js";
import { parsePartialKeys, PartialKeysError, valueAtPath } from "../protocol/partial-search.js";
import type { PartialKeys } from "../protocol/partial-search.js";
import { parseQuery } from "./search/query.js";
import type { ObjectKind, SearchOptions, Store } from "./store/store.js";

/** Options of the HTTP API. */
export interface AppOptions {
  store: Store;
  /** How far a request's timestamp may be from the server's clock. Default 5 minutes. */
  clockSkewMs?: number;
  /** Largest cookbook file. Default 8 MiB. */
  maxFileSize?: number;
  /** Largest JSON body. Default 4 MiB. */
  maxJsonBody?: number;
  /** Fastify's logger setting (off by default: the CLI decides what to print). */
  logger?: boolean;
  /** TLS certificate and key (PEM); plain HTTP when absent (e.g. behind a proxy). */
  https?: { cert: string; key: string };
  /** The agents' run interval (seconds): a node that has not reported for two is shown as missing. Default 1800. */
  runIntervalSeconds?: number;
}

const DEFAULT_ROWS = 1000;
const MAX_ROWS = 10_000;

declare module "fastify" {
  interface FastifyRequest {
    principal?: Principal;
    /** Set once the signature verified from the headers; the body is checked against it when read. */
    signed?: SignedRequest;
    /** The JSON body, parsed once, or why it cannot be. */
    json?: { value: unknown } | { problem: ApiError };
  }
}

type Params = Record<string, string>;
type Query = Record<string, string | undefined>;

function page(query: Query): { start: number; rows: number } {
  const number = (name: string, fallback: number, max: number): number => {
    const text = query[name];
    if (text === undefined || text === "") return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value < 0 || value > max) throw badRequest("invalid_parameter", `${name}=${text} must be a whole number from 0 to ${max}`);
    return value;
  };
  return { start: number("start", 0, Number.MAX_SAFE_INTEGER), rows: number("rows", DEFAULT_ROWS, MAX_ROWS) };
}

function jsonBody(request: FastifyRequest): unknown {
  const body = request.body as Buffer | undefined;
  if (!body || body.length === 0) throw badRequest("missing_body", "this request needs a JSON body");
  const type = String(request.headers["content-type"] ?? "");
  if (!type.startsWith("application/json")) throw new ApiError(415, "unsupported_media_type", `send the body as application/json, not ${type || "an unnamed type"}`);
  // Parsed by the preHandler hook (checked first, with other requests served meanwhile); its
  // problem, if any, is raised here so that each route's own order of checks stays as it was.
  if (request.json === undefined) request.json = parseJson(body);
  if ("problem" in request.json) throw request.json.problem;
  return request.json.value;
}

/** A JSON body as text: valid UTF-8, then valid JSON (its shape was checked before). */
function parseJson(body: Buffer): { value: unknown } | { problem: ApiError } {
  try {
    const text = utf8Text(body);
    try {
      return { value: JSON.parse(text) };
    } catch (error) {
      return { problem: badRequest("malformed_json", `the body is not valid JSON: ${(error as Error).message}`) };
    }
  } catch (error) {
    return { problem: error as ApiError };
  }
}

function jsonObjectBody(request: FastifyRequest): JsonObject {
  const body = jsonBody(request);
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw badRequest("invalid_body", "the request body must be a JSON object");
  return body as JsonObject;
}

function ifMatch(request: FastifyRequest): string | undefined {
  const value = request.headers["if-match"];
  if (value === undefined) return undefined;
  // ETags are sent quoted; a weak prefix makes no difference here.
  return String(value).replace(/^W\//, "").replace(/^"(.*)"$/, "$1");
}

function sendObject(reply: FastifyReply, status: number, data: unknown, etag: string): FastifyReply {
  return reply.code(status).header("etag", `"${etag}"`).send(data);
}

/** Sends JSON text as it was stored: a node is not serialized a second time. */
function sendStored(reply: FastifyReply, status: number, json: string, etag: string): FastifyReply {
  return reply.code(status).header("etag", `"${etag}"`).type("application/json; charset=utf-8").send(json);
}

/** Builds the server's HTTP application on a store (not yet listening). */
export function buildApp(options: AppOptions): FastifyInstance {
  const store = options.store;
  const clockSkewMs = options.clockSkewMs ?? 5 * 60_000;
  const maxFileSize = options.maxFileSize ?? 8 * 1024 * 1024;
  const app = Fastify({
    logger: options.logger ?? false,
    // The documented JSON limit; only the cookbook file route takes more (maxFileSize).
    bodyLimit: options.maxJsonBody ?? 4 * 1024 * 1024,
    // Object names may be 255 characters (fastify's default stops at 100).
    routerOptions: { maxParamLength: 1024 },
    ...(options.https ? { https: options.https } : {}),
  }) as unknown as FastifyInstance;

  // Bodies stay raw: the signature covers their exact bytes, and JSON errors get our message.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_request, body, done) => done(null, body));

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    if (error instanceof ApiError) {
      return reply.code(error.status).send({ error: { code: error.code, message: error.message, ...(error.details ?? {}) } });
    }
    if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      // Refused on the declared length before reading, or midway: the rest is discarded as it comes, never kept.
      const limit = request.routeOptions.bodyLimit ?? app.initialConfig.bodyLimit;
      return reply.code(413).send({ error: { code: "body_too_large", message: `the body is larger than this route's limit of ${limit} bytes` } });
    }
    if (error.statusCode && error.statusCode < 500) {
      return reply.code(error.statusCode).send({ error: { code: "bad_request", message: error.message } });
    }
    logFailure(request, error, options.logger === true);
    return reply.code(500).send({ error: { code: "internal", message: "the server failed to handle this request; its log has the details" } });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: { code: "no_such_route", message: `no API route ${request.method} ${request.url.split("?")[0]}; see docs/server.md` } }),
  );

  // Every route but /health and client registration requires a valid signature before anything
  // else runs, and before its body is read: the signature covers the body's declared hash, so an
  // unsigned or badly signed request is refused on its headers and its body is never taken in.
  // Replays are refused here too, for every route. A path that is no route answers 404.
  app.addHook("onRequest", async (request) => {
    if (request.is404) return;
    const config = (request.routeOptions.config ?? {}) as { public?: boolean };
    if (config.public && request.headers[SIGNATURE_HEADERS.signature] === undefined) return;
    const org = (request.params as Params | undefined)?.org;
    request.signed = await authenticateHeaders(store, { method: request.method, url: request.url, headers: request.headers }, org, clockSkewMs);
  });
  app.addHook("preHandler", async (request) => {
    if (request.signed) {
      checkBody(request.signed, request.body as Buffer | undefined);
      request.principal = request.signed.principal;
    }
    // A JSON body's depth and size are checked before it is parsed, in slices, and the request
    // thread is given back between steps: a body of many keys takes a while to parse.
    const body = request.body as Buffer | undefined;
    if (body && body.length > 0 && String(request.headers["content-type"] ?? "").startsWith("application/json")) {
      try {
        await checkJsonShape(body);
        if (body.length > 64 * 1024) await yieldToOthers();
        request.json = parseJson(body);
        if (body.length > 64 * 1024) await yieldToOthers();
      } catch (error) {
        request.json = { problem: error as ApiError };
      }
    }
  });

  const need = (request: FastifyRequest, permission: Permission): void => {
    if (!request.principal) throw new ApiError(401, "unsigned", "this request must be signed");
    authorize(request.principal, permission, (request.params as Params).org);
  };

  const requireOrg = async (org: string): Promise<void> => {
    if (!(await store.getOrg(org))) throw notFound("organization", org);
  };

  const v = API_PREFIX;

  app.get(`${v}/health`, { config: { public: true } }, async () => ({ status: "ok", store: store.dialect }));

  // ---- organizations ----

  app.post(`${v}/orgs`, async (request, reply) => {
    need(request, "server-admin");
    const body = jsonObjectBody(request);
    const name = checkName("organization", body?.name);
    if (!/^[a-z0-9][a-z0-9_-]*$/.test(name)) throw badRequest("invalid_name", `organization name '${name}' must be lower-case letters, digits, '-' or '_'`);
    const admin = (body.admin ?? {}) as JsonObject;
    const adminName = checkClientName(admin.name);
    const adminProblem = publicKeyProblem(admin.public_key);
    if (adminProblem) throw badRequest("invalid_public_key", `admin.${adminProblem}`);
    const validator = body.validator as JsonObject | undefined;
    if (validator !== undefined) {
      const problem = publicKeyProblem(validator.public_key);
      if (problem) throw badRequest("invalid_public_key", `validator.${problem}`);
    }
    const validatorName = `${name}-validator`;
    await store.transaction(async (t) => {
      await t.createOrg(name, typeof body.full_name === "string" ? body.full_name : name);
      await putClient(t, name, { name: adminName, public_key: admin.public_key as string, admin: true, validator: false }, "create");
      if (validator) await putClient(t, name, { name: validatorName, public_key: validator.public_key as string, admin: false, validator: true }, "create");
      const env = normalizeEnvironment({ name: "_default", description: "The default environment" });
      await t.put({ org: name, kind: "environment", name: "_default" }, env, { mode: "create", search: searchEntry("environment", env) });
    });
    return reply.code(201).send({ name, admin: adminName, ...(validator ? { validator: validatorName } : {}) });
  });

  app.get(`${v}/orgs`, async (request) => {
    need(request, "server-admin");
    return { names: await store.listOrgs() };
  });

  app.get(`${v}/orgs/:org`, async (request, reply) => {
    const { org } = request.params as Params;
    need(request, "org-read");
    const found = await store.getOrg(org!);
    if (!found) throw notFound("organization", org!);
    return sendObject(reply, 200, found, orgEtag(found));
  });

  // Only the full name changes; the name is the organization's identity in every path.
  app.put(`${v}/orgs/:org`, async (request, reply) => {
    const { org } = request.params as Params;
    need(request, "server-admin");
    const body = jsonObjectBody(request);
    if (body.name !== undefined && body.name !== org) throw badRequest("name_immutable", `an organization cannot be renamed: the body names '${String(body.name)}', the URL '${org}'`);
    const unknown = Object.keys(body).filter((key) => !["name", "full_name", "created_at"].includes(key));
    if (unknown.length > 0) throw badRequest("invalid_field", `an organization has only name, full_name and created_at; remove ${unknown.join(", ")}`);
    if (typeof body.full_name !== "string" || body.full_name.trim() === "") throw badRequest("invalid_field", "full_name must be a non-empty string");
    const current = await store.getOrg(org!);
    if (!current) throw notFound("organization", org!);
    const match = ifMatch(request);
    const stale = (): ApiError => new ApiError(412, "precondition_failed", `organization '${org}' changed since you read it (ETag ${match} no longer matches); read it again and retry`);
    if (match !== undefined && match !== orgEtag(current)) throw stale();
    // With If-Match, the update applies only while the full name is still the one that ETag was made of.
    if (!(await store.updateOrg(org!, body.full_name, match !== undefined ? current.full_name : undefined))) {
      if (!(await store.getOrg(org!))) throw notFound("organization", org!);
      throw stale();
    }
    const updated = { ...current, full_name: body.full_name };
    return sendObject(reply, 200, updated, orgEtag(updated));
  });

  app.delete(`${v}/orgs/:org`, async (request) => {
    const { org } = request.params as Params;
    need(request, "server-admin");
    if (!(await store.deleteOrg(org!))) throw notFound("organization", org!);
    return { name: org };
  });

  // ---- nodes, roles, environments ----

  const collections: Array<{ path: string; kind: "node" | "role" | "environment"; normalize: (body: unknown, name?: string) => JsonObject }> = [
    { path: "nodes", kind: "node", normalize: normalizeNode },
    { path: "roles", kind: "role", normalize: normalizeRole },
    { path: "environments", kind: "environment", normalize: normalizeEnvironment },
  ];
  for (const { path, kind, normalize } of collections) {
    const writePermission = (name: string): Permission => (kind === "node" ? { node: name } : "org-admin");
    app.get(`${v}/orgs/:org/${path}`, async (request) => {
      const { org } = request.params as Params;
      need(request, "org-read");
      const { start, rows } = page(request.query as Query);
      const result = await store.list(org!, kind, "", { start, rows });
      return { total: result.total, start, names: result.names };
    });
    app.post(`${v}/orgs/:org/${path}`, async (request, reply) => {
      const { org } = request.params as Params;
      const data = normalize(jsonBody(request));
      need(request, writePermission(data.name as string));
      const { etag, json } = await store.put({ org: org!, kind, name: data.name as string }, data, { mode: "create", search: searchEntry(kind, data) });
      return sendStored(reply, 201, json, etag);
    });
    app.get(`${v}/orgs/:org/${path}/:name`, async (request, reply) => {
      const { org, name } = request.params as Params;
      need(request, "org-read");
      const found = await store.get({ org: org!, kind, name: name! });
      if (!found) throw notFound(kind, name!);
      return sendObject(reply, 200, found.data, found.etag);
    });
    app.put(`${v}/orgs/:org/${path}/:name`, async (request, reply) => {
      const { org, name } = request.params as Params;
      need(request, writePermission(name!));
      const data = normalize(jsonBody(request), name);
      const match = ifMatch(request);
      const { etag, created, json } = await store.put({ org: org!, kind, name: name! }, data, { mode: "upsert", ...(match ? { ifMatch: match } : {}), search: searchEntry(kind, data) });
      return sendStored(reply, created ? 201 : 200, json, etag);
    });
    app.delete(`${v}/orgs/:org/${path}/:name`, async (request) => {
      const { org, name } = request.params as Params;
      need(request, "org-admin");
      if (kind === "environment" && name === "_default") throw new ApiError(405, "not_allowed", "the _default environment cannot be deleted");
      if (!(await store.delete({ org: org!, kind, name: name! }, ifMatch(request)))) throw notFound(kind, name!);
      return { name };
    });
  }

  // ---- clients ----

  const putClient = async (t: Store, org: string, client: ClientRecord, mode: "create" | "upsert"): Promise<string> => {
    const data = { ...client, created_at: client.created_at ?? new Date().toISOString() };
    const { etag } = await t.put({ org, kind: "client", name: client.name }, data, { mode, search: searchEntry("client", data) });
    return etag;
  };
  const publicClient = (client: ClientRecord): JsonObject => ({ name: client.name, admin: client.admin, validator: client.validator, public_key: client.public_key, created_at: client.created_at });

  app.get(`${v}/orgs/:org/clients`, async (request) => {
    const { org } = request.params as Params;
    need(request, "org-admin");
    const { start, rows } = page(request.query as Query);
    const result = await store.list(org!, "client", "", { start, rows });
    return { total: result.total, start, names: result.names };
  });

  app.post(`${v}/orgs/:org/clients`, async (request, reply) => {
    const { org } = request.params as Params;
    need(request, "org-admin");
    const body = jsonObjectBody(request);
    const client = newClientRecord(body, body.admin === true);
    // An administrator creating a client by name is what allows a revoked name again.
    await store.transaction(async (t) => {
      await t.allowClientName(org!, client.name);
      await putClient(t, org!, client, "create");
    });
    return reply.code(201).send(publicClient(client));
  });

  // A new node registers itself: signed by the validator, or carrying a one-time bootstrap token.
  // Public (a token in the body): a small body limit, since it is read before anyone is known.
  app.post(`${v}/orgs/:org/clients/register`, { config: { public: true }, bodyLimit: 64 * 1024 }, async (request, reply) => {
    const { org } = request.params as Params;
    await requireOrg(org!);
    const body = jsonObjectBody(request);
    const token = typeof body?.token === "string" ? body.token : undefined;
    if (token === undefined) {
      if (!request.principal) throw new ApiError(401, "unsigned", `registration needs the validator's signature (headers ${Object.values(SIGNATURE_HEADERS).join(", ")}) or a bootstrap "token" in the body`);
      need(request, "validator");
    }
    const client = newClientRecord(body, false);
    // A revoked client stays out, whoever holds the validator key or a token, until an
    // administrator creates it again. The token is used up only by a registration that succeeds:
    // it and the new client are one transaction.
    await store.transaction(async (t) => {
      if (await t.isClientNameRevoked(org!, client.name)) {
        throw new ApiError(403, "revoked", `client '${client.name}' was revoked and cannot register again; an administrator of '${org}' can allow it (sous client create ${client.name}, or DELETE ${API_PREFIX}/orgs/${org}/clients/${client.name}/revocation)`);
      }
      if (token !== undefined && !(await t.consumeBootstrapToken(org!, createHash("sha256").update(token).digest("hex")))) {
        throw new ApiError(401, "bad_token", "the bootstrap token is unknown, already used or expired; ask an administrator for a new one (sous client bootstrap-token)");
      }
      await putClient(t, org!, client, "create");
    });
    return reply.code(201).send(publicClient(client));
  });

  app.post(`${v}/orgs/:org/bootstrap-tokens`, async (request, reply) => {
    const { org } = request.params as Params;
    need(request, "org-admin");
    const body = request.body && (request.body as Buffer).length > 0 ? jsonObjectBody(request) : {};
    const ttl = body.ttl_seconds === undefined ? 3600 : Number(body.ttl_seconds);
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 7 * 86400) throw badRequest("invalid_field", "ttl_seconds must be a whole number from 1 to 604800");
    const token = randomBytes(24).toString("base64url");
    const expires = new Date(Date.now() + ttl * 1000);
    await store.addBootstrapToken(org!, createHash("sha256").update(token).digest("hex"), expires, request.principal!.name);
    return reply.code(201).send({ token, expires_at: expires.toISOString() });
  });

  app.get(`${v}/orgs/:org/clients/:name`, async (request, reply) => {
    const { org, name } = request.params as Params;
    need(request, { client: name! });
    const found = await store.get<ClientRecord>({ org: org!, kind: "client", name: name! });
    if (!found) throw notFound("client", name!);
    return sendObject(reply, 200, publicClient(found.data), found.etag);
  });

  // Admin and validator flags only: a key changes through .../key, so that edits never swap it by accident.
  app.put(`${v}/orgs/:org/clients/:name`, async (request, reply) => {
    const { org, name } = request.params as Params;
    need(request, "org-admin");
    const body = jsonObjectBody(request);
    const found = await store.get<ClientRecord>({ org: org!, kind: "client", name: name! });
    if (!found) throw notFound("client", name!);
    const updated = updatedClientRecord(found.data, body);
    // An organization whose last admin demoted itself could be repaired only by a server administrator.
    const principal = request.principal!;
    if (principal.kind === "client" && principal.name === name && found.data.admin && !updated.admin) throw new ApiError(403, "forbidden", `client '${name}' cannot take away its own admin flag; another administrator of '${org}' can`);
    const { etag } = await store.put({ org: org!, kind: "client", name: name! }, updated, { mode: "update", ifMatch: ifMatch(request) ?? found.etag, search: searchEntry("client", { ...updated }) });
    return sendObject(reply, 200, publicClient(updated), etag);
  });

  app.put(`${v}/orgs/:org/clients/:name/key`, async (request) => {
    const { org, name } = request.params as Params;
    need(request, { client: name! });
    const body = jsonObjectBody(request);
    const problem = publicKeyProblem(body?.public_key);
    if (problem) throw badRequest("invalid_public_key", problem);
    const found = await store.get<ClientRecord>({ org: org!, kind: "client", name: name! });
    if (!found) throw notFound("client", name!);
    const updated = { ...found.data, public_key: body.public_key as string };
    await store.put({ org: org!, kind: "client", name: name! }, updated, { mode: "update", ifMatch: found.etag, search: searchEntry("client", updated) });
    return publicClient(updated);
  });

  app.delete(`${v}/orgs/:org/clients/:name`, async (request) => {
    const { org, name } = request.params as Params;
    need(request, "org-admin");
    await store.transaction(async (t) => {
      if (!(await t.delete({ org: org!, kind: "client", name: name! }, ifMatch(request)))) throw notFound("client", name!);
      // Revoked, not only deleted: the validator key or a token cannot bring the name back.
      await t.revokeClientName(org!, name!);
    });
    return { name };
  });

  // An administrator lets a revoked name register again (re-keying a machine: sous bootstrap --force).
  app.delete(`${v}/orgs/:org/clients/:name/revocation`, async (request) => {
    const { org, name } = request.params as Params;
    need(request, "org-admin");
    await store.allowClientName(org!, name!);
    return { name };
  });

  // ---- data bags ----

  const requireBag = async (org: string, bag: string): Promise<void> => {
    if (!(await store.get({ org, kind: "data_bag", name: bag }))) throw notFound("data bag", bag);
  };

  app.get(`${v}/orgs/:org/data`, async (request) => {
    const { org } = request.params as Params;
    need(request, "org-read");
    const { start, rows } = page(request.query as Query);
    const result = await store.list(org!, "data_bag", "", { start, rows });
    return { total: result.total, start, names: result.names };
  });

  app.post(`${v}/orgs/:org/data`, async (request, reply) => {
    const { org } = request.params as Params;
    need(request, "org-admin");
    const body = jsonObjectBody(request);
    const name = checkName("data bag", body?.name);
    if (["node", "role", "environment", "client"].includes(name)) throw badRequest("invalid_name", `'${name}' is a built-in search index; choose another data bag name`);
    await store.put({ org: org!, kind: "data_bag", name }, { name }, { mode: "create" });
    return reply.code(201).send({ name });
  });

  app.get(`${v}/orgs/:org/data/:bag`, async (request) => {
    const { org, bag } = request.params as Params;
    need(request, "org-read");
    await requireBag(org!, bag!);
    const { start, rows } = page(request.query as Query);
    const result = await store.list(org!, "item", bag, { start, rows });
    return { total: result.total, start, names: result.names };
  });

  app.delete(`${v}/orgs/:org/data/:bag`, async (request) => {
    const { org, bag } = request.params as Params;
    need(request, "org-admin");
    await store.transaction(async (t) => {
      if (!(await t.delete({ org: org!, kind: "data_bag", name: bag! }))) throw notFound("data bag", bag!);
      await t.deleteAllInBag(org!, "item", bag!);
    });
    return { name: bag };
  });

  const putItem = async (request: FastifyRequest, reply: FastifyReply, mode: "create" | "upsert", urlName?: string): Promise<FastifyReply> => {
    const { org, bag } = request.params as Params;
    need(request, "org-admin");
    const data = normalizeItem(jsonBody(request), urlName);
    await requireBag(org!, bag!);
    const match = ifMatch(request);
    const { etag, created } = await store.put({ org: org!, kind: "item", bag: bag!, name: data.id as string }, data, { mode, ...(match ? { ifMatch: match } : {}), search: searchEntry("item", data, bag) });
    return sendObject(reply, created ? 201 : 200, data, etag);
  };
  app.post(`${v}/orgs/:org/data/:bag`, (request, reply) => putItem(request, reply, "create"));
  app.put(`${v}/orgs/:org/data/:bag/:item`, (request, reply) => putItem(request, reply, "upsert", (request.params as Params).item));

  app.get(`${v}/orgs/:org/data/:bag/:item`, async (request, reply) => {
    const { org, bag, item } = request.params as Params;
    need(request, "org-read");
    const found = await store.get({ org: org!, kind: "item", bag: bag!, name: item! });
    if (!found) throw notFound("data bag item", `${bag}/${item}`);
    return sendObject(reply, 200, found.data, found.etag);
  });

  app.delete(`${v}/orgs/:org/data/:bag/:item`, async (request) => {
    const { org, bag, item } = request.params as Params;
    need(request, "org-admin");
    if (!(await store.delete({ org: org!, kind: "item", bag: bag!, name: item! }, ifMatch(request)))) throw notFound("data bag item", `${bag}/${item}`);
    return { name: item };
  });

  // ---- search ----

  const searchScope = async (org: string, index: string): Promise<{ idx: string; kind: ObjectKind; bag: string }> => {
    if (index === "node" || index === "role" || index === "environment" || index === "client") return { idx: index, kind: index, bag: "" };
    await requireBag(org, index);
    return { idx: `bag:${index}`, kind: "item", bag: index };
  };

  app.get(`${v}/orgs/:org/search`, async (request) => {
    const { org } = request.params as Params;
    need(request, "org-read");
    const bags = await store.list(org!, "data_bag");
    return { indexes: ["node", "role", "environment", "client", ...bags.names] };
  });

  const runSearch = async (request: FastifyRequest, reply: FastifyReply, partial: Record<string, string[]> | undefined) => {
    const { org, index } = request.params as Params;
    need(request, index === "client" ? "org-admin" : "org-read");
    const query = request.query as Query;
    const { start, rows } = page(query);
    const parsed = parseQuery(query.q ?? "*:*");
    const scope = await searchScope(org!, index!);
    const sort = parseSort(query.sort);
    // Partial search reads the top-level attributes its paths start in; a path to the whole view (`[]`) needs whole documents.
    const paths = partial ? Object.values(partial) : [];
    const attributes = partial && paths.every((path) => path.length > 0) ? [...new Set(paths.map((path) => path[0]!))] : undefined;
    const kindPath = index === "node" || index === "role" || index === "environment" || index === "client" ? `${index}s` : `data/${index}`;
    const urlPrefix = `${API_PREFIX}/orgs/${org}/${kindPath}/`;
    const partialRows = partial && attributes ? { urlPrefix, entries: Object.entries(partial).map(([key, path]) => ({ key, path })) } : undefined;
    const result = await store.search({ org: org!, ...scope }, parsed, { start, rows, ...sort, ...(attributes ? { attributes } : {}), ...(partialRows ? { partialRows } : {}) });
    if (!partial) {
      // Whole documents go out as stored: no parse and serialize of a page of large nodes.
      const documents = index === "client" ? result.hits.map((hit) => JSON.stringify({ ...(JSON.parse(hit.json!) as JsonObject), public_key: undefined })) : result.hits.map((hit) => hit.json!);
      return reply.type("application/json; charset=utf-8").send(`{"total":${result.total},"start":${start},"rows":[${documents.join(",")}]}`);
    }
    const entries = Object.entries(partial).map(([key, path]) => ({ key: JSON.stringify(key), path }));
    const rowsJson = result.hits.map((hit) => {
      // Put together by the database (SQLite).
      if (hit.row !== undefined) return hit.row;
      // A path to a top-level attribute is answered with its stored JSON as is; deeper paths walk into it.
      const view = hit.attributes ? undefined : searchEntry(scope.kind as "node", JSON.parse(hit.json!) as JsonObject, scope.bag).document;
      const data = entries.map(({ key, path }) => {
        let value: string;
        if (view) value = JSON.stringify(valueAtPath(view, path));
        else {
          const json = hit.attributes![path[0]!];
          value = json === undefined ? "null" : path.length === 1 ? json : JSON.stringify(valueAtPath(JSON.parse(json), path.slice(1)));
        }
        return `${key}:${value}`;
      });
      return `{"name":${JSON.stringify(hit.name)},"url":${JSON.stringify(`${urlPrefix}${hit.name}`)},"data":{${data.join(",")}}}`;
    });
    return reply.type("application/json; charset=utf-8").send(`{"total":${result.total},"start":${start},"rows":[${rowsJson.join(",")}]}`);
  };

  app.get(`${v}/orgs/:org/search/:index`, (request, reply) => runSearch(request, reply, undefined));
  app.post(`${v}/orgs/:org/search/:index`, (request, reply) => runSearch(request, reply, partialSpec(jsonBody(request))));

  // ---- cookbooks ----

  const loadManifests = async (org: string): Promise<Map<string, CookbookManifest[]>> => {
    const all = new Map<string, CookbookManifest[]>();
    for (const { bag, name } of await store.listAcrossBags(org, "cookbook")) {
      const found = await store.get<CookbookManifest>({ org, kind: "cookbook", bag, name });
      if (found) all.set(bag, [...(all.get(bag) ?? []), found.data]);
    }
    return all;
  };

  app.get(`${v}/orgs/:org/cookbooks`, async (request) => {
    const { org } = request.params as Params;
    need(request, "org-read");
    const cookbooks: Record<string, string[]> = {};
    for (const { bag, name } of await store.listAcrossBags(org!, "cookbook")) (cookbooks[bag] ??= []).push(name);
    for (const versions of Object.values(cookbooks)) versions.sort(semver.rcompare);
    return { cookbooks };
  });

  app.get(`${v}/orgs/:org/cookbooks/:name`, async (request) => {
    const { org, name } = request.params as Params;
    need(request, "org-read");
    const { names } = await store.list(org!, "cookbook", name);
    if (names.length === 0) throw notFound("cookbook", name!);
    return { name, versions: names.sort(semver.rcompare) };
  });

  app.get(`${v}/orgs/:org/cookbooks/:name/:version`, async (request, reply) => {
    const { org, name, version } = request.params as Params;
    need(request, "org-read");
    const resolved = version === "_latest" ? (await store.list(org!, "cookbook", name)).names.sort(semver.rcompare)[0] : version;
    const found = resolved === undefined ? undefined : await store.get<CookbookManifest>({ org: org!, kind: "cookbook", bag: name!, name: resolved });
    if (!found) throw notFound("cookbook version", `${name}@${version}`);
    return sendObject(reply, 200, found.data, found.etag);
  });

  app.post(`${v}/orgs/:org/cookbooks/check`, async (request) => {
    const { org } = request.params as Params;
    need(request, "org-admin");
    const body = jsonObjectBody(request);
    if (!Array.isArray(body?.checksums) || !body.checksums.every((sum) => typeof sum === "string" && /^[0-9a-f]{64}$/.test(sum))) {
      throw badRequest("invalid_field", "checksums must be an array of SHA-256 hex strings");
    }
    return { missing: await store.missingBlobs(org!, body.checksums as string[]) };
  });

  app.put(`${v}/orgs/:org/files/:sha256`, { bodyLimit: maxFileSize }, async (request, reply) => {
    const { org, sha256 } = request.params as Params;
    need(request, "org-admin");
    const body = (request.body as Buffer | undefined) ?? Buffer.alloc(0);
    if (body.length > maxFileSize) throw new ApiError(413, "file_too_large", `the file is ${body.length} bytes; the limit is ${maxFileSize}`);
    const actual = createHash("sha256").update(body).digest("hex");
    if (actual !== sha256) throw badRequest("checksum_mismatch", `the content's SHA-256 is ${actual}, not ${sha256}`);
    await store.putBlob(org!, sha256!, body);
    return reply.code(201).send({ sha256 });
  });

  app.get(`${v}/orgs/:org/files/:sha256`, async (request, reply) => {
    const { org, sha256 } = request.params as Params;
    need(request, "org-read");
    const content = await store.getBlob(org!, sha256!);
    if (!content) throw notFound("file", sha256!);
    return reply.type("application/octet-stream").send(content);
  });

  app.put(`${v}/orgs/:org/cookbooks/:name/:version`, async (request, reply) => {
    const { org, name, version } = request.params as Params;
    need(request, "org-admin");
    const manifest = normalizeManifest(jsonBody(request), name!, version!, { maxFileSize, maxFiles: 10_000 });
    const missing = await store.missingBlobs(org!, manifest.files.map((file) => file.sha256));
    if (missing.length > 0) throw badRequest("missing_files", `${missing.length} file(s) of ${name}@${version} were not uploaded first (PUT ${API_PREFIX}/orgs/${org}/files/SHA256)`, { missing });
    // The manifest's sizes are what clients trust before they download: they must be the files' own.
    const sizes = await store.blobSizes(org!, manifest.files.map((file) => file.sha256));
    const wrong = manifest.files.find((file) => sizes.get(file.sha256) !== file.size);
    if (wrong) throw badRequest("size_mismatch", `${name}@${version}: '${wrong.path}' is listed as ${wrong.size} bytes, but the uploaded file ${wrong.sha256} has ${sizes.get(wrong.sha256)}`);
    const all = await loadManifests(org!);
    for (const [dependency, range] of Object.entries(manifest.dependencies)) {
      if (!(all.get(dependency) ?? []).some((other) => satisfiesConstraint(other.version, range))) {
        throw badRequest("missing_dependency", `${name}@${version} depends on ${dependency} ${range}, and no such version is on the server; upload it first`);
      }
    }
    const force = (request.query as Query).force === "true";
    const ref = { org: org!, kind: "cookbook" as const, bag: name!, name: version! };
    const { etag, created } = await store.transaction(async (t) => {
      const existing = await t.get<CookbookManifest>(ref);
      if (existing?.data.frozen && !force) throw new ApiError(409, "frozen", `${name}@${version} is frozen; upload a new version (or pass force=true)`);
      return t.put(ref, manifest, { mode: "upsert" });
    });
    return sendObject(reply, created ? 201 : 200, manifest, etag);
  });

  app.delete(`${v}/orgs/:org/cookbooks/:name/:version`, async (request) => {
    const { org, name, version } = request.params as Params;
    need(request, "org-admin");
    if (!(await store.delete({ org: org!, kind: "cookbook", bag: name!, name: version! }, ifMatch(request)))) throw notFound("cookbook version", `${name}@${version}`);
    return { name, version };
  });

  app.post(`${v}/orgs/:org/environments/:name/cookbook_versions`, async (request) => {
    const { org, name } = request.params as Params;
    need(request, "org-read");
    const body = jsonObjectBody(request);
    const runList = checkRunList(body?.run_list, "run_list");
    const environment = await store.get<JsonObject>({ org: org!, kind: "environment", name: name! });
    if (!environment) throw notFound("environment", name!);
    const recipes = await expandRunList(store, org!, name!, runList);
    const resolved = resolveCookbooks(recipes.map(cookbookOfRecipe), await loadManifests(org!), (environment.data.cookbook_versions ?? {}) as Record<string, string>, name!);
    return { recipes, cookbooks: Object.fromEntries(resolved) };
  });

  registerFleetRoutes(app, { store, prefix: v, need, jsonObjectBody, ...(options.runIntervalSeconds !== undefined ? { runIntervalSeconds: options.runIntervalSeconds } : {}) });

  return app;
}

/**
 * A failure the server did not expect is always logged, with or without the request log: the
 * answer says "its log has the details", so there must be some (stderr when logging is off).
 */
function logFailure(request: FastifyRequest, error: Error, logging: boolean): void {
  if (logging) {
    request.log.error(error);
    return;
  }
  process.stderr.write(`${JSON.stringify({ level: "error", time: new Date().toISOString(), method: request.method, url: request.url.split("?")[0], error: error.message, stack: error.stack })}\n`);
}

function checkClientName(name: unknown): string {
  const checked = checkName("client", name);
  if (checked.includes(":")) throw badRequest("invalid_name", `client name '${checked}' may not contain ':'`);
  return checked;
}

/** An organization's ETag: made of its content, since the orgs table keeps none. */
function orgEtag(org: { name: string; full_name: string }): string {
  return createHash("sha256").update(`${org.name}\0${org.full_name}`).digest("base64url").slice(0, 12);
}

function updatedClientRecord(current: ClientRecord, body: JsonObject): ClientRecord {
  const unknown = Object.keys(body).filter((key) => !["name", "public_key", "admin", "validator", "created_at"].includes(key));
  if (unknown.length > 0) throw badRequest("invalid_field", `only admin and validator of a client can be changed; remove ${unknown.join(", ")}`);
  if (body.name !== undefined && body.name !== current.name) throw badRequest("name_immutable", `a client cannot be renamed ('${current.name}' to '${String(body.name)}'): create a new client and delete this one`);
  if (body.public_key !== undefined && body.public_key !== current.public_key) throw badRequest("public_key_immutable", `the public key of '${current.name}' changes only through PUT .../clients/${current.name}/key (sous client rotate-key ${current.name})`);
  for (const flag of ["admin", "validator"] as const) {
    if (body[flag] !== undefined && typeof body[flag] !== "boolean") throw badRequest("invalid_field", `${flag} must be true or false`);
  }
  return { ...current, admin: (body.admin as boolean | undefined) ?? current.admin, validator: (body.validator as boolean | undefined) ?? current.validator };
}

function newClientRecord(body: JsonObject, admin: boolean): ClientRecord {
  const name = checkClientName(body?.name);
  const problem = publicKeyProblem(body.public_key);
  if (problem) throw badRequest("invalid_public_key", `${problem} (the private key stays with the client: generate a pair and send the public half)`);
  return { name, public_key: body.public_key as string, admin, validator: false, created_at: new Date().toISOString() };
}

/** `sort=` of a search: nothing (creation order), `name`, or a flattened key, each with asc or desc. */
function parseSort(sort: string | undefined): Pick<SearchOptions, "sort" | "descending"> {
  if (sort === undefined || sort.trim() === "") return {};
  const match = /^\s*([A-Za-z0-9_.:@-]+)(?:\s+(asc|desc|ASC|DESC))?\s*$/.exec(sort);
  if (!match) throw badRequest("invalid_parameter", `sort='${sort}' must be "KEY" or "KEY asc|desc"`);
  const key = match[1]!.replace(/\./g, "_");
  const descending = (match[2] ?? "asc").toLowerCase() === "desc";
  return { sort: key === "name" ? "name" : { key }, descending };
}

function partialSpec(body: unknown): PartialKeys {
  try {
    return parsePartialKeys(body, "partial search body");
  } catch (error) {
    if (error instanceof PartialKeysError) throw badRequest("invalid_body", error.message);
    throw error;
  }
}


/** Expands roles (with their per-environment run lists) into the ordered list of recipes. */
async function expandRunList(store: Store, org: string, environment: string, runList: readonly string[], seen = new Set<string>()): Promise<string[]> {
  const recipes: string[] = [];
  for (const entry of runList) {
    const role = runListNames([entry], "role")[0];
    if (role !== undefined) {
      if (seen.has(role)) continue;
      seen.add(role);
      const found = await store.get<JsonObject>({ org, kind: "role", name: role });
      if (!found) throw new ApiError(412, "unresolvable", `the run list names role '${role}', which does not exist`);
      const envLists = (found.data.env_run_lists ?? {}) as Record<string, string[]>;
      const list = envLists[environment] ?? (found.data.run_list as string[]);
      recipes.push(...(await expandRunList(store, org, environment, list, seen)));
    } else {
      for (const recipe of runListNames([entry], "recipe")) if (!recipes.includes(recipe)) recipes.push(recipe);
    }
  }
  return [...new Set(recipes)];
}
