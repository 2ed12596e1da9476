// Numbers in search values: plain numbers and numbers with a unit (`"8167980kB"`, as ohai and
// Sous's facts write sizes; `"491520 KB"`; `"2.4GHz"`). A range whose bounds are numbers compares
// such a value by its number; a range whose bounds carry a unit converts between the units of
// one family (`[8GB TO *]` matches `"8167980kB"`). Units are SI where SI names them (kB = 1000
// bytes, GB = 10^9) and binary where IEC does (KiB = 1024, GiB = 2^30): a machine sold as 8 GB
// reports a MemTotal near 8,000,000 kB, which `[8GB TO *]` then includes.

/** A value or bound read as a number, with its unit as written ("" for a plain number). */
export interface NumberWithUnit {
  value: number;
  unit: string;
}

/** Units that convert into one another, each with its size in the family's base unit. */
export const UNIT_FAMILIES: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  bytes: {
    B: 1,
    kB: 1e3,
    KB: 1e3,
    MB: 1e6,
    GB: 1e9,
    TB: 1e12,
    PB: 1e15,
    KiB: 2 ** 10,
    MiB: 2 ** 20,
    GiB: 2 ** 30,
    TiB: 2 ** 40,
    PiB: 2 ** 50,
  },
  hertz: { Hz: 1, kHz: 1e3, MHz: 1e6, GHz: 1e9 },
};

const PLAIN = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;
// A unit is a few letters (or %), after the number or one space; no exponent before a unit.
const WITH_UNIT = /^(-?(?:\d+\.?\d*|\.\d+)) ?([A-Za-z]{1,5}|%)$/;

/** The number a value denotes, plain (`"4"`, `"-1.5e3"`) or with a unit (`"8167980kB"`), or null. */
export function numberWithUnit(text: string): NumberWithUnit | null {
  if (PLAIN.test(text)) {
    const value = Number(text);
    return Number.isFinite(value) ? { value, unit: "" } : null;
  }
  const match = WITH_UNIT.exec(text);
  if (!match) return null;
  const value = Number(match[1]);
  return Number.isFinite(value) ? { value, unit: match[2]! } : null;
}

/** The family a unit belongs to, or undefined for a unit that converts into no other. */
export function unitFamily(unit: string): string | undefined {
  return Object.keys(UNIT_FAMILIES).find((family) => Object.hasOwn(UNIT_FAMILIES[family]!, unit));
}

/** The units a value may carry to be compared with a bound in `unit`: its family's, or the unit alone. */
export function comparableUnits(unit: string): string[] {
  const family = unitFamily(unit);
  return family ? Object.keys(UNIT_FAMILIES[family]!) : [unit];
}

/** A bound expressed in another unit of its family (or the same unit): the number a value in `unit` is compared with. */
export function inUnit(bound: NumberWithUnit, unit: string): number {
  if (bound.unit === unit) return bound.value;
  const sizes = UNIT_FAMILIES[unitFamily(bound.unit) ?? ""];
  if (!sizes || !Object.hasOwn(sizes, unit)) throw new Error(`cannot express ${bound.unit} in ${unit}`);
  return (bound.value * sizes[bound.unit]!) / sizes[unit]!;
}

/** Why two range bounds cannot be compared as numbers with units, or undefined when they can. */
export function unitMismatch(min: NumberWithUnit | null, max: NumberWithUnit | null): string | undefined {
  if (!min || !max || min.unit === max.unit) return undefined;
  if (min.unit === "" || max.unit === "") return "give both bounds a unit, or neither";
  const family = unitFamily(min.unit);
  if (!family || family !== unitFamily(max.unit)) return `${min.unit} and ${max.unit} do not convert into one another`;
  return undefined;
}
