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

/** 409: the object already exists or a version conflict. */
export function conflict(code: string, message: string): ApiError {
  return new ApiError(409, code, message);
}
