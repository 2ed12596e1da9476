// The API's errors: what a route throws, and the one place where the store's refusals become
// HTTP status codes. Every code is listed in docs/server.md, "Error codes".
import { StoreError } from "./store/errors.js";
import type { StoreErrorKind } from "./store/errors.js";

/** An error the server reports to its caller: an HTTP status, a stable code and a message a person can act on. */
export class ApiError extends Error {
  /** Creates an error with an HTTP status, a machine-readable code and a human message. */
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** 400: the request itself is wrong (bad JSON, bad field, bad query). */
export function badRequest(code: string, message: string, details?: Record<string, unknown>): ApiError {
  return new ApiError(400, code, message, details);
}

/** 404: the named object does not exist. */
export function notFound(what: string, name: string): ApiError {
  return new ApiError(404, "not_found", `${what} '${name}' does not exist`);
}

/** The HTTP status of each kind of store refusal. */
const STORE_ERROR_STATUS: Record<StoreErrorKind, number> = {
  not_found: 404,
  conflict: 409,
  stale: 412,
  invalid: 400,
  limit: 400,
};

/** The API error a thrown value stands for: itself when it is one, the store's refusal mapped to its status, else undefined. */
export function asApiError(error: unknown): ApiError | undefined {
  if (error instanceof ApiError) return error;
  if (error instanceof StoreError) return new ApiError(STORE_ERROR_STATUS[error.kind], error.code, error.message, error.details);
  return undefined;
}
