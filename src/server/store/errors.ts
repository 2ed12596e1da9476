// What the store refuses, said in the store's own terms: the HTTP layer (src/server/errors.ts)
// turns each kind into a status code, in one place, so the store knows nothing of HTTP.

/**
 * Why a store call was refused: `not_found` (the object is not there), `conflict` (it exists
 * already, or a concurrent write won), `stale` (it changed since the caller's ETag), `invalid`
 * (what was asked breaks a rule of the store), `limit` (it would exceed a configured limit).
 */
export type StoreErrorKind = "not_found" | "conflict" | "stale" | "invalid" | "limit";

/** A refusal of the store: a kind, the API's error code and a message a person can act on. */
export class StoreError extends Error {
  /** Creates a refusal of the given kind, with its API error code (docs/server.md, Error codes). */
  constructor(
    readonly kind: StoreErrorKind,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "StoreError";
  }
}
