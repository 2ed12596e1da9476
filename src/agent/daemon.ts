/**
 * The agent daemon: a run every interval plus a random splay, each in a child process of its
 * own (so a run that hangs or crashes is killed or lost alone, never the daemon); SIGUSR1 or
 * `sous agent --now` runs at once (or right after the run in progress); between runs it
 * long-polls the server's run-now requests, and once the server answers again it sends the
 * queued reports. Failures to reach the server back off exponentially with jitter; nothing
 * the server or a run does makes the daemon exit.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { SousApiError } from "../client/api.js";
import { errorMessage } from "../core/errors.js";
import type { RunReportBody } from "../protocol/reports.js";
import { recipeItems } from "../run/report/server-report.js";
import { VERSION } from "../version.js";
import type { AgentConfig } from "./config.js";
import { ReportQueue } from "./queue.js";
import { type AgentOutput, type AgentRunOptions, type AgentRunOutcome, ensureStateDirs, nodeClient, runAgentOnce, serverUnavailable } from "./run.js";

/** Exit code of a run killed by its timeout (as timeout(1) uses). */
export const TIMED_OUT_EXIT = 124;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The running daemon's PID from its pid file, if it is alive. */
export function daemonPid(config: AgentConfig): number | undefined {
  try {
    const pid = Number(readFileSync(config.paths.pidFile, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Sends SIGUSR1 to the running daemon; returns its PID, or undefined when none runs. */
export function signalDaemon(config: AgentConfig): number | undefined {
  const pid = daemonPid(config);
  if (pid === undefined) return undefined;
  process.kill(pid, "SIGUSR1");
  return pid;
}

/** The processes whose ancestor is `root` (from /proc), deepest last. */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // The command name may hold spaces and parentheses: the fields start after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // Gone meanwhile.
    }
  }
  const found: number[] = [];
  const visit = (pid: number) => {
    for (const child of children.get(pid) ?? []) {
      found.push(child);
      visit(child);
    }
  };
  visit(root);
  return found;
}

/** A failed report for a run that was killed before it could report itself. */
function killedRunReport(config: AgentConfig, runId: string, startedAt: Date, why: string, runRequest?: string): RunReportBody {
  return {
    id: runId,
    node: config.nodeName,
    status: "failed",
    started_at: startedAt.toISOString(),
    ended_at: new Date().toISOString(),
    run_list: recipeItems([]),
    environment: config.environment ?? "_default",
    cookbooks: {},
    totals: { resources: 0, updated: 0, skipped: 0, failed: 0 },
    resources: [],
    failure: { message: why },
    ...(runRequest ? { run_request: runRequest } : {}),
    agent_version: VERSION,
    queued: false,
  };
}

/**
 * One run in this process, killed when it outlasts the configured run timeout: the commands it
 * started are killed, a failed report is queued (and sent if the server answers) and the
 * process exits with 124.
 */
export async function runWithTimeout(options: AgentRunOptions): Promise<AgentRunOutcome> {
  const { config } = options;
  const runId = options.runId ?? randomUUID();
  const startedAt = new Date();
  const timeoutMs = config.runTimeoutSeconds * 1000;
  let abandoned = false;
  const timer =
    timeoutMs > 0
      ? setTimeout(() => {
          abandoned = true;
          const why = `the run took longer than its timeout of ${config.runTimeoutSeconds} s and was killed`;
          for (const pid of descendants(process.pid).reverse()) {
            try {
              process.kill(pid, "SIGKILL");
            } catch {
              // Already gone.
            }
          }
          options.output.stderr(`sous agent: ${why}\n`);
          const queue = new ReportQueue(config.paths.queueDir);
          const name = queue.add(killedRunReport(config, runId, startedAt, why, options.runRequest));
          const done = () => process.exit(TIMED_OUT_EXIT);
          queue.flush(nodeClient(config, 5_000), name).then(done, done);
        }, timeoutMs)
      : undefined;
  try {
    return await runAgentOnce({ ...options, runId, isAbandoned: () => abandoned });
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** How the daemon runs. */
export interface DaemonOptions {
  config: AgentConfig;
  output: AgentOutput;
  lockTimeoutSeconds: number;
  /** The command that starts one run (default: this program with `agent --once`). */
  runCommand?: readonly string[];
}

/** Runs until SIGTERM or SIGINT; resolves to the exit code. */
export async function runDaemon(options: DaemonOptions): Promise<number> {
  const { config, output } = options;
  ensureStateDirs(config);
  const other = daemonPid(config);
  if (other !== undefined) {
    output.stderr(`sous agent: another agent daemon runs already (PID ${other}); sous agent --now asks it to run\n`);
    return 1;
  }
  writeFileSync(config.paths.pidFile, `${process.pid}\n`, { mode: 0o600 });
  const log = (text: string) => output.stdout(`${text}\n`);
  const client = nodeClient(config, 75_000);
  const queue = new ReportQueue(config.paths.queueDir);
  const program = options.runCommand ?? [process.execPath, ...process.execArgv, process.argv[1]!];
  const splay = () => Math.random() * config.splaySeconds * 1000;

  let stopping = false;
  let runNow = false;
  let pendingRequest: string | undefined;
  let child: ChildProcess | undefined;
  let wake: (() => void) | undefined;
  const wakeUp = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onUsr1 = () => {
    runNow = true;
    log(child ? "SIGUSR1: a run is in progress; running again right after it" : "SIGUSR1: running now");
    wakeUp();
  };
  const onStop = () => {
    stopping = true;
    if (child?.pid) {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        // Already gone.
      }
    }
    wakeUp();
  };
  process.on("SIGUSR1", onUsr1);
  process.on("SIGTERM", onStop);
  process.on("SIGINT", onStop);

  // ---- the long-poll of run-now requests, and the queue once the server is back ----
  let polling = false;
  let pollAfter = 0;
  let failures = 0;
  let pollUnsupported = false;
  const backoff = () => {
    failures++;
    const cap = Math.min(300_000, Math.max(config.intervalSeconds * 1000, 1000));
    const delay = Math.min(cap, 1000 * 2 ** Math.min(failures, 16));
    // Full jitter in the upper half: a fleet that lost its server does not come back in step.
    return delay / 2 + Math.random() * (delay / 2);
  };
  const poll = (untilNext: number) => {
    if (polling || stopping || Date.now() < pollAfter) return;
    polling = true;
    const wait = Math.max(1, Math.min(50, Math.floor(untilNext / 1000)));
    client
      .waitRunRequest(config.nodeName, wait)
      .then(
        async (request) => {
          failures = 0;
          if (queue.pending().length > 0) {
            const flushed = await queue.flush(client);
            if (flushed.sent > 0) log(`The server answers again: sent ${flushed.sent} queued report${flushed.sent === 1 ? "" : "s"}${flushed.left ? `, ${flushed.left} still waiting` : ""}`);
          }
          if (request?.id) {
            pendingRequest = request.id;
            runNow = true;
            log(`Run-now request ${request.id} from the server`);
          }
        },
        async (error: unknown) => {
          if (error instanceof SousApiError && error.status === 404 && error.code === "no_such_route") {
            // A server without run-now requests: poll it for the queue only, once an interval.
            if (!pollUnsupported) log("The server has no run-now requests: polling it once per interval");
            pollUnsupported = true;
            pollAfter = Date.now() + Math.max(1000, config.intervalSeconds * 1000);
            if (queue.pending().length > 0) await queue.flush(client).catch(() => undefined);
          } else {
            const delay = backoff();
            pollAfter = Date.now() + delay;
            if (serverUnavailable(error) && failures === 1) log(`The server is unavailable (${errorMessage(error)}): runs converge from the cache; retrying in ${(delay / 1000).toFixed(1)} s, backing off`);
            else if (!serverUnavailable(error)) log(`Polling for run-now requests failed: ${errorMessage(error)}; retrying in ${(delay / 1000).toFixed(1)} s`);
          }
        },
      )
      .catch(() => undefined)
      .finally(() => {
        polling = false;
        wakeUp();
      });
  };

  // ---- one run in a child process ----
  const runChild = async (runRequest: string | undefined): Promise<void> => {
    const runId = randomUUID();
    const startedAt = new Date();
    const args = ["agent", "--once", "--config", config.file, "--run-id", runId, "--lock-timeout", String(options.lockTimeoutSeconds), "--run-timeout", String(config.runTimeoutSeconds), ...(runRequest ? ["--run-request", runRequest] : [])];
    const started = spawn(program[0]!, [...program.slice(1), ...args], { detached: true, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
    child = started;
    started.stdout!.on("data", (chunk: Buffer) => output.stdout(chunk.toString()));
    started.stderr!.on("data", (chunk: Buffer) => output.stderr(chunk.toString()));
    // A backstop: the run kills itself at its timeout; a run that cannot (stuck in the kernel) is killed here.
    const grace = config.runTimeoutSeconds > 0 ? setTimeout(() => started.pid && process.kill(-started.pid, "SIGKILL"), (config.runTimeoutSeconds + 30) * 1000) : undefined;
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
      started.on("error", (error) => {
        output.stderr(`sous agent: cannot start a run: ${error.message}\n`);
        resolve([null, null]);
      });
      started.on("close", (exitCode, exitSignal) => resolve([exitCode, exitSignal]));
    });
    if (grace) clearTimeout(grace);
    child = undefined;
    // Kill whatever the run left behind in its process group (a killed run's commands).
    try {
      if (started.pid) process.kill(-started.pid, "SIGKILL");
    } catch {
      // Nothing left.
    }
    if (signal !== null && !stopping) {
      const why = `the run was killed by ${signal}`;
      log(`sous agent: ${why}`);
      queue.add(killedRunReport(config, runId, startedAt, why, runRequest));
    } else if (code !== 0 && code !== 1 && code !== TIMED_OUT_EXIT && !stopping) {
      log(`sous agent: the run ended with exit code ${code}`);
    }
  };

  log(`sous agent ${VERSION}: node ${config.nodeName}, server ${config.serverUrl} (org ${config.org}); a run every ${config.intervalSeconds} s plus up to ${config.splaySeconds} s of splay`);
  let next = Date.now() + splay();
  try {
    while (!stopping) {
      if (runNow || Date.now() >= next) {
        runNow = false;
        const request = pendingRequest;
        pendingRequest = undefined;
        await runChild(request);
        next = Date.now() + config.intervalSeconds * 1000 + splay();
        continue;
      }
      poll(next - Date.now());
      const until = Math.min(next, polling || pollAfter <= Date.now() ? next : pollAfter);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          wake = undefined;
          resolve();
        }, Math.max(0, until - Date.now()));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    process.off("SIGUSR1", onUsr1);
    process.off("SIGTERM", onStop);
    process.off("SIGINT", onStop);
    // A long-poll in flight would keep the process alive for up to its wait.
    client.close();
    rmSync(config.paths.pidFile, { force: true });
  }
  log("sous agent stopped");
  return 0;
}
