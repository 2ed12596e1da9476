/**
 * The health check of a host after its switch: an HTTP request from this workstation (`{host}`
 * in the URL is the host's address) or a command on the host, tried until it passes or its
 * retries run out.
 */
import type { ClientRequest } from "node:http";
import type { Host } from "../host/host.js";
import type { LoadedApp } from "./load.js";

/** The outcome of a health check. */
export interface HealthResult {
  ok: boolean;
  attempts: number;
  /** What the last attempt saw: a status code, an error, a command's output. */
  detail: string;
}

/** One HTTP GET: healthy on 2xx or 3xx. */
export async function probeUrl(url: string, timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  // Loaded when a check runs: https brings TLS, which every deploy would otherwise pay for at start.
  const { request: send } = url.startsWith("https:") ? await import("node:https") : await import("node:http");
  return new Promise((resolve) => {
    let settled = false;
    const done = (ok: boolean, detail: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ok, detail });
    };
    let request: ClientRequest;
    try {
      request = send(url, { method: "GET", agent: false, headers: { "user-agent": "sous-deploy-health" } }, (response) => {
        response.resume();
        response.on("end", () => done((response.statusCode ?? 0) >= 200 && (response.statusCode ?? 0) < 400, `HTTP ${response.statusCode}`));
        response.on("error", (error) => done(false, error.message));
      });
    } catch (error) {
      return resolve({ ok: false, detail: (error as Error).message });
    }
    const timer = setTimeout(() => {
      request.destroy();
      done(false, `no answer within ${timeoutMs} ms`);
    }, timeoutMs);
    request.on("error", (error: NodeJS.ErrnoException) => done(false, error.code ?? error.message));
    request.end();
  });
}

/** Checks one host until healthy or out of retries; `signal` stops the waiting early. */
export async function checkHealth(check: NonNullable<LoadedApp["healthCheck"]>, host: Host, address: string, cwd: string, env: Record<string, string>, signal?: AbortSignal): Promise<HealthResult> {
  const attempts = Math.max(1, check.retries);
  let detail = "";
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (check.url !== undefined) {
      const probe = await probeUrl(check.url.replaceAll("{host}", address), check.timeoutMs);
      if (probe.ok) return { ok: true, attempts: attempt, detail: probe.detail };
      detail = probe.detail;
    } else {
      const result = await host.exec(check.command!, { cwd, env, timeoutMs: check.timeoutMs });
      if (result.exitCode === 0) return { ok: true, attempts: attempt, detail: "exit code 0" };
      detail = result.timedOut ? `timed out after ${check.timeoutMs} ms` : `exit code ${result.exitCode}${result.stderr.trim() || result.stdout.trim() ? `: ${(result.stderr.trim() || result.stdout.trim()).split("\n").slice(-3).join(" / ")}` : ""}`;
    }
    if (attempt < attempts && !signal?.aborted) await new Promise((r) => setTimeout(r, check.intervalMs));
    if (signal?.aborted) break;
  }
  return { ok: false, attempts, detail };
}
