/** Renders run events as JSON lines, one event per line, for scripts. */
import type { EventSink } from "../../core/events.js";

/** A reporter writing each event as one line of JSON. */
export function jsonLinesReporter(write: (text: string) => void): EventSink {
  return (event) => write(`${JSON.stringify(event)}\n`);
}
