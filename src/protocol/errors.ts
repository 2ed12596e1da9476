// The one shape of an error answer: the server sends it for every 4xx and 5xx, the client reads
// its code and message back (and some errors' details, such as a query's position).

/** What an error answer holds under `error`: a stable code, a message a person can act on, and the details some errors add. */
export type ApiErrorDetail = { code: string; message: string } & Record<string, unknown>;

/** The JSON body of an error answer. */
export interface ApiErrorBody {
  error: ApiErrorDetail;
}

/** The body of an error answer; `details` (e.g. `{ missing: [...] }`) sit beside code and message. */
export function apiErrorBody(code: string, message: string, details?: Record<string, unknown>): ApiErrorBody {
  return { error: { code, message, ...(details ?? {}) } };
}

/** The error an answer's body carries, when it is an error body (a proxy's HTML page is not). */
export function errorOfBody(body: unknown): Partial<ApiErrorDetail> | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const error = (body as { error?: unknown }).error;
  return typeof error === "object" && error !== null && !Array.isArray(error) ? (error as Partial<ApiErrorDetail>) : undefined;
}
