/** Renders run events for people: a line per resource, changes and diffs on request, a summary. */
import { stripVTControlCharacters, styleText } from "node:util";
import { type EventSink, type FailureInfo, type RunEvent, shownId } from "../../core/events.js";
import { formatLocation } from "../../core/errors.js";

/** How much the human reporter shows. */
export interface HumanOptions {
  /** "warn": only changes, failures and the summary; "info": every resource; "debug": plus logs and timings. */
  level: "debug" | "info" | "warn";
  /** Show property changes (from → to) and what triggered each update. */
  why: boolean;
  /** Show unified diffs of content. */
  diff: boolean;
  color: boolean;
  write: (text: string) => void;
  /** Where failures are written as well (stderr, for scripts that keep only errors). */
  writeError?: (text: string) => void;
}

function formatValue(value: unknown): string {
  if (value === undefined) return "(none)";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

function indent(text: string, prefix: string): string {
  return text
    .replace(/\n$/, "")
    .split("\n")
    .map((line) => prefix + line)
    .join("\n");
}

const VERBS: Record<string, [done: string, planned: string]> = {
  run: ["ran", "would run"],
  delete: ["deleted", "would delete"],
  remove: ["removed", "would remove"],
  purge: ["purged", "would purge"],
  restart: ["restarted", "would restart"],
  reload: ["reloaded", "would reload"],
  start: ["started", "would start"],
  stop: ["stopped", "would stop"],
  touch: ["touched", "would touch"],
};

/** "created", "updated content, mode", "ran", "would delete": what happened, in words. */
function describeUpdate(action: string, changes: readonly { property: string; from: unknown }[], dryRun: boolean): string {
  const verb = VERBS[action];
  if (verb) return dryRun ? verb[1] : verb[0];
  const created = changes.every((c) => c.from === undefined || (c.property === "exists" && c.from === false));
  if (created) return dryRun ? "would create" : "created";
  const properties = [...new Set(changes.map((c) => c.property))];
  return `${dryRun ? "would update" : "updated"} ${properties.join(", ")}`;
}

/** A reporter that writes human-readable lines. */
export function humanReporter(options: HumanOptions): EventSink {
  type Style = Parameters<typeof styleText>[0];
  const paint = (style: Style, text: string) => (options.color ? styleText(style, text) : text);
  const out = (line: string) => options.write(`${line}\n`);
  const outError = (line: string) => {
    out(line);
    // Plain text there: colors follow stdout's terminal, not stderr's.
    options.writeError?.(`${stripVTControlCharacters(line)}\n`);
  };
  let dryRun = false;
  const notifiedOnly = new Set<string>();
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

  const failureLines = (error: FailureInfo, location?: { file: string; line: number }) => {
    const lines: string[] = [];
    if (location) lines.push(`      declared at ${formatLocation(location)}`);
    if (error.command) lines.push(`      command: ${error.command}`);
    if (error.exitCode !== undefined) lines.push(`      exit code: ${error.exitCode}`);
    if (error.stdout) lines.push(`      stdout:\n${indent(error.stdout, "        ")}`);
    if (error.stderr) lines.push(`      stderr:\n${indent(error.stderr, "        ")}`);
    return lines;
  };

  return (event: RunEvent) => {
    switch (event.type) {
      case "run:start":
        dryRun = event.dryRun;
        notifiedOnly.clear();
        out(paint("bold", `${event.dryRun ? "Dry run of" : "Converging"} ${event.node}: ${plural(event.resourceCount, "resource")}${event.dryRun ? " (nothing will be changed)" : ""}`));
        break;
      case "resource:up-to-date":
        // A resource with action "nothing" only waits for notifications: not worth a line.
        if (event.action === "nothing" && options.level !== "debug") break;
        if (options.level !== "warn") out(`  ${paint("green", "✓")} ${shownId(event.resource)} ${paint("dim", `up to date${event.action === "nothing" ? " (action nothing)" : event.reason ? ` (${event.reason})` : ""}`)}${options.level === "debug" ? paint("dim", ` ${event.durationMs.toFixed(1)} ms`) : ""}`);
        break;
      case "resource:updated": {
        const by = event.notifiedBy ? ` (notified by ${event.notifiedBy})` : "";
        if (event.notifiedBy) notifiedOnly.add(shownId(event.resource));
        const what = event.updatedInner
          ? `${event.dryRun ? "would update" : "updated"} ${plural(event.updatedInner.length, "inner resource")}`
          : describeUpdate(event.action, event.changes, event.dryRun);
        out(`  ${paint("yellow", event.dryRun ? "~" : "↻")} ${shownId(event.resource)} ${paint("yellow", what)}${by}`);
        if (options.why || event.dryRun) {
          if (event.reason) out(`      because ${event.reason}`);
          for (const change of event.changes) out(`      ${change.property}: ${formatValue(change.from)} → ${formatValue(change.to)}`);
        }
        // Always shown: the dry run's result rests on them.
        for (const assumption of event.assumptions ?? []) out(`      ${paint("dim", `assumes: ${assumption}`)}`);
        if (event.diff && (options.diff || event.dryRun)) {
          const lines = event.diff.replace(/\n$/, "").split("\n").filter((l) => !l.startsWith("====") && !l.startsWith("Index:"));
          for (const line of lines) {
            const style: Style | undefined = line.startsWith("+") && !line.startsWith("+++") ? "green" : line.startsWith("-") && !line.startsWith("---") ? "red" : line.startsWith("@@") ? "cyan" : undefined;
            out(`      ${style ? paint(style, line) : line}`);
          }
        }
        break;
      }
      case "resource:skipped":
        if (options.level !== "warn") out(`  ${paint("blue", "-")} ${shownId(event.resource)} ${paint("dim", `skipped: ${event.reason}`)}`);
        break;
      case "resource:retry":
        out(`  ${paint("magenta", "!")} ${shownId(event.resource)} failed (try ${event.attempt}), retrying: ${event.error}`);
        break;
      case "resource:failed":
        outError(`  ${paint("red", "✗")} ${shownId(event.resource)} ${paint("red", `failed${event.ignored ? " (ignored)" : ""}: ${event.error.message}`)}`);
        for (const line of failureLines(event.error, event.resource.location)) outError(line);
        break;
      case "notification:queued":
        if (options.level === "debug" || options.why) out(`      ${paint("dim", `→ ${event.timing === "immediately" ? "now" : "at the end"}: ${event.action} ${event.target}`)}`);
        break;
      case "log":
        if (options.level === "debug" || event.level === "warn") out(`      ${paint("dim", `${event.resource ? `${event.resource}: ` : ""}${event.message}`)}`);
        break;
      case "run:finish": {
        const c = event.counts;
        const seconds = (event.durationMs / 1000).toFixed(2);
        const byNotification = notifiedOnly.size ? ` (${notifiedOnly.size} by notification)` : "";
        const updated = `${c.updated} ${dryRun ? "would change" : "updated"}${byNotification}`;
        const summary = `${plural(c.resources, "resource")}, ${updated}, ${c.skipped} skipped, ${c.failed} failed, ${seconds} s`;
        if (event.pendingNotifications.length) {
          out(paint("yellow", `Not run because the run failed: ${event.pendingNotifications.join("; ")}`));
        }
        if (event.status === "converged") out(paint("bold", `${dryRun ? "Dry run done" : "Converged"}: ${summary}`));
        else {
          outError(paint(["bold", "red"], `Run failed${event.nothingChanged ? " (nothing was changed)" : ""}: ${summary}`));
          // The failure was shown in full on its resource's line; the summary only points at it.
          if (event.error) outError(paint("red", `  ${event.error.resource ?? ""}${event.error.location ? ` (${formatLocation(event.error.location)})` : ""}: ${event.error.message.split("\n")[0]}`));
        }
        break;
      }
    }
  };
}
