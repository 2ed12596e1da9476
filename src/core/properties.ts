/**
 * Property specifications: the role of each property of a resource type and how its
 * value is checked and normalized. Roles follow the model every resource shares:
 * identity (the name), state (diffed), control (how to act, never diffed); any of them
 * may be sensitive (never printed).
 */

/** What a property is for. */
export type PropertyRole = "identity" | "state" | "control";

/** How one property is checked, normalized and reported. */
export interface PropertySpec {
  readonly role: PropertyRole;
  readonly sensitive: boolean;
  readonly required: boolean;
  /** What the value must be, for messages ("a string", "a file mode such as 0644"). */
  readonly expected: string;
  /** The default value (a function is called once per declaration). */
  readonly defaultValue?: unknown;
  /** Returns the normalized value, or throws a PropertyCheckError describing the problem. */
  normalize(value: unknown): unknown;
}

/** Thrown by a property's normalize step: the message completes "expected ...". */
export class PropertyCheckError extends Error {}

interface SpecOptions {
  role?: PropertyRole;
  sensitive?: boolean;
  required?: boolean;
  default?: unknown;
}

function spec(expected: string, normalize: (value: unknown) => unknown, options: SpecOptions = {}): PropertySpec {
  return {
    role: options.role ?? "state",
    sensitive: options.sensitive ?? false,
    required: options.required ?? false,
    expected,
    defaultValue: options.default,
    normalize,
  };
}

function fail(expected: string, value: unknown): never {
  throw new PropertyCheckError(`expected ${expected}, got ${describeValue(value)}`);
}

/** A short description of a value for error messages. */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return `an array (${JSON.stringify(value).slice(0, 60)})`;
  if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === "function") return "a function";
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}

/** Builders of property specs, one per kind of value. */
export const prop = {
  /** A string. */
  string(options: SpecOptions & { nonEmpty?: boolean } = {}): PropertySpec {
    const expected = options.nonEmpty ? "a non-empty string" : "a string";
    return spec(expected, (v) => (typeof v === "string" && (!options.nonEmpty || v !== "") ? v : fail(expected, v)), options);
  },
  /** An absolute path. */
  absolutePath(options: SpecOptions = {}): PropertySpec {
    const expected = "an absolute path";
    return spec(expected, (v) => (typeof v === "string" && v.startsWith("/") && !v.includes("\0") ? v : fail(expected, v)), options);
  },
  /** A string accepted by a test, optionally transformed (URLs, checksums). */
  matching(expected: string, accept: (value: string) => boolean, options: SpecOptions & { transform?: (value: string) => string } = {}): PropertySpec {
    return spec(expected, (v) => (typeof v === "string" && accept(v) ? (options.transform ? options.transform(v) : v) : fail(expected, v)), options);
  },
  /** A boolean. */
  boolean(options: SpecOptions = {}): PropertySpec {
    return spec("true or false", (v) => (typeof v === "boolean" ? v : fail("true or false", v)), options);
  },
  /** An integer within bounds. */
  integer(options: SpecOptions & { min?: number; max?: number } = {}): PropertySpec {
    const min = options.min ?? Number.MIN_SAFE_INTEGER;
    const max = options.max ?? Number.MAX_SAFE_INTEGER;
    const expected = options.min !== undefined && options.max !== undefined ? `an integer from ${min} to ${max}` : options.min !== undefined ? `an integer of at least ${min}` : "an integer";
    return spec(expected, (v) => (typeof v === "number" && Number.isInteger(v) && v >= min && v <= max ? v : fail(expected, v)), options);
  },
  /** A non-negative number (seconds, for instance). */
  seconds(options: SpecOptions = {}): PropertySpec {
    const expected = "a number of seconds (0 or more)";
    return spec(expected, (v) => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : fail(expected, v)), options);
  },
  /** A file mode: a number (0o644) or an octal string ("0644", "644"). Normalized to a number. */
  mode(options: SpecOptions = {}): PropertySpec {
    const expected = 'a file mode such as 0o644 or "0644"';
    return spec(
      expected,
      (v) => {
        if (typeof v === "number" && Number.isInteger(v)) {
          // An octal mode typed as a decimal number (644, 4755): TypeScript has no 0644 literal.
          // Only values no real mode has are refused (512-777 would be sticky with odd bits;
          // 4 digits above 0o7777 are no mode at all); 420 (= 0o644) stays valid.
          const decimalLooksOctal = /^[0-7]{3,4}$/.test(String(v));
          if (decimalLooksOctal && ((v >= 512 && v <= 777) || v > 0o7777)) {
            throw new PropertyCheckError(`${v} is a decimal number, not the octal mode 0${v}; write "0${v}" or 0o${v}`);
          }
          if (v >= 0 && v <= 0o7777) return v;
        }
        if (typeof v === "string" && /^0?[0-7]{3,4}$/.test(v)) return parseInt(v, 8);
        return fail(expected, v);
      },
      options,
    );
  },
  /** A user or group: a name or a numeric id. */
  principal(kind: "user" | "group", options: SpecOptions = {}): PropertySpec {
    const expected = `a ${kind} name or numeric id`;
    return spec(
      expected,
      (v) => {
        if (typeof v === "number" && Number.isInteger(v) && v >= 0) return v;
        if (typeof v === "string" && /^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/.test(v)) return /^\d+$/.test(v) ? Number(v) : v;
        return fail(expected, v);
      },
      options,
    );
  },
  /** One of a fixed set of strings. */
  oneOf<T extends string>(values: readonly T[], options: SpecOptions = {}): PropertySpec {
    const expected = `one of ${values.map((v) => JSON.stringify(v)).join(", ")}`;
    return spec(expected, (v) => (typeof v === "string" && (values as readonly string[]).includes(v) ? v : fail(expected, v)), options);
  },
  /** An array of strings. */
  stringArray(options: SpecOptions & { nonEmpty?: boolean } = {}): PropertySpec {
    const expected = options.nonEmpty ? "a non-empty array of strings" : "an array of strings";
    return spec(
      expected,
      (v) => (Array.isArray(v) && v.every((x) => typeof x === "string") && (!options.nonEmpty || v.length > 0) ? [...v] : fail(expected, v)),
      options,
    );
  },
  /** An array of integers. */
  integerArray(options: SpecOptions = {}): PropertySpec {
    const expected = "an array of integers";
    return spec(expected, (v) => (Array.isArray(v) && v.every((x) => Number.isInteger(x)) ? [...v] : fail(expected, v)), options);
  },
  /** A command: a shell string or an argv array. */
  command(options: SpecOptions = {}): PropertySpec {
    const expected = "a shell command string or a non-empty argv array of strings";
    return spec(
      expected,
      (v) => {
        if (typeof v === "string" && v.trim() !== "") return v;
        if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "string")) return [...v];
        return fail(expected, v);
      },
      options,
    );
  },
  /** A map of string to string (environment variables). */
  stringRecord(options: SpecOptions = {}): PropertySpec {
    const expected = "an object whose values are strings";
    return spec(
      expected,
      (v) =>
        v !== null && typeof v === "object" && !Array.isArray(v) && Object.values(v).every((x) => typeof x === "string")
          ? { ...(v as Record<string, string>) }
          : fail(expected, v),
      options,
    );
  },
  /** A plain object (template variables). */
  object(options: SpecOptions = {}): PropertySpec {
    const expected = "an object";
    return spec(expected, (v) => (v !== null && typeof v === "object" && !Array.isArray(v) ? v : fail(expected, v)), options);
  },
  /** A function. */
  func(options: SpecOptions = {}): PropertySpec {
    return spec("a function", (v) => (typeof v === "function" ? v : fail("a function", v)), options);
  },
  /** A string or a Buffer (file content). */
  content(options: SpecOptions = {}): PropertySpec {
    const expected = "a string or a Buffer";
    return spec(expected, (v) => (typeof v === "string" || Buffer.isBuffer(v) ? v : fail(expected, v)), options);
  },
};
