/**
 * What `service` and `systemd_unit` share: reading a unit's state from systemctl, planning the
 * service actions (enable, disable, start, stop, restart, reload, mask, unmask) against it, and
 * applying them. Pure planning lives here too, so both resources report the same rows.
 */
import type { Change, Plan } from "../core/resource.js";
import { type Host, run } from "../host/host.js";

/** Whether systemd is the running init: its own test (`sd_booted`), a directory it creates at boot. */
export async function systemdRuns(host: Host): Promise<boolean> {
  return (await host.tryStat("/run/systemd/system"))?.type === "directory";
}

/** The service actions every service-like resource offers, in documentation order. */
export const SERVICE_ACTIONS = ["enable", "disable", "start", "stop", "restart", "reload", "mask", "unmask"] as const;

/** One of SERVICE_ACTIONS. */
export type ServiceAction = (typeof SERVICE_ACTIONS)[number];

/**
 * How a unit's enablement reads: `enabled`/`disabled`, `masked`, `fixed` (static, indirect,
 * generated, transient: no [Install] section of its own for enable or disable to act on) or
 * `missing` (no such unit).
 */
export type Enablement = "enabled" | "disabled" | "masked" | "fixed" | "missing";

/** A service's state as the plan needs it, whichever init system reported it. */
export interface ServiceState {
  enablement: Enablement;
  /** The raw word the init system used (`static`, `enabled-runtime`, `active`, ...), for reports. */
  enabledWord: string;
  running: boolean;
  activeWord: string;
  /** Whether the service can reload its configuration without a restart. */
  canReload: boolean;
}

/** Classifies the word `systemctl is-enabled` prints. */
export function classifyEnablement(word: string): Enablement {
  switch (word) {
    case "enabled":
    case "enabled-runtime":
    case "alias":
      return "enabled";
    case "masked":
    case "masked-runtime":
      return "masked";
    case "static":
    case "indirect":
    case "generated":
    case "transient":
      return "fixed";
    case "disabled":
    case "linked":
    case "linked-runtime":
      return "disabled";
    default:
      return "missing";
  }
}

/** Parses `systemctl show -p ...` output (`Key=value` lines). */
export function parseShow(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) values[line.slice(0, at)] = line.slice(at + 1);
  }
  return values;
}

/** Reads a unit's state: `systemctl show` for activity and reload support, `is-enabled` for enablement. */
export async function readSystemdUnit(host: Host, unit: string): Promise<ServiceState> {
  const [show, isEnabled] = await Promise.all([
    run(host, ["systemctl", "show", "--property=LoadState,ActiveState,SubState,UnitFileState,CanReload", "--", unit]),
    // is-enabled exits non-zero for disabled, masked, missing...: its word is what matters.
    host.exec(["systemctl", "is-enabled", "--", unit]),
  ]);
  const values = parseShow(show.stdout);
  const word = isEnabled.stdout.trim().split("\n")[0] ?? "";
  const loaded = values.LoadState !== "not-found";
  const enabledWord = word || values.UnitFileState || (loaded ? "unknown" : "not-found");
  const enablement = !loaded && values.LoadState !== "masked" ? "missing" : classifyEnablement(enabledWord);
  const activeWord = values.ActiveState ?? "unknown";
  return {
    enablement,
    enabledWord: loaded ? enabledWord : "not-found",
    running: activeWord === "active" || activeWord === "reloading" || activeWord === "activating",
    activeWord,
    canReload: values.CanReload === "yes",
  };
}

/**
 * The change one service action needs, or none. restart always acts; reload acts when the
 * service runs (Chef's behaviour): both are what notifications ask for, and run only when asked.
 */
export function planServiceAction(state: ServiceState, action: string): Plan {
  const change = (property: string, from: unknown, to: unknown): Plan => ({ changes: [{ property, from, to } as Change] });
  switch (action) {
    case "enable":
      return state.enablement === "disabled" || state.enablement === "masked" || state.enablement === "missing" ? change("enabled", state.enabledWord, "enabled") : { changes: [] };
    case "disable":
      return state.enablement === "enabled" ? change("enabled", state.enabledWord, "disabled") : { changes: [] };
    case "mask":
      return state.enablement === "masked" ? { changes: [] } : change("enabled", state.enabledWord, "masked");
    case "unmask":
      return state.enablement === "masked" ? change("enabled", state.enabledWord, "unmasked") : { changes: [] };
    case "start":
      return state.running ? { changes: [] } : change("running", state.activeWord, "active");
    case "stop":
      return state.running ? change("running", state.activeWord, "inactive") : { changes: [] };
    case "restart":
      return change("running", state.activeWord, state.running ? "restarted" : "active");
    case "reload":
      return state.running ? change("running", state.activeWord, state.canReload ? "reloaded" : "restarted") : { changes: [] };
    default:
      return { changes: [] };
  }
}

/** Applies one service action with systemctl. A reload of a unit that cannot reload restarts it. */
export async function applySystemdAction(host: Host, unit: string, action: string, state: ServiceState): Promise<void> {
  const verb = action === "reload" && !state.canReload ? "restart" : action;
  await run(host, ["systemctl", verb, "--", unit]);
}

/** Reloads systemd's view of unit files. */
export async function daemonReload(host: Host): Promise<void> {
  await run(host, ["systemctl", "daemon-reload"]);
}
