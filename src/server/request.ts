// The request plumbing every route shares: signatures checked before a body is read, JSON bodies
// checked and parsed once, paging, ETags, and one error handler that turns what a route throws
// into the API's error body.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { apiErrorBody } from "../protocol/errors.js";
import { SIGNATURE_HEADERS } from "../protocol/signing.js";
import type { Permission, Principal, SignedRequest } from "./auth.js";
import { authenticateHeaders, authorize, checkBody } from "./auth.js";
import { ApiError, asApiError, badRequest } from "./errors.js";
import { checkJsonShape, utf8Text } from "./limits.js";
import type { JsonObject } from "./objects.js";
import { yieldToOthers } from "./store/search-index.js";
import type { ObjectKind, Store } from "./store/store.js";

/** What the route modules need from the application that mounts them. */
export interface RouteContext {
  store: Store;
  /** Largest cookbook file in bytes. */
  maxFileSize: number;
}

declare module "fastify" {
  interface FastifyRequest {
    principal?: Principal;
    /** Set once the signature verified from the headers; the body is checked against it when read. */
    signed?: SignedRequest;
    /** The JSON body, parsed once, or why it cannot be. */
    json?: { value: unknown } | { problem: ApiError };
  }
}

/** What a route may say about itself (fastify's route `config`). */
export interface RouteConfig {
  /** Answered without a signature (health, client registration). */
  public?: boolean;
  /** The code and the name of what the body is, when it is over the route's body limit (default `body_too_large`, "the body"). */
  tooLarge?: { code: string; what: string };
}

/** A route's path parameters. */
export type Params = Record<string, string>;
/** A route's query string. */
export type Query = Record<string, string | undefined>;

const DEFAULT_ROWS = 1000;
const MAX_ROWS = 10_000;

/** `start=` and `rows=` of a listing or search; 400 when either is not a whole number in range. */
export function page(query: Query): { start: number; rows: number } {
  const number = (name: string, fallback: number, max: number): number => {
    const text = query[name];
    if (text === undefined || text === "") return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value < 0 || value > max) throw badRequest("invalid_parameter", `${name}=${text} must be a whole number from 0 to ${max}`);
    return value;
  };
  return { start: number("start", 0, Number.MAX_SAFE_INTEGER), rows: number("rows", DEFAULT_ROWS, MAX_ROWS) };
}

/** One page of names of a kind (in a bag) as every listing answers it: `{total, start, names}`, paged by the request's query. */
export async function listNames(store: Store, request: FastifyRequest, kind: ObjectKind, bag = ""): Promise<{ total: number; start: number; names: string[] }> {
  const { start, rows } = page(request.query as Query);
  const result = await store.list((request.params as Params).org!, kind, bag, { start, rows });
  return { total: result.total, start, names: result.names };
}

/** The request's JSON body, or a 400/415 naming what is wrong with it. */
export function jsonBody(request: FastifyRequest): unknown {
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
      return { problem: badRequest("bad_json", `the body is not valid JSON: ${(error as Error).message}`) };
    }
  } catch (error) {
    return { problem: error as ApiError };
  }
}

/** The request's JSON body, which must be an object. */
export function jsonObjectBody(request: FastifyRequest): JsonObject {
  const body = jsonBody(request);
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw badRequest("invalid_body", "the request body must be a JSON object");
  return body as JsonObject;
}

/** The ETag of the request's If-Match header, unquoted. */
export function ifMatch(request: FastifyRequest): string | undefined {
  const value = request.headers["if-match"];
  if (value === undefined) return undefined;
  // ETags are sent quoted; a weak prefix makes no difference here.
  return String(value).replace(/^W\//, "").replace(/^"(.*)"$/, "$1");
}

/** Sends an object with its ETag. */
export function sendObject(reply: FastifyReply, status: number, data: unknown, etag: string): FastifyReply {
  return reply.code(status).header("etag", `"${etag}"`).send(data);
}

/** Sends JSON text as it was stored: a node is not serialized a second time. */
export function sendStored(reply: FastifyReply, status: number, json: string, etag: string): FastifyReply {
  return reply.code(status).header("etag", `"${etag}"`).type("application/json; charset=utf-8").send(json);
}

/** Throws 401 unless the request is signed, 403 unless its signer has the permission (in the URL's organization). */
export function need(request: FastifyRequest, permission: Permission): void {
  if (!request.principal) throw new ApiError(401, "unsigned", "this request must be signed");
  authorize(request.principal, permission, (request.params as Params).org);
}

/**
 * Installs what every route relies on: raw bodies, the signature check before a body is read,
 * JSON bodies checked and parsed off the hot path, and the error and not-found answers.
 */
export function installRequestHandling(app: FastifyInstance, options: { store: Store; clockSkewMs: number; logger: boolean }): void {
  const { store, clockSkewMs } = options;
  // Bodies stay raw: the signature covers their exact bytes, and JSON errors get our message.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_request, body, done) => done(null, body));

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    const api = asApiError(error);
    if (api) return reply.code(api.status).send(apiErrorBody(api.code, api.message, api.details));
    if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      // Refused on the declared length before reading, or midway: the rest is discarded as it comes, never kept.
      const limit = request.routeOptions.bodyLimit ?? app.initialConfig.bodyLimit;
      // A route whose body is one thing with a limit of its own (a cookbook file) names it.
      const tooLarge = ((request.routeOptions.config ?? {}) as RouteConfig).tooLarge;
      if (tooLarge) return reply.code(413).send(apiErrorBody(tooLarge.code, `${tooLarge.what} is larger than the limit of ${limit} bytes`, { limit }));
      return reply.code(413).send(apiErrorBody("body_too_large", `the body is larger than this route's limit of ${limit} bytes`));
    }
    if (error.statusCode && error.statusCode < 500) {
      return reply.code(error.statusCode).send(apiErrorBody("bad_request", error.message));
    }
    logFailure(request, error, options.logger);
    return reply.code(500).send(apiErrorBody("internal", "the server failed to handle this request; its log has the details"));
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(apiErrorBody("no_such_route", `no API route ${request.method} ${request.url.split("?")[0]}; see docs/server.md`)),
  );

  // Every route but /health and client registration requires a valid signature before anything
  // else runs, and before its body is read: the signature covers the body's declared hash, so an
  // unsigned or badly signed request is refused on its headers and its body is never taken in.
  // Replays are refused here too, for every route. A path that is no route answers 404.
  app.addHook("onRequest", async (request) => {
    if (request.is404) return;
    const config = (request.routeOptions.config ?? {}) as RouteConfig;
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
