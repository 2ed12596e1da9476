/**
 * `apt_update`: refreshes apt's package lists, every run (`update`) or when the last
 * successful update is older than a freshness window (`periodic`). The time of the last
 * success is the stamp file Debian's periodic apt jobs use too.
 */
import { type InputOf, prop } from "../core/properties.js";
import { type CommonProperties, declaredAs, defineType, type ResourceRef } from "../core/resource.js";
import { run } from "../host/host.js";
import { APT_ENV, aptGet } from "./apt.js";
import { findLeftovers, leftoverChange, removeLeftovers } from "./leftovers.js";

/** Written after each successful update (the path Debian's APT::Periodic tooling uses). */
export const APT_UPDATE_STAMP = "/var/lib/apt/periodic/update-success-stamp";

const properties = {
  name: prop.string({ role: "identity", nonEmpty: true }),
  /** For `periodic`: seconds a successful update stays fresh (default 86400). */
  frequency: prop.seconds({ role: "control", default: 86400 }),
  /** Seconds before apt-get is killed (default 1800). */
  timeout: prop.seconds({ role: "control", default: 1800 }),
};

/** What a recipe writes for `apt_update` (derived from its property specs). */
export type AptUpdateInput = InputOf<typeof properties>;

const actions = ["periodic", "update", "nothing"] as const;

/** Actions of `apt_update`. */
export type AptUpdateAction = (typeof actions)[number];

interface AptUpdateCurrent {
  /** When the last successful update finished (ms since the epoch), if ever. */
  lastSuccessMs: number | undefined;
  /** The host's clock: the stamp was written by it, so compare with it. */
  nowMs: number;
  /** Temporary files that killed writes of the stamp left beside it (full paths). */
  leftovers?: string[];
}

/** The `apt_update` resource type. */
export const aptUpdateType = defineType({
  name: "apt_update",
  description: "Refreshes apt's package lists, always or when older than a freshness window.",
  actions,
  defaultAction: "periodic",
  // One refresh a run is the usual case: `aptUpdate()` needs no name.
  prepareDeclaration: (name, properties) => ({ name: name ?? "default", properties }),
  declaration: declaredAs<(name?: string, properties?: AptUpdateInput & CommonProperties<AptUpdateAction>) => ResourceRef>(),
  identity: "name",
  properties,
  provider: {
    async read({ host }, _properties, action): Promise<AptUpdateCurrent> {
      const [stamp, leftovers] = await Promise.all([host.tryStat(APT_UPDATE_STAMP), findLeftovers(host, APT_UPDATE_STAMP)]);
      const nowMs = action === "periodic" ? Number((await run(host, ["date", "+%s"])).stdout.trim()) * 1000 : 0;
      return { lastSuccessMs: stamp?.mtimeMs, nowMs, ...(leftovers.length > 0 ? { leftovers } : {}) };
    },
    plan(current, properties, action) {
      const last = current.lastSuccessMs === undefined ? undefined : new Date(current.lastSuccessMs).toISOString();
      if (action === "periodic" && current.lastSuccessMs !== undefined && current.nowMs - current.lastSuccessMs < properties.frequency * 1000) return { changes: leftoverChange(current) };
      return { changes: [{ property: "lastUpdate", from: last, to: "now" }, ...leftoverChange(current)] };
    },
    async apply({ host }, plan, properties, _action, current) {
      await removeLeftovers(host, plan, current);
      // Leftovers alone: the lists are fresh enough.
      if (!plan.changes.some((change) => change.property === "lastUpdate")) return;
      await run(host, aptGet("update", []), { env: { ...APT_ENV }, timeoutMs: properties.timeout * 1000 });
      await host.mkdir("/var/lib/apt/periodic", { recursive: true, mode: 0o755 });
      await host.writeFileAtomic(APT_UPDATE_STAMP, "", { mode: 0o644 });
    },
  },
});
