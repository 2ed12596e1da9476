// Search from recipes against a Sous server. Recipes run synchronously, so each request is
// signed here (SousClient.prepare), sent by a worker thread while this thread waits on a shared
// flag (Atomics.wait), and the answer read back with receiveMessageOnPort and parsed here
// (SousClient.interpret). The worker is plain JavaScript using only node:http and node:https: it
// needs neither this package's modules nor a TypeScript loader, in a test run or an installed one.
import { MessageChannel, receiveMessageOnPort, Worker } from "node:worker_threads";
import type { MessagePort } from "node:worker_threads";
import type { ClientOptions, RawResponse } from "../client/api.js";
import { SousApiError, SousClient } from "../client/api.js";
import { errorOfBody } from "../protocol/errors.js";
import type { PartialKeys } from "../protocol/partial-search.js";
import type { SearchBackend, SearchDocument } from "./backend.js";
import { SearchError } from "./backend.js";

const WORKER_SOURCE = `
const { workerData } = require("node:worker_threads");
const http = require("node:http");
const https = require("node:https");
const { port, flag } = workerData;
const agents = { "http:": new http.Agent({ keepAlive: true }), "https:": new https.Agent({ keepAlive: true }) };
function answer(message) {
  port.postMessage(message);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
}
function send(request) {
  const url = new URL(request.url);
  let done = false;
  const finish = (message) => { if (!done) { done = true; answer(message); } };
  const req = (url.protocol === "https:" ? https : http).request(url, { method: request.method, headers: request.headers, agent: agents[url.protocol] });
  req.setTimeout(request.timeoutMs, () => req.destroy(Object.assign(new Error("no answer in " + request.timeoutMs + " ms"), { code: "ETIMEDOUT" })));
  req.on("error", (error) => finish({ error: { code: error.code, message: error.message, reusedSocket: req.reusedSocket === true } }));
  req.on("response", (res) => {
    const chunks = [];
    res.on("data", (chunk) => chunks.push(chunk));
    res.on("error", (error) => finish({ error: { code: error.code, message: error.message } }));
    res.on("end", () => finish({ status: res.statusCode, statusText: res.statusMessage || "", etag: res.headers.etag, bytes: Buffer.concat(chunks) }));
  });
  req.end(request.body ? Buffer.from(request.body) : undefined);
}
port.on("message", (request) => send(request));
`;

/** How long the worker thread stays after the last search. */
const IDLE_MS = 30_000;

/** Synchronous HTTP exchanges through one worker thread (started on first use, stopped when idle). */
class SyncHttp {
  private worker: Worker | undefined;
  private port: MessagePort | undefined;
  private readonly flag = new Int32Array(new SharedArrayBuffer(4));

  /**
   * One exchange; a request on a kept-alive connection the server closed meanwhile fails before
   * any answer and is sent once more, signed afresh (the server accepts each request id once).
   */
  send(url: URL, method: string, headersFor: () => Record<string, string>, body: Buffer | undefined, timeoutMs: number): RawResponse {
    try {
      return this.once(url, method, headersFor(), body, timeoutMs);
    } catch (error) {
      const failed = error as NodeJS.ErrnoException & { reusedSocket?: boolean };
      if (!failed.reusedSocket || (failed.code !== "ECONNRESET" && failed.code !== "EPIPE")) throw error;
      return this.once(url, method, headersFor(), body, timeoutMs);
    } finally {
      // An idle worker is stopped (and started again on the next search): a daemon that makes a
      // backend per run keeps no thread per past run. The timer fires only between searches,
      // never during one, since a search holds this thread.
      this.idle ??= setTimeout(() => this.close(), IDLE_MS).unref();
      this.idle.refresh();
    }
  }

  private idle: NodeJS.Timeout | undefined;

  private once(url: URL, method: string, headers: Record<string, string>, body: Buffer | undefined, timeoutMs: number): RawResponse {
    if (!this.worker) {
      const { port1, port2 } = new MessageChannel();
      this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { port: port2, flag: this.flag }, transferList: [port2] });
      // Neither keeps the process alive: a finished run exits even if close() was never called.
      this.worker.unref();
      port1.unref();
      this.port = port1;
    }
    Atomics.store(this.flag, 0, 0);
    this.port!.postMessage({ url: url.href, method, headers, body, timeoutMs });
    // The worker answers within its own timeout; the extra seconds cover its start.
    Atomics.wait(this.flag, 0, 0, timeoutMs + 10_000);
    const received = receiveMessageOnPort(this.port!) as { message: { error?: { code?: string; message: string; reusedSocket?: boolean }; status?: number; statusText?: string; etag?: string; bytes?: Uint8Array } } | undefined;
    if (!received) {
      // Its answer must not arrive later and pass for the next request's.
      this.close();
      throw Object.assign(new Error(`no answer in ${timeoutMs} ms`), { code: "ETIMEDOUT" });
    }
    const message = received.message;
    if (message.error) throw Object.assign(new Error(message.error.message), { ...(message.error.code ? { code: message.error.code } : {}), reusedSocket: message.error.reusedSocket === true });
    const etag = message.etag?.replace(/^"(.*)"$/, "$1");
    const bytes = Buffer.from(message.bytes!.buffer, message.bytes!.byteOffset, message.bytes!.byteLength);
    return { status: message.status!, statusText: message.statusText ?? "", etag: etag || undefined, bytes };
  }

  close(): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = undefined;
    void this.worker?.terminate();
    this.port?.close();
    this.worker = undefined;
    this.port = undefined;
  }
}

/** Hits fetched per request while reading every hit of a search. */
const PAGE_SIZE = 1000;

/** A SearchBackend that asks a Sous server, signed as the given client (an agent's node key, a user's key in push mode). */
export class ServerSearchBackend implements SearchBackend {
  readonly description: string;
  private readonly client: SousClient;
  private readonly http = new SyncHttp();

  constructor(client: SousClient | ClientOptions) {
    this.client = client instanceof SousClient ? client : new SousClient(client);
    this.description = `the Sous server at ${this.client.options.serverUrl}${this.client.options.org ? ` (organization ${this.client.options.org})` : ""}`;
  }

  search(index: string, query: string, keys?: PartialKeys): SearchDocument[] {
    const rows: SearchDocument[] = [];
    for (;;) {
      const params = new URLSearchParams({ q: query, rows: String(PAGE_SIZE), start: String(rows.length), sort: "name" });
      const path = `${this.client.orgPath("search", index)}?${params}`;
      const page = this.call<{ total: number; rows: SearchDocument[] }>(keys ? "POST" : "GET", path, keys ? partialSearchBody(keys) : undefined);
      // A partial row is {name, url, data}: recipes get the data, keyed as they asked.
      rows.push(...(keys ? page.rows.map((row) => (row.data ?? {}) as SearchDocument) : page.rows));
      if (page.rows.length === 0 || rows.length >= page.total) return rows;
    }
  }

  dataBagItem(bag: string, id: string): SearchDocument | undefined {
    try {
      return this.call<SearchDocument>("GET", this.client.orgPath("data", bag, id));
    } catch (error) {
      if (error instanceof SearchError && (error.cause as SousApiError | undefined)?.status === 404) return undefined;
      throw error;
    }
  }

  close(): void {
    this.http.close();
  }

  private call<T>(method: string, path: string, body?: unknown): T {
    try {
      const prepared = this.client.prepare(method, path, body === undefined ? {} : { body });
      let response: RawResponse;
      try {
        response = this.http.send(prepared.url, method, prepared.headersFor, prepared.body, this.client.options.timeoutMs ?? 30_000);
      } catch (error) {
        throw this.client.unreachable(error);
      }
      return this.client.interpret<T>(response).body;
    } catch (error) {
      if (!(error instanceof SousApiError)) throw error;
      const position = errorOfBody(error.body)?.position;
      throw new SearchError(`${error.message} (asked ${this.description})`, typeof position === "number" ? position : undefined, error);
    }
  }
}

/**
 * The body of a partial search for recipes' `keys`: the server takes Chef's shape, result name to
 * path array, as recipes write it. Should the server's shape ever differ, this is the one place
 * that maps it.
 */
export function partialSearchBody(keys: PartialKeys): Record<string, string[]> {
  return keys;
}
