/**
 * Virtual machine and container detection from the evidence the facts script collects
 * (files that exist, commands that exist, DMI strings, cgroups, PID 1's environment,
 * systemd-detect-virt). Findings are applied from the weakest to the most specific, the last
 * one naming `system` and `role`, in the order ohai applies the same evidence; so a Docker
 * container on a KVM guest reports docker/guest with kvm still listed in `systems`.
 */
import type { VirtualizationFacts } from "./types.js";

/** What the facts script saw (its `virt` and `cgroup` sections, plus cpuinfo details). */
export interface VirtualizationEvidence {
  /** key=value lines of the `virt` section. */
  lines: readonly string[];
  /** /proc/self/cgroup. */
  cgroup: readonly string[];
  /** First processor's model name. */
  cpuModel?: string;
  /** First processor's flags. */
  cpuFlags?: readonly string[];
}

// systemd-detect-virt's names → the names ohai uses for the same technology.
const SYSTEMD_NAMES: Record<string, string> = { qemu: "kvm", microsoft: "hyperv", oracle: "vbox", amazon: "amazonec2", "systemd-nspawn": "nspawn", "lxc-libvirt": "lxc" };

function guestFromDmi(manufacturer: string, product: string): string | undefined {
  const byManufacturer: Array<[RegExp, string]> = [[/OpenStack/, "openstack"], [/Xen/, "xen"], [/VMware/, "vmware"], [/Amazon EC2/, "amazonec2"], [/QEMU/, "kvm"], [/Veertu/, "veertu"], [/Parallels/, "parallels"]];
  for (const [pattern, name] of byManufacturer) if (pattern.test(manufacturer)) return name;
  if (/Microsoft/.test(manufacturer) && /Virtual Machine/.test(product)) return "hyperv";
  const byProduct: Array<[RegExp, string]> = [[/VirtualBox/, "vbox"], [/OpenStack/, "openstack"], [/KVM|RHEV/, "kvm"], [/BHYVE/, "bhyve"]];
  for (const [pattern, name] of byProduct) if (pattern.test(product)) return name;
  return undefined;
}

/** Decides system, role and every finding from the evidence. */
export function detectVirtualization(evidence: VirtualizationEvidence): VirtualizationFacts {
  const values = new Map<string, string[]>();
  for (const line of evidence.lines) {
    const i = line.indexOf("=");
    if (i > 0) values.set(line.slice(0, i), [...(values.get(line.slice(0, i)) ?? []), line.slice(i + 1)]);
  }
  const one = (key: string): string => values.get(key)?.[0]?.trim() ?? "";
  const has = (key: string, value: string): boolean => (values.get(key) ?? []).includes(value);
  const exists = (path: string): boolean => has("exists", path);
  const command = (name: string): boolean => has("command", name);

  const facts: VirtualizationFacts = { systems: {} };
  const found = (system: string, role: "guest" | "host", overrideSystem = true): void => {
    if (overrideSystem) [facts.system, facts.role] = [system, role];
    facts.systems[system] = role;
  };
  const fromSystemd = (name: string): string => SYSTEMD_NAMES[name] ?? name;

  const vm = one("detect_virt_vm");
  if (vm && vm !== "none") found(fromSystemd(vm), "guest");
  if (command("docker")) found("docker", "host");
  if (exists("/proc/xen")) found("xen", /control_d/i.test(one("xen_capabilities")) ? "host" : "guest");
  if (has("module", "vboxdrv")) found("vbox", "host");
  else if (has("module", "vboxguest")) found("vbox", "guest");
  if (command("nova")) found("openstack", "host");
  if (evidence.cpuModel && /QEMU Virtual CPU|Common KVM processor|Common 32-bit KVM processor/.test(evidence.cpuModel)) found("kvm", "guest");
  if (exists("/sys/devices/virtual/misc/kvm")) found("kvm", evidence.cpuFlags?.includes("hypervisor") ? "guest" : "host");
  const dmiGuest = guestFromDmi(one("dmi_sys_vendor"), one("dmi_product_name"));
  if (dmiGuest) found(dmiGuest, "guest");
  if (exists("/proc/bc/0")) found("openvz", "host");
  else if (exists("/proc/vz")) found("openvz", "guest");
  if (exists("/var/lib/hyperv/.kvp_pool_3")) found("hyperv", "guest");
  const vxid = one("vxid");
  if (vxid) found("linux-vserver", vxid === "0" ? "host" : "guest");

  const cgroup = evidence.cgroup.join("\n");
  const container = /^\d+:[^:]*:\/(lxc|docker)\/.+$/m.exec(cgroup) ?? /^\d+:[^:]*:\/[^/]+\/(lxc|docker)-?.+$/m.exec(cgroup);
  const pid1Container = one("pid1_container") || one("systemd_container");
  if (container) found(container[1]!, "guest");
  else if (pid1Container) found(fromSystemd(pid1Container), "guest");
  else if ((command("lxc-version") || command("lxc-start")) && /^\d+:[^:]+:\/$/m.test(cgroup)) found("lxc", "host", !facts.system);
  const detectedContainer = one("detect_virt_container");
  if (detectedContainer && detectedContainer !== "none" && !container) found(fromSystemd(detectedContainer), "guest");
  if (exists("/.dockerenv") || exists("/.dockerinit")) found("docker", "guest");
  if (exists("/run/.containerenv")) found("podman", "guest");
  if (exists("/dev/lxd/sock")) found("lxd", "guest");
  else if (exists("/var/lib/lxd/devlxd") || exists("/var/snap/lxd/common/lxd/devlxd")) found("lxd", "host");
  return facts;
}
