import { fileURLToPath } from "node:url";
import { dirname } from "node:path";
import type { SourceLocation } from "./errors.js";

const ownRoot = dirname(dirname(fileURLToPath(import.meta.url)));

/**
 * The first stack frame outside Sous's own code: where a recipe declared something.
 * Recipes are bundled with source maps, so the frame names the recipe's own file and line.
 */
export function callerLocation(): SourceLocation | undefined {
  const holder: { stack?: string } = {};
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 30;
  Error.captureStackTrace(holder, callerLocation);
  Error.stackTraceLimit = limit;
  return firstForeignFrame(holder.stack ?? "");
}

/** Parses a V8 stack and returns the first frame that is not Sous's own code or Node's. */
export function firstForeignFrame(stack: string): SourceLocation | undefined {
  for (const raw of stack.split("\n").slice(1)) {
    const match = /\(?((?:file:\/\/)?\/[^():]+(?:\([^)]*\))?[^():]*):(\d+):(\d+)\)?\s*$/.exec(raw.trim());
    if (!match) continue;
    let file = match[1]!;
    if (file.startsWith("file://")) file = fileURLToPath(file);
    if (file.startsWith(ownRoot + "/")) continue;
    return { file, line: Number(match[2]), column: Number(match[3]) };
  }
  return undefined;
}
