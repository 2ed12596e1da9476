/**
 * Property specifications: the role of each property of a resource type and how its
 * value is checked and normalized. Roles follow the model every resource shares:
 * identity (the name), state (diffed), control (how to act, never diffed); any of them
 * may be sensitive (never printed).
 */

/** What a property is for. */
export type PropertyRole = "identity" | "state" | "control";

/**
 * Whether a recipe must give a property ("required"), may leave it out and still gets a
 * value ("defaulted"), or may leave it out and gets none ("optional"). Only the type system
 * reads it: it is how a resource's TypeScript types are derived from its property specs.
 */
export type Presence = "required" | "defaulted" | "optional";

/**
 * How one property is checked, normalized and reported. `Out` is the normalized value's
 * type, `In` what a recipe may write, `K` its presence: phantom parameters, so the
 * declaration function of a resource type is typed from its specs alone.
 */
export interface PropertySpec<Out = unknown, In = Out, K extends Presence = Presence> {
  readonly role: PropertyRole;
  readonly sensitive: boolean;
  readonly required: boolean;
  /** What the value must be, for messages ("a string", "a file mode such as 0644"). */
  readonly expected: string;
  /** The default value (a function is called once per declaration). */
  readonly defaultValue?: unknown;
  /** Returns the normalized value, or throws a PropertyCheckError describing the problem. */
  normalize(value: unknown): unknown;
  /** Type-level only (never set): the normalized value's type. */
  readonly __out?: Out;
  /** Type-level only (never set): what a recipe writes. */
  readonly __in?: In;
  /** Type-level only (never set): required, defaulted or optional. */
  readonly __presence?: K;
}

/** The presence of a spec built with these options (an identity always has a value: the resource's name). */
export type PresenceOf<O> = O extends { required: true } ? "required" : O extends { default: NonNullable<unknown> } | { role: "identity" } ? "defaulted" : "optional";

/** Specs by property name, as a resource type declares them. */
export type PropertySpecs = { readonly [name: string]: PropertySpec<any, any, Presence> };

type Simplify<T> = { [K in keyof T]: T[K] };
type KeysWhere<S, K extends Presence> = { [P in keyof S]: S[P] extends PropertySpec<any, any, infer Q> ? (K extends Q ? (Q extends K ? P : never) : never) : never }[keyof S];
type InOf<T> = T extends PropertySpec<any, infer I, any> ? I : never;
type OutOf<T> = T extends PropertySpec<infer O, any, any> ? O : never;

/**
 * What a recipe writes for a resource with these specs: required properties must be
 * given (`Skip` names properties that are not written, such as the identity, which is the
 * resource's name), the others may be left out.
 */
export type InputOf<S extends PropertySpecs, Skip extends PropertyKey = never> = Simplify<
  // Mapped over keyof S (filtered, not renamed), so each property keeps its spec's TSDoc for editors.
  { -readonly [P in keyof S as P extends Exclude<KeysWhere<S, "required">, Skip> ? P : never]: InOf<S[P]> } & {
    -readonly [P in keyof S as P extends Exclude<KeysWhere<S, "defaulted" | "optional">, Skip> ? P : never]?: InOf<S[P]>;
  }
>;

/** What a provider or a custom resource's action sees: required and defaulted properties always have a value. */
export type OutputOf<S extends PropertySpecs> = Simplify<
  { readonly [P in keyof S as P extends KeysWhere<S, "required" | "defaulted"> ? P : never]: OutOf<S[P]> } & { readonly [P in keyof S as P extends KeysWhere<S, "optional"> ? P : never]?: OutOf<S[P]> }
>;

/** Thrown by a property's normalize step: the message completes "expected ...". */
export class PropertyCheckError extends Error {}

/** A builder called without options. */
type NoOptions = Record<never, never>;

/** Options every property builder takes. */
export interface SpecOptions {
  role?: PropertyRole;
  sensitive?: boolean;
  required?: boolean;
  default?: unknown;
}

function spec<O extends SpecOptions>(expected: string, normalize: (value: unknown) => unknown, options: O): PropertySpec<any, any, PresenceOf<O>> {
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
  string<const O extends SpecOptions & { nonEmpty?: boolean } = NoOptions>(options: O = {} as O): PropertySpec<string, string, PresenceOf<O>> {
    const expected = options.nonEmpty ? "a non-empty string" : "a string";
    return spec(expected, (v) => (typeof v === "string" && (!options.nonEmpty || v !== "") ? v : fail(expected, v)), options);
  },
  /** An absolute path. */
  absolutePath<const O extends SpecOptions = NoOptions>(options: O = {} as O): PropertySpec<string, string, PresenceOf<O>> {
    const expected = "an absolute path";
    return spec(expected, (v) => (typeof v === "string" && v.startsWith("/") && !v.includes("\0") ? v : fail(expected, v)), options);
  },
  /** A string accepted by a test, optionally transformed (URLs, checksums). */
  matching<const O extends SpecOptions & { transform?: (value: string) => string } = NoOptions>(expected: string, accept: (value: string) => boolean, options: O = {} as O): PropertySpec<string, string, PresenceOf<O>> {
    return spec(expected, (v) => (typeof v === "string" && accept(v) ? (options.transform ? options.transform(v) : v) : fail(expected, v)), options);
  },
  /** A boolean. */
  boolean<const O extends SpecOptions = NoOptions>(options: O = {} as O): PropertySpec<boolean, boolean, PresenceOf<O>> {
    return spec("true or false", (v) => (typeof v === "boolean" ? v : fail("true or false", v)), options);
  },
  /** An integer within bounds. */
  integer<const O extends SpecOptions & { min?: number; max?: number } = NoOptions>(options: O = {} as O): PropertySpec<number, number, PresenceOf<O>> {
    const min = options.min ?? Number.MIN_SAFE_INTEGER;
    const max = options.max ?? Number.MAX_SAFE_INTEGER;
    const expected = options.min !== undefined && options.max !== undefined ? `an integer from ${min} to ${max}` : options.min !== undefined ? `an integer of at least ${min}` : "an integer";
    return spec(expected, (v) => (typeof v === "number" && Number.isInteger(v) && v >= min && v <= max ? v : fail(expected, v)), options);
  },
  /** A non-negative number (seconds, for instance). */
  seconds<const O extends SpecOptions = NoOptions>(options: O = {} as O): PropertySpec<number, number, PresenceOf<O>> {
    const expected = "a number of seconds (0 or more)";
    return spec(expected, (v) => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : fail(expected, v)), options);
  },
  /** A file mode: a number (0o644) or an octal string ("0644", "644"). Normalized to a number. */
  mode<const O extends SpecOptions = NoOptions>(options: O = {} as O): PropertySpec<number, number | string, PresenceOf<O>> {
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
  principal<const O extends SpecOptions = NoOptions>(kind: "user" | "group", options: O = {} as O): PropertySpec<string | number, string | number, PresenceOf<O>> {
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
  oneOf<const T extends string, const O extends SpecOptions = NoOptions>(values: readonly T[], options: O = {} as O): PropertySpec<T, T, PresenceOf<O>> {
    const expected = `one of ${values.map((v) => JSON.stringify(v)).join(", ")}`;
    return spec(expected, (v) => (typeof v === "string" && (values as readonly string[]).includes(v) ? v : fail(expected, v)), options);
  },
  /** An array of strings. */
  stringArray<const O extends SpecOptions & { nonEmpty?: boolean } = NoOptions>(options: O = {} as O): PropertySpec<string[], readonly string[], PresenceOf<O>> {
    const expected = options.nonEmpty ? "a non-empty array of strings" : "an array of strings";
    return spec(
      expected,
      (v) => (Array.isArray(v) && v.every((x) => typeof x === "string") && (!options.nonEmpty || v.length > 0) ? [...v] : fail(expected, v)),
      options,
    );
  },
  /** An array of integers. */
  integerArray<const O extends SpecOptions = NoOptions>(options: O = {} as O): PropertySpec<number[], readonly number[], PresenceOf<O>> {
    const expected = "an array of integers";
    return spec(expected, (v) => (Array.isArray(v) && v.every((x) => Number.isInteger(x)) ? [...v] : fail(expected, v)), options);
  },
  /** A command: a shell string or an argv array. */
  command<const O extends SpecOptions = NoOptions>(options: O = {} as O): PropertySpec<string | string[], string | readonly string[], PresenceOf<O>> {
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
  stringRecord<const O extends SpecOptions = NoOptions>(options: O = {} as O): PropertySpec<Record<string, string>, Readonly<Record<string, string>>, PresenceOf<O>> {
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
  object<T extends object = Record<string, unknown>, const O extends SpecOptions = NoOptions>(options: O = {} as O): PropertySpec<T, T, PresenceOf<O>> {
    const expected = "an object";
    return spec(expected, (v) => (v !== null && typeof v === "object" && !Array.isArray(v) ? v : fail(expected, v)), options);
  },
  /** A function. */
  func<F extends (...args: never[]) => unknown = (...args: never[]) => unknown, const O extends SpecOptions = NoOptions>(options: O = {} as O): PropertySpec<F, F, PresenceOf<O>> {
    return spec("a function", (v) => (typeof v === "function" ? v : fail("a function", v)), options);
  },
  /**
   * An optional value with its own check: `normalize` returns the normalized value or throws a
   * PropertyCheckError; `Out` and `In` type it for providers and recipes
   * (`prop.custom<string, string | number>("a string or a number", normalize)`).
   */
  custom<Out, In = Out>(expected: string, normalize: (value: unknown) => Out, options: { role?: "state" | "control"; sensitive?: boolean } = {}): PropertySpec<Out, In, "optional"> {
    return spec(expected, normalize, options) as PropertySpec<Out, In, "optional">;
  },
  /** A string or a non-empty array of strings, each passing `accept`; normalized to an array. */
  stringOrList<const O extends Pick<SpecOptions, "role" | "sensitive"> = NoOptions>(expected: string, accept: (value: string) => boolean, options: O = {} as O): PropertySpec<string[], string | readonly string[], PresenceOf<O>> {
    return spec(
      expected,
      (v) => {
        const list = typeof v === "string" ? [v] : Array.isArray(v) && v.length > 0 ? v : fail(expected, v);
        return list.every((item) => typeof item === "string" && accept(item)) ? [...list] : fail(expected, v);
      },
      options,
    );
  },
  /** A string or a Buffer (file content). */
  content<const O extends SpecOptions = NoOptions>(options: O = {} as O): PropertySpec<string | Buffer, string | Buffer, PresenceOf<O>> {
    const expected = "a string or a Buffer";
    return spec(expected, (v) => (typeof v === "string" || Buffer.isBuffer(v) ? v : fail(expected, v)), options);
  },
};
