// The threads that take the search index's heavy work off the request thread: planning an
// object's rows (limits, digests, flattening) and, on SQLite, the whole write of a large save.
// A save of tens of thousands of keys is seconds of work; on the request thread it held
// /health and every other node's requests for its whole length.
import { Worker } from "node:worker_threads";
import type { StoreErrorKind } from "./errors.js";
import { StoreError } from "./errors.js";

/** What the index thread's entry module answers to (see index-thread.ts). */
export type ThreadRole = { role: "plan" } | { role: "sqlite-writer"; file: string };

/** An error as it crosses between threads: a StoreError keeps its kind, code and details. */
export interface ThreadError {
  message: string;
  code?: string;
  kind?: StoreErrorKind;
  details?: Record<string, unknown>;
}

/** Turns an error into what postMessage carries. */
export function toThreadError(error: unknown): ThreadError {
  const details = (error as { details?: Record<string, unknown> }).details;
  if (error instanceof StoreError) return { message: error.message, code: error.code, kind: error.kind, ...(details ? { details } : {}) };
  const { message, code } = error as { message?: unknown; code?: unknown };
  return { message: String(message ?? error), ...(typeof code === "string" ? { code } : {}) };
}

function fromThreadError(error: ThreadError): Error {
  if (error.kind !== undefined) return new StoreError(error.kind, error.code ?? "internal", error.message, error.details);
  return Object.assign(new Error(error.message), error.code ? { code: error.code } : {});
}

/**
 * The worker's start-up code: the entry module is TypeScript under tsx (tests), which a worker
 * does not inherit, and JavaScript in dist/.
 */
function workerSource(): { source: string; data: Record<string, unknown> } {
  const typescript = import.meta.url.endsWith(".ts");
  const entry = new URL(`./index-thread.${typescript ? "ts" : "js"}`, import.meta.url).href;
  const tsx = typescript ? import.meta.resolve("tsx/esm/api") : undefined;
  const source = `const { workerData } = require("node:worker_threads");
(workerData.tsx ? import(workerData.tsx).then((api) => api.register()) : Promise.resolve()).then(() => import(workerData.entry));`;
  return { source, data: { entry, ...(tsx ? { tsx } : {}) } };
}

/** One worker thread answering numbered requests in order of arrival. */
export class IndexThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private nextId = 0;
  private stopped: Error | undefined;

  constructor(role: ThreadRole) {
    const { source, data } = workerSource();
    this.worker = new Worker(source, { eval: true, workerData: { ...data, ...role } });
    this.worker.on("message", (message: { id: number; result?: unknown; error?: ThreadError }) => {
      const waiting = this.pending.get(message.id);
      if (!waiting) return;
      this.pending.delete(message.id);
      if (message.error) waiting.reject(fromThreadError(message.error));
      else waiting.resolve(message.result);
    });
    const stop = (error: Error): void => {
      this.stopped ??= error;
      for (const waiting of this.pending.values()) waiting.reject(error);
      this.pending.clear();
    };
    this.worker.on("error", stop);
    this.worker.on("exit", (code) => stop(new Error(`the search index thread stopped (exit code ${code})`)));
    // An idle thread does not keep the process alive; one with work does (see call).
    this.worker.unref();
  }

  /** How many requests wait for an answer. */
  get busy(): number {
    return this.pending.size;
  }

  /** Sends `request` and waits for its answer (an error thrown there is thrown here, an ApiError as one). */
  call<T>(request: Record<string, unknown>): Promise<T> {
    if (this.stopped) return Promise.reject(this.stopped);
    const id = this.nextId++;
    if (this.pending.size === 0) this.worker.ref();
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.worker.postMessage({ ...request, id });
    }).finally(() => {
      if (this.pending.size === 0) this.worker.unref();
    });
  }

  /** Stops the thread (requests still waiting are refused). */
  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

/** A few planning threads, each request to the least busy one. */
export class PlanningThreads {
  private readonly threads: IndexThread[] = [];

  constructor(private readonly size = 2) {}

  /** Starts the first thread now, if none runs yet: a server does so when it starts (see Store.startIndexThreads). */
  start(): void {
    if (this.threads.length === 0) this.threads.push(new IndexThread({ role: "plan" }));
  }

  /** Sends `request` to a planning thread (started on first use). */
  call<T>(request: Record<string, unknown>): Promise<T> {
    let thread = this.threads.find((candidate) => candidate.busy === 0);
    if (!thread && this.threads.length < this.size) this.threads.push((thread = new IndexThread({ role: "plan" })));
    thread ??= this.threads.reduce((least, candidate) => (candidate.busy < least.busy ? candidate : least));
    return thread.call<T>(request);
  }

  /** Stops every thread. */
  async close(): Promise<void> {
    await Promise.all(this.threads.map((thread) => thread.close()));
    this.threads.length = 0;
  }
}
