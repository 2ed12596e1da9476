/** A property spec that resource types lack in core: one string or a list of them, normalized to a list. */
import { describeValue, PropertyCheckError, type PropertySpec } from "../core/properties.js";

/** A string or a non-empty array of strings, each passing `accept`; normalized to an array. */
export function stringOrList(expected: string, accept: (value: string) => boolean, role: PropertySpec["role"] = "state"): PropertySpec {
  const fail = (value: unknown): never => {
    throw new PropertyCheckError(`expected ${expected}, got ${describeValue(value)}`);
  };
  return {
    role,
    sensitive: false,
    required: false,
    expected,
    normalize(value) {
      const list = typeof value === "string" ? [value] : Array.isArray(value) && value.length > 0 ? value : fail(value);
      return list.every((item) => typeof item === "string" && accept(item)) ? [...list] : fail(value);
    },
  };
}
