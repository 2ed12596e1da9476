// What one request may ask of the server: how deep its JSON nests, and how much one object may
// add to the search index. Each limit is refused with a 400 that names it, before any work that
// grows with it (a hostile or broken node must not stall the server or bloat the store).
import { badRequest } from "./errors.js";
import { StoreError } from "./store/errors.js";

/** Deepest nesting of arrays and objects accepted in a JSON body. */
export const MAX_JSON_DEPTH = 64;

/** What one object may add to the search index. */
export interface IndexLimits {
  /** Distinct flattened keys (`kernel_release`, `release`, ...) one object may have. */
  maxKeys: number;
  /** (key, value) rows one object may have (array elements count one each). */
  maxRows: number;
}

/** The documented defaults: a real node has a few thousand keys (about 3 per installed package). */
export const DEFAULT_INDEX_LIMITS: IndexLimits = { maxKeys: 20_000, maxRows: 200_000 };

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;

/** Most object members (`"key": value` pairs, at any depth) one JSON body may have. */
export const MAX_JSON_MEMBERS = 50_000;

/** Bytes of a body looked at between two turns of the event loop. */
const SCAN_SLICE = 256 * 1024;

/**
 * Throws 400 `too_deep` when JSON text nests deeper than `maxDepth` and `too_many_members` when it
 * has more object members than `maxMembers`, naming the limit and the byte offset. Run before
 * parsing, which is what a hostile body makes expensive: parsing and walking thousands of levels
 * overflows the stack, and an object of hundreds of thousands of keys takes seconds to parse and
 * merge on the request thread. Only the structure is looked at (strings are skipped), in slices
 * with other requests served between them.
 */
export async function checkJsonShape(text: Buffer, maxDepth = MAX_JSON_DEPTH, maxMembers = MAX_JSON_MEMBERS): Promise<void> {
  let depth = 0;
  let members = 0;
  let inString = false;
  let escaped = false;
  for (let sliceStart = 0; sliceStart < text.length; sliceStart += SCAN_SLICE) {
    if (sliceStart > 0) await new Promise((resolve) => setImmediate(resolve));
    const end = Math.min(text.length, sliceStart + SCAN_SLICE);
    for (let i = sliceStart; i < end; i++) {
      const byte = text[i]!;
      if (inString) {
        if (escaped) escaped = false;
        else if (byte === BACKSLASH) escaped = true;
        else if (byte === QUOTE) inString = false;
      } else if (byte === QUOTE) {
        inString = true;
      } else if (byte === COLON) {
        if (++members > maxMembers) throw badRequest("too_many_members", `the body has more than ${maxMembers} object members ("key": value pairs, at byte ${i}); the limit is ${maxMembers}`, { limit: maxMembers });
      } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
        if (++depth > maxDepth) throw badRequest("too_deep", `the body nests arrays and objects more than ${maxDepth} levels deep (at byte ${i}); the limit is ${maxDepth}`, { limit: maxDepth });
      } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
        depth--;
      }
    }
  }
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** The body as text; 400 `bad_utf8` when it is not valid UTF-8 (instead of replacing what is not). */
export function utf8Text(body: Buffer): string {
  try {
    return strictUtf8.decode(body);
  } catch {
    const at = firstInvalidUtf8(body);
    throw badRequest("bad_utf8", `the body is not valid UTF-8 (at byte offset ${at}); send JSON as UTF-8 text`);
  }
}

function firstInvalidUtf8(body: Buffer): number {
  // Halving search for the shortest prefix that fails to decode (streaming, so that a prefix cut
  // inside a valid character does not count as invalid).
  let low = 0;
  let high = body.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(body.subarray(0, middle + 1), { stream: true });
      low = middle + 1;
    } catch {
      high = middle;
    }
  }
  return low;
}

/** Throws a `limit` StoreError (400 `index_limit`) naming the limit an object's search rows go past. */
export function indexLimitError(what: "keys" | "rows", limit: number, count: number): never {
  const noun = what === "keys" ? "distinct search keys" : "search values";
  throw new StoreError("limit", "index_limit", `this object would add more than ${limit} ${noun} to the search index (${count} counted so far); the server's limit is ${limit} (${what === "keys" ? "--max-index-keys" : "--max-index-rows"})`, { limit, what });
}

/** Characters of a key path shown in a message about it. */
const SHOWN_KEY = 60;

/**
 * Throws a `limit` StoreError (400 `index_limit`) for a search key (a flattened path such as `kernel_release`) longer
 * than `limit` characters: such a key was once skipped without a word, so the save "worked" and
 * searches on it found nothing.
 */
export function keyLengthError(key: string, limit: number): never {
  const shown = key.length > SHOWN_KEY ? `${key.slice(0, SHOWN_KEY)}...` : key;
  throw new StoreError("limit", "index_limit", `this object has a search key of ${key.length} characters, "${shown}"; the limit is ${limit} characters (fixed, docs/server.md "What one object may add"); shorten the attribute names or nest less deeply`, { limit, what: "key_length" });
}
