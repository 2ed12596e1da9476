import { fileURLToPath } from "node:url";
import { dirname } from "node:path";
import { findSourceMap } from "node:module";
import type { SourceLocation } from "./errors.js";

const ownRoot = dirname(dirname(fileURLToPath(import.meta.url)));

interface RawSite {
  file: string;
  line: number;
  column: number;
}

function rawSites(_error: Error, sites: NodeJS.CallSite[]): RawSite[] {
  const out: RawSite[] = [];
  for (const site of sites) {
    const file = site.getFileName();
    const line = site.getLineNumber();
    if (file && line !== null) out.push({ file, line, column: site.getColumnNumber() ?? 1 });
  }
  return out;
}

const mapped = new Map<string, SourceLocation | null>();

/**
 * Maps a raw position of generated code (the recipe bundle) to the recipe's own file and
 * line through the bundle's source map. Cached: recipes declare many resources from one line.
 */
function mapSite(site: RawSite): SourceLocation | null {
  const key = `${site.file}:${site.line}:${site.column}`;
  let location = mapped.get(key);
  if (location !== undefined) return location;
  let file = site.file.startsWith("file://") ? fileURLToPath(site.file) : site.file;
  let { line, column } = site;
  const map = findSourceMap(site.file) ?? (file !== site.file ? findSourceMap(file) : undefined);
  if (map) {
    const entry = map.findEntry(site.line - 1, site.column - 1) as { originalSource?: string; originalLine?: number; originalColumn?: number };
    if (entry && entry.originalSource !== undefined && entry.originalLine !== undefined) {
      file = entry.originalSource.startsWith("file://") ? fileURLToPath(entry.originalSource) : entry.originalSource;
      line = entry.originalLine + 1;
      column = (entry.originalColumn ?? 0) + 1;
    }
  }
  location = file.startsWith(ownRoot + "/") || file.startsWith("node:") || !file.startsWith("/") ? null : { file, line, column };
  mapped.set(key, location);
  return location;
}

/**
 * The first stack frame outside Sous's own code: where a recipe declared something.
 * Raw call sites are captured (cheap) and only the chosen one is source-mapped, so a
 * recipe declaring thousands of resources does not pay for mapping whole stacks.
 */
export function callerLocation(): SourceLocation | undefined {
  const holder: { stack?: RawSite[] } = {};
  const previousPrepare = Error.prepareStackTrace;
  const previousLimit = Error.stackTraceLimit;
  Error.prepareStackTrace = rawSites as typeof Error.prepareStackTrace;
  Error.stackTraceLimit = 30;
  try {
    Error.captureStackTrace(holder, callerLocation);
    const sites = holder.stack ?? [];
    for (const site of sites) {
      if (site.file.startsWith("node:")) continue;
      const rawPath = site.file.startsWith("file://") ? site.file.slice(7) : site.file;
      if (rawPath.startsWith(ownRoot + "/")) continue;
      const location = mapSite(site);
      if (location) return location;
    }
    return undefined;
  } finally {
    Error.prepareStackTrace = previousPrepare;
    Error.stackTraceLimit = previousLimit;
  }
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
