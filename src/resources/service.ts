/**
 * `service`: a service's enablement at boot and its running state. With systemd as init (the
 * usual case) through systemctl; on machines without systemd, through the SysV init script
 * (`/etc/init.d/NAME`) and update-rc.d or chkconfig.
 */
import { SousError } from "../core/errors.js";
import { type InputOf, prop } from "../core/properties.js";
import { defineType } from "../core/resource.js";
import { type Host, run } from "../host/host.js";
import { applySystemdAction, planServiceAction, readSystemdUnit, SERVICE_ACTIONS, type ServiceState, systemdRuns } from "./systemd.js";

/** Which init system acts on the service. */
export type ServiceProvider = "auto" | "systemd" | "sysvinit";

const properties = {
  name: prop.string({ role: "identity", nonEmpty: true }),
  /** The service's name as the init system knows it (defaults to the resource name). */
  serviceName: prop.string({ role: "control", nonEmpty: true }),
  /** "auto" (default): systemd when it is the running init, else SysV init scripts. */
  provider: prop.oneOf(["auto", "systemd", "sysvinit"], { role: "control", default: "auto" }),
  /** SysV init only: how to tell whether the service runs (exit 0: running), for init scripts without a usable `status`. */
  statusCommand: prop.command({ role: "control" }),
};

/** What a recipe writes for `service` (derived from its property specs). */
export type ServiceInput = InputOf<typeof properties>;

/** Actions of `service`. */
export type ServiceResourceAction = (typeof serviceType.actions)[number];

interface ServiceCurrent extends ServiceState {
  init: "systemd" | "sysvinit";
  service: string;
}

const RUNLEVELS = ["2", "3", "4", "5"];
// Also a path component (/etc/init.d/NAME): no slashes, no leading dot.
const SERVICE_NAME = /^[A-Za-z0-9:_@][A-Za-z0-9:_.@\\-]*$/;

/** The SysV init script of a service, failing clearly when there is none. */
function initScript(service: string): string {
  return `/etc/init.d/${service}`;
}

async function readSysv(host: Host, service: string, statusCommand: string | readonly string[] | undefined): Promise<ServiceState> {
  const script = await host.tryStat(initScript(service));
  if (!script) return { enablement: "missing", enabledWord: "not-found", running: false, activeWord: "inactive", canReload: false };
  // Enabled means a start link in a multi-user runlevel (Debian's and Red Hat's layouts alike).
  const startLink = new RegExp(`^S\\d\\d${service.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
  let enabled = false;
  for (const level of RUNLEVELS) {
    for (const dir of [`/etc/rc${level}.d`, `/etc/rc.d/rc${level}.d`]) {
      if ((await host.tryStat(dir))?.type !== "directory") continue;
      if ((await host.readdir(dir)).some((entry) => startLink.test(entry))) enabled = true;
    }
  }
  // LSB: `status` exits 0 when the service runs, 3 when it does not.
  const status = await host.exec(statusCommand === undefined ? [initScript(service), "status"] : typeof statusCommand === "string" ? { shell: statusCommand } : statusCommand);
  const running = status.exitCode === 0;
  return { enablement: enabled ? "enabled" : "disabled", enabledWord: enabled ? "enabled" : "disabled", running, activeWord: running ? "active" : "inactive", canReload: true };
}

async function applySysv(host: Host, service: string, action: string): Promise<void> {
  if (action === "enable" || action === "disable") {
    if ((await host.exec(["sh", "-c", "command -v update-rc.d"])).exitCode === 0) {
      // `defaults` creates the links when there are none; `enable`/`disable` turns them on or off.
      if (action === "enable") await run(host, ["update-rc.d", service, "defaults"]);
      await run(host, ["update-rc.d", service, action]);
    } else if ((await host.exec(["sh", "-c", "command -v chkconfig"])).exitCode === 0) {
      await run(host, ["chkconfig", service, action === "enable" ? "on" : "off"]);
    } else throw new SousError("no-service-manager", `cannot ${action} ${service}: neither update-rc.d nor chkconfig exists on ${host.name}`);
    return;
  }
  if (action === "mask" || action === "unmask") throw new SousError("unsupported-action", `${action} needs systemd; ${host.name} runs SysV init`);
  await run(host, [initScript(service), action]);
}

/** The `service` resource type. */
export const serviceType = defineType({
  name: "service",
  description: "A service: enabled or disabled at boot, started or stopped, restarted or reloaded (systemd, or SysV init scripts).",
  actions: [...SERVICE_ACTIONS, "nothing"],
  defaultAction: "nothing",
  identity: "name",
  properties,
  validate(properties) {
    const service = properties.serviceName ?? properties.name;
    return SERVICE_NAME.test(service) ? [] : [[properties.serviceName !== undefined ? "serviceName" : "name", `expected a service name such as nginx or nginx.service, got ${JSON.stringify(service)}`]];
  },
  provider: {
    async read({ host }, properties): Promise<ServiceCurrent> {
      const service = properties.serviceName ?? properties.name;
      const init = properties.provider === "auto" ? ((await systemdRuns(host)) ? "systemd" : "sysvinit") : properties.provider;
      const state = init === "systemd" ? await readSystemdUnit(host, service) : await readSysv(host, service, properties.statusCommand);
      return { ...state, init, service };
    },
    plan(current, _properties, action) {
      return planServiceAction(current, action);
    },
    async apply({ host }, _plan, _properties, action, current) {
      if (current.init === "systemd") await applySystemdAction(host, current.service, action, current);
      else await applySysv(host, current.service, action);
    },
  },
});
