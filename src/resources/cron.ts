/**
 * `cron`: a named entry in a user's crontab, edited through the `crontab` command. A marker
 * line `# Sous: NAME` above each entry lets updates and deletion find their own line; every
 * other line of the crontab is left as it is.
 */
import { type InputOf, type OutputOf, prop, type PropertySpec } from "../core/properties.js";
import { defineType } from "../core/resource.js";
import { CommandFailedError, run, shellQuote } from "../host/host.js";
import { contentDiff, loadDiffLibrary } from "./metadata.js";

/** cron's @-schedules. */
export type CronSpecialTime = (typeof SPECIAL_TIMES)[number];

const FIELD = /^[0-9A-Za-z*,/-]+$/;
const SPECIAL_TIMES = ["reboot", "yearly", "annually", "monthly", "weekly", "daily", "midnight", "hourly"] as const;

/** A schedule field: a string, or a number (`minute: 5`), which is a field like any other; default `*`. */
function field(expected: string): PropertySpec<string, string | number, "defaulted"> {
  const spec = prop.matching(expected, (v) => FIELD.test(v), { default: "*" });
  return { ...spec, normalize: (value: unknown) => spec.normalize(typeof value === "number" && Number.isInteger(value) && value >= 0 ? String(value) : value) };
}

const properties = {
  name: prop.matching("a name without newlines", (v) => v.trim() !== "" && !/[\r\n]/.test(v), { role: "identity" }),
  /** Whose crontab (default root). */
  user: prop.matching("a user name", (v) => /^[a-z_][a-z0-9_.-]*\$?$/i.test(v), { role: "control", default: "root" }),
  minute: field("a cron minute field such as 5, */10 or 0,30"),
  hour: field("a cron hour field"),
  day: field("a cron day-of-month field"),
  month: field("a cron month field"),
  weekday: field("a cron weekday field"),
  /** `@daily` and friends, instead of the five fields. */
  time: prop.oneOf(SPECIAL_TIMES),
  /** The command, as cron's shell reads it. */
  command: prop.matching("a command on one line", (v) => v.trim() !== "" && !/[\r\n]/.test(v)),
  /** Variables for this entry only (written as a prefix of the command, quoted). */
  environment: prop.stringRecord(),
};

type CronProperties = OutputOf<typeof properties>;

/** What a recipe writes for `cron` (derived from its property specs). */
export type CronInput = InputOf<typeof properties>;

/** Actions of `cron`. */
export type CronAction = (typeof cronType.actions)[number];

interface CronCurrent {
  /** The crontab as `crontab -l` prints it ("" when the user has none). */
  crontab: string;
}

/** The marker line above an entry. */
export function markerLine(name: string): string {
  return `# Sous: ${name}`;
}

/** The crontab line a declaration stands for. */
export function entryLine(properties: Readonly<CronProperties>): string {
  const schedule = properties.time ? `@${properties.time}` : [properties.minute, properties.hour, properties.day, properties.month, properties.weekday].join(" ");
  // cron reads an unescaped % as a newline: values are quoted for the shell and their % escaped.
  const prefix = Object.entries(properties.environment ?? {})
    .map(([key, value]) => `${key}=${shellQuote(value).replace(/%/g, "\\%")} `)
    .join("");
  return `${schedule} ${prefix}${properties.command ?? ""}`;
}

/** The crontab with the named entry set to `entry`, or removed when `entry` is undefined. */
export function editCrontab(crontab: string, name: string, entry: string | undefined): string {
  const lines = crontab === "" ? [] : crontab.replace(/\n$/, "").split("\n");
  const marker = markerLine(name);
  const at = lines.indexOf(marker);
  if (at === -1) return entry === undefined ? crontab : `${lines.map((line) => `${line}\n`).join("")}${marker}\n${entry}\n`;
  // The entry is the line after the marker, unless that line is another marker or missing.
  const owned = lines[at + 1] !== undefined && !lines[at + 1]!.startsWith("# Sous: ") ? 2 : 1;
  lines.splice(at, owned, ...(entry === undefined ? [] : [marker, entry]));
  return lines.map((line) => `${line}\n`).join("");
}

/** The `cron` resource type. */
export const cronType = defineType({
  name: "cron",
  description: "A named entry in a user's crontab (minute, hour, day, month, weekday or @time; command; environment).",
  actions: ["create", "delete", "nothing"],
  defaultAction: "create",
  identity: "name",
  properties,
  // create needs the command (validate says so): a declaration without properties is a compile error.
  propertiesRequired: true,
  validate(properties, actions) {
    const problems: Array<[string, string]> = [];
    if (actions.includes("create") && properties.command === undefined) problems.push(["command", "create needs the command to run"]);
    for (const [key, value] of Object.entries(properties.environment ?? {})) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) problems.push(["environment", `${JSON.stringify(key)} is not a variable name`]);
      if (/[\r\n]/.test(value)) problems.push(["environment", `${key}: values are one line`]);
    }
    return problems;
  },
  provider: {
    async read({ host }, properties, action): Promise<CronCurrent> {
      const result = await host.exec(["crontab", "-l", "-u", properties.user], { env: { LC_ALL: "C" } });
      let crontab: string;
      if (result.exitCode === 0) crontab = result.stdout;
      else if (result.exitCode === 1 && /no crontab for/.test(result.stderr)) crontab = "";
      else throw new CommandFailedError(result, "reading the crontab:");
      if (action !== "nothing" && editCrontab(crontab, properties.name, action === "delete" ? undefined : entryLine(properties)) !== crontab) await loadDiffLibrary();
      return { crontab };
    },
    plan(current, properties, action) {
      const entry = action === "delete" ? undefined : entryLine(properties);
      const edited = editCrontab(current.crontab, properties.name, entry);
      if (edited === current.crontab) return { changes: [] };
      const before = current.crontab.split("\n");
      const at = before.indexOf(markerLine(properties.name));
      const existing = at === -1 ? undefined : before[at + 1];
      return {
        changes: [{ property: "entry", from: existing, to: entry }],
        diff: { property: "entry", text: contentDiff(`crontab of ${properties.user}`, Buffer.from(current.crontab), Buffer.from(edited)) },
      };
    },
    async apply({ host }, _plan, properties, action, current) {
      const edited = editCrontab(current.crontab, properties.name, action === "delete" ? undefined : entryLine(properties));
      await run(host, ["crontab", "-u", properties.user, "-"], { input: edited });
    },
  },
});
