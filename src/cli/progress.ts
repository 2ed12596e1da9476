/**
 * Progress of work on many hosts: in a terminal, a live block (totals and the hosts in
 * flight) redrawn in place with lines about changes and failures printed above it; elsewhere
 * (pipes, CI logs), a line when the work starts and one per host when it ends.
 */
import type { HostPhase } from "../run/fleet.js";

/** Where progress goes. */
export interface ProgressOutput {
  write: (text: string) => void;
  /** A terminal to redraw in place, or undefined for plain lines. */
  terminal?: NodeJS.WriteStream;
}

/** Receives per-host progress. */
export interface Progress {
  phase(host: string, phase: HostPhase, detail?: string): void;
  /** What a host is doing now (e.g. the resource being converged), shown in the live view only. */
  activity(host: string, text: string): void;
  /** A line worth keeping (a change, a failure), printed above the live view. */
  line(text: string): void;
  /** Removes the live view; call before printing results. */
  stop(): void;
}

/** A progress display for `total` hosts (the live view's library loads only for a terminal). */
export async function createProgress(output: ProgressOutput, verb: string, total: number): Promise<Progress> {
  const terminal = output.terminal && output.terminal.isTTY && (output.terminal.columns ?? 0) > 0 ? output.terminal : undefined;
  const phases = new Map<string, HostPhase>();
  const activities = new Map<string, string>();
  const count = (phase: HostPhase) => [...phases.values()].filter((p) => p === phase).length;

  if (!terminal) {
    output.write(`${verb} ${total} host${total === 1 ? "" : "s"}\n`);
    return {
      phase(host, phase, detail) {
        phases.set(host, phase);
        if (phase === "done" || phase === "failed") output.write(`${host}: ${detail ?? phase} (${count("done") + count("failed")}/${total} hosts finished)\n`);
      },
      activity() {},
      line: (text) => output.write(`${text}\n`),
      stop() {},
    };
  }

  const { createLogUpdate } = await import("log-update");
  const live = createLogUpdate(terminal);
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const render = () => {
    timer = undefined;
    if (stopped) return;
    const running = [...phases.entries()].filter(([, p]) => p === "connecting" || p === "working");
    const room = Math.max(1, (terminal.rows ?? 24) - 3);
    const width = terminal.columns ?? 80;
    const lines = [`${verb} ${total} hosts: ${count("done")} done, ${count("failed")} failed, ${running.length} running, ${count("waiting")} waiting`];
    for (const [host, phase] of running.slice(0, room)) lines.push(`  ${host}  ${phase === "connecting" ? "connecting" : (activities.get(host) ?? "working")}`.slice(0, width - 1));
    if (running.length > room) lines.push(`  ... and ${running.length - room} more`);
    live(lines.join("\n"));
  };
  // Redraw at most ten times a second: hundreds of hosts emit events much faster than that.
  const schedule = () => {
    timer ??= setTimeout(render, 100);
  };
  return {
    phase(host, phase) {
      phases.set(host, phase);
      if (phase === "done" || phase === "failed") activities.delete(host);
      schedule();
    },
    activity(host, text) {
      activities.set(host, text);
      schedule();
    },
    line(text) {
      if (!stopped) live.clear();
      output.write(`${text}\n`);
      render();
    },
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      live.clear();
    },
  };
}
