/**
 * `systemd_unit`: a unit file written from content (text, or sections as an object), systemd
 * told to reload its units when the file changed, then the service actions as asked
 * (`action: ["create", "enable", "start"]`); delete stops and disables nothing by itself.
 */
import { describeValue, type InputOf, type OutputOf, prop, PropertyCheckError } from "../core/properties.js";
import { defineType } from "../core/resource.js";
import { applyCreate, applyDelete, type ManagedFileCurrent, type ManagedFileProperties, planCreate, planDelete, readManagedFile } from "./managed-file.js";
import { backupProperty } from "./metadata.js";
import { applySystemdAction, daemonReload, planServiceAction, readSystemdUnit, SERVICE_ACTIONS, type ServiceState } from "./systemd.js";

/** Actions of `systemd_unit`. */
export type SystemdUnitAction = (typeof systemdUnitType.actions)[number];

/** A unit's sections: `{ Service: { ExecStart: "...", Environment: ["A=1", "B=2"] } }`. */
export type UnitSections = Record<string, Record<string, string | number | boolean | ReadonlyArray<string | number>>>;

type SystemdUnitCurrent = { file: ManagedFileCurrent; path: string } | { unit: ServiceState };

const UNIT_NAME = /^[A-Za-z0-9:_@][A-Za-z0-9:_.@\\-]*\.(service|socket|timer|target|path|mount|automount|swap|slice|device)$/;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/** Whether a value has the shape of UnitSections: sections of scalar or list values. */
function isSections(value: unknown): value is UnitSections {
  const scalar = (v: unknown) => typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v));
  return isPlainObject(value) && Object.values(value).every((section) => isPlainObject(section) && Object.values(section).every((v) => scalar(v) || (Array.isArray(v) && v.every((x) => typeof x === "string" || typeof x === "number"))));
}

/** Renders sections as a unit file (pure; exported for tests). */
export function renderUnit(content: string | UnitSections): string {
  if (typeof content === "string") return content.endsWith("\n") || content === "" ? content : `${content}\n`;
  const blocks = Object.entries(content).map(([section, entries]) => {
    const lines = [`[${section}]`];
    for (const [key, value] of Object.entries(entries)) {
      for (const one of Array.isArray(value) ? value : [value]) lines.push(`${key}=${typeof one === "boolean" ? (one ? "yes" : "no") : String(one)}`);
    }
    return lines.join("\n");
  });
  return `${blocks.join("\n\n")}\n`;
}

function fileProperties(properties: Readonly<SystemdUnitProperties>): ManagedFileProperties {
  return { path: `${properties.unitDirectory}/${properties.name}`, backup: properties.backup, mode: 0o644 };
}

const properties = {
  name: prop.matching("a unit name such as app.service or backup.timer", (v) => UNIT_NAME.test(v), { role: "identity" }),
  /** The unit file's text, or its sections as an object (a list repeats the key). */
  content: prop.custom<string | UnitSections>("a string or an object of sections", (value) => {
    if (typeof value === "string" || isSections(value)) return value;
    throw new PropertyCheckError(`expected a string or an object of sections ({ Service: { ExecStart: "..." } }), got ${describeValue(value)}`);
  }),
  /** Where unit files go (default /etc/systemd/system). */
  unitDirectory: prop.absolutePath({ role: "control", default: "/etc/systemd/system" }),
  /** Run `systemctl daemon-reload` after the file changed (default true). */
  triggersReload: prop.boolean({ role: "control", default: true }),
  /** How many previous versions to keep under the backup folder (default 5). */
  backup: backupProperty,
};

type SystemdUnitProperties = OutputOf<typeof properties>;

/** What a recipe writes for `systemd_unit` (derived from its property specs). */
export type SystemdUnitInput = InputOf<typeof properties>;

/** The `systemd_unit` resource type. */
export const systemdUnitType = defineType({
  name: "systemd_unit",
  description: "A systemd unit file (text or sections), daemon-reload when it changed, then enable/start/... as asked.",
  actions: ["create", "delete", ...SERVICE_ACTIONS, "nothing"],
  defaultAction: "create",
  identity: "name",
  properties,
  validate(properties, actions) {
    return actions.includes("create") && properties.content === undefined ? [["content", "is required to create a unit (a string or an object of sections)"]] : [];
  },
  provider: {
    async read(context, properties, action): Promise<SystemdUnitCurrent> {
      if (action === "create" || action === "delete") {
        const file = fileProperties(properties);
        const desired = action === "create" && properties.content !== undefined ? Buffer.from(renderUnit(properties.content), "utf8") : undefined;
        return { file: await readManagedFile(context, file, desired), path: file.path };
      }
      return { unit: await readSystemdUnit(context.host, properties.name) };
    },
    plan(current, properties, action) {
      if ("unit" in current) return planServiceAction(current.unit, action);
      return action === "delete" ? planDelete(current.file) : planCreate(current.file, fileProperties(properties));
    },
    async apply(context, plan, properties, action, current) {
      if ("unit" in current) return applySystemdAction(context.host, properties.name, action, current.unit);
      const file = fileProperties(properties);
      if (action === "delete") await applyDelete(context, file, current.file);
      else await applyCreate(context, plan, file, current.file);
      if (properties.triggersReload) await daemonReload(context.host);
    },
  },
});
