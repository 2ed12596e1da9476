/**
 * Parsing recorded outputs of the facts script: a Debian VM running as a Docker guest (ip -j),
 * a slim Alpine container without iproute2 or IPv6, a CentOS 7 server with the text output of
 * old iproute2 and many mounts, and an Ubuntu ARM nspawn container without a default route.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { formatIpv6, ipv4Netmask, networkContains, parseAddress } from "../../src/facts/address.js";
import { humanDuration, parseFacts } from "../../src/facts/parse.js";
import type { Facts } from "../../src/facts/types.js";
import { detectVirtualization } from "../../src/facts/virtualization.js";

function fixture(name: string): Facts {
  return parseFacts(readFileSync(new URL(`./fixtures/${name}.txt`, import.meta.url), "utf8"));
}

test("a Debian VM: platform, kernel, names, primary addresses from the default route, cpu, memory, root file system", () => {
  const facts = fixture("debian-docker-on-kvm");
  assert.deepEqual([facts.platform, facts.platform_family, facts.platform_version], ["debian", "debian", "12"]);
  assert.deepEqual(facts.kernel, { name: "Linux", release: "6.18.44-fc-v669", version: "#1 SMP PREEMPT_DYNAMIC @0", machine: "x86_64", processor: "unknown", os: "GNU/Linux" });
  assert.deepEqual([facts.os, facts.os_version], ["linux", "6.18.44-fc-v669"]);
  assert.deepEqual([facts.hostname, facts.fqdn, facts.domain], ["web1", "web1.example.com", "example.com"]);
  // The source address of the route that reaches the gateway; the MAC upper-cased as ohai writes it.
  assert.equal(facts.ipaddress, "192.0.2.2");
  assert.equal(facts.macaddress, "02:FC:00:00:00:01");
  // The default IPv6 route has no source: the global address in the gateway's network.
  assert.equal(facts.ip6address, "fd00::2");
  assert.deepEqual(
    { ...facts.network, interfaces: undefined },
    { interfaces: undefined, default_interface: "eth0", default_gateway: "192.0.2.1", default_inet6_interface: "eth0", default_inet6_gateway: "fd00::1" },
  );
  const eth0 = facts.network.interfaces.eth0!;
  assert.deepEqual(eth0.addresses["192.0.2.2"], { family: "inet", prefixlen: "24", netmask: "255.255.255.0", broadcast: "192.0.2.255", scope: "Global" });
  assert.deepEqual(eth0.addresses["fd00::2"], { family: "inet6", prefixlen: "64", scope: "Global", tags: ["nodad"] });
  assert.deepEqual(facts.network.interfaces.lo!.addresses["127.0.0.1"]?.scope, "Node");
  assert.equal(facts.network.interfaces.lo!.addresses["00:00:00:00:00:00"], undefined, "no all-zero MAC");
  assert.deepEqual([eth0.state, eth0.mtu, eth0.type, eth0.number, eth0.encapsulation], ["up", "1400", "eth", "0", "Ethernet"]);
  assert.deepEqual(facts.network.interfaces.ifb0!.flags, ["BROADCAST", "NOARP"]);
  assert.deepEqual([facts.cpu.total, facts.cpu.real, facts.cpu.cores, facts.cpu.model_name], [2, 1, 2, "AMD EPYC"]);
  assert.equal(facts.memory.total, "24684084kB");
  assert.deepEqual(facts.memory.swap, { cached: "0kB", total: "0kB", free: "0kB" });
  const root = facts.filesystem.by_mountpoint["/"]!;
  assert.deepEqual([root.fs_type, root.kb_size, root.percent_used, root.devices], ["ext4", "264212084", "23%", ["/dev/vda"]]);
  assert.deepEqual(root.mount_options, ["rw", "relatime", "discard", "resv_strict", "resuid=65534", "resgid=65534"]);
  // /.dockerenv makes it a Docker guest; the KVM underneath stays listed.
  assert.deepEqual(facts.virtualization, { systems: { kvm: "guest", docker: "guest" }, system: "docker", role: "guest" });
  assert.deepEqual([facts.init_package, facts.package_manager, facts.current_user, facts.root_group], ["systemd", "apt", "root", "root"]);
  // lsb_release is installed: its answers, derived from os-release without running it.
  assert.deepEqual(facts.lsb, { id: "Debian", description: "Debian GNU/Linux 12 (bookworm)", release: "12", codename: "bookworm" });
});

test("a slim container without iproute2 or IPv6: interfaces from /sys, IPv4 from fib_trie, default route from /proc", () => {
  const facts = fixture("alpine-container-no-ip");
  assert.deepEqual([facts.platform, facts.platform_family, facts.platform_version, facts.package_manager], ["alpine", "alpine", "3.19.1", "apk"]);
  assert.equal(facts.ipaddress, "172.17.0.2");
  assert.equal(facts.macaddress, "02:42:AC:11:00:02");
  assert.equal(facts.ip6address, undefined);
  assert.equal(facts.network.default_interface, "eth0");
  assert.equal(facts.network.default_gateway, "172.17.0.1");
  assert.equal(facts.network.default_inet6_interface, undefined);
  assert.deepEqual(facts.network.interfaces.eth0!.addresses["172.17.0.2"], { family: "inet", prefixlen: "16", netmask: "255.255.0.0", scope: "Global" });
  assert.deepEqual(facts.network.interfaces.lo!.flags, ["LOOPBACK", "UP"]);
  assert.equal(facts.network.interfaces.lo!.encapsulation, "Loopback");
  assert.deepEqual(facts.virtualization, { systems: { amazonec2: "guest", docker: "guest" }, system: "docker", role: "guest" });
  assert.equal(facts.init_package, "sleep");
  assert.equal(facts.uptime, "1 day 01 hours 01 minutes 01 seconds");
  assert.deepEqual(facts.filesystem.by_device["/dev/nvme0n1p1"]?.mounts, ["/etc/resolv.conf", "/etc/hostname", "/etc/hosts"]);
  assert.equal(facts.filesystem.by_mountpoint["/"]?.fs_type, "overlay");
  assert.equal(facts.machine_id, undefined);
  assert.equal(facts.lsb, undefined, "neither lsb_release nor /etc/lsb-release");
});

test("a CentOS 7 server: ip's text output, an alias, a point-to-point link, two default routes, many mounts", () => {
  const facts = fixture("centos7-ip-text-many-mounts");
  // CentOS's os-release says "7"; ohai reads the point release from /etc/redhat-release.
  assert.deepEqual([facts.platform, facts.platform_family, facts.platform_version], ["centos", "rhel", "7.9.2009"]);
  assert.deepEqual([facts.hostname, facts.machinename, facts.domain], ["db1", "db1.prod.example.net", "prod.example.net"]);
  // The lower metric wins among default routes.
  assert.deepEqual([facts.network.default_interface, facts.network.default_gateway], ["eth0", "10.0.2.2"]);
  assert.equal(facts.ipaddress, "10.0.2.15");
  assert.equal(facts.macaddress, "52:54:00:12:34:56");
  assert.equal(facts.ip6address, undefined);
  assert.deepEqual(facts.network.interfaces["eth0:1"]?.addresses["10.0.2.100"]?.prefixlen, "24");
  assert.equal(facts.network.interfaces.eth0!.addresses["10.0.2.100"], undefined, "the alias address lives on eth0:1");
  assert.deepEqual(facts.network.interfaces.tun0!.addresses["10.8.0.1"], { family: "inet", prefixlen: "32", netmask: "255.255.255.255", peer: "10.8.0.2", scope: "Global" });
  assert.deepEqual(facts.network.interfaces.eth0!.routes?.[0], { destination: "default", family: "inet", via: "10.0.2.2", metric: "100", proto: "dhcp" });
  assert.equal(facts.network.interfaces.docker0!.state, "down");
  assert.deepEqual([facts.cpu.total, facts.cpu.real, facts.cpu.cores], [4, 2, 4]);
  assert.deepEqual(facts.memory.swap, { cached: "1024kB", total: "2097148kB", free: "2090000kB" });
  assert.deepEqual(facts.memory.hugepages, { total: "16", free: "16", reserved: "0", surplus: "0" });
  const fs = facts.filesystem;
  assert.equal(Object.keys(fs.by_mountpoint).length, 15);
  assert.deepEqual(fs.by_mountpoint["/srv/my files"]?.kb_size, "20511312", "a mount point with a space");
  assert.deepEqual(fs.by_mountpoint["/mnt/data"]?.fs_type, "nfs4");
  assert.deepEqual(fs.by_device["/dev/mapper/centos-root"]?.mounts, ["/", "/var/lib/docker/containers"]);
  assert.deepEqual(fs.by_device.tmpfs?.mounts, ["/dev/shm", "/run", "/run/user/1000"]);
  assert.equal(fs.by_mountpoint["/proc"]?.kb_size, undefined, "pseudo file systems have no size");
  assert.equal(fs.by_mountpoint["/data"]?.inodes_percent_used, "-");
  // QEMU in DMI: a KVM guest, and the docker command makes it a Docker host too.
  assert.deepEqual(facts.virtualization, { systems: { docker: "host", kvm: "guest" }, system: "kvm", role: "guest" });
  assert.deepEqual([facts.package_manager, facts.current_user], ["yum", "deploy"]);
});

test("an Ubuntu ARM nspawn container without a default route: best-scoped addresses, lscpu counts, lsb-release", () => {
  const facts = fixture("ubuntu-arm-nspawn-no-default-route");
  assert.deepEqual([facts.platform, facts.platform_family, facts.platform_version], ["ubuntu", "debian", "22.04"]);
  assert.equal(facts.network.default_interface, undefined);
  assert.equal(facts.network.default_gateway, undefined);
  // Global before link scope; no default interface to prefer.
  assert.equal(facts.ipaddress, "10.99.0.5");
  assert.equal(facts.ip6address, "fe80::d41e:aaff:fe02:3510");
  assert.equal(facts.macaddress, "D6:1E:AA:02:35:10");
  assert.deepEqual([facts.fqdn, facts.domain], [undefined, undefined]);
  assert.deepEqual([facts.cpu.total, facts.cpu.real, facts.cpu.cores, facts.cpu.model_name], [4, 1, 4, "Cortex-A72"]);
  assert.deepEqual(facts.lsb, { id: "Ubuntu", description: "Ubuntu 22.04.4 LTS", release: "22.04", codename: "jammy" });
  assert.deepEqual(facts.virtualization, { systems: { nspawn: "guest" }, system: "nspawn", role: "guest" });
  assert.equal(facts.uptime, "59 seconds");
  assert.equal(facts.kernel.machine, "aarch64");
});

test("an empty or truncated output gives empty facts, not an exception", () => {
  const facts = parseFacts("");
  assert.equal(facts.platform, "unknown");
  assert.equal(facts.cpu.total, 0);
  assert.deepEqual(facts.network.interfaces, {});
  assert.deepEqual(facts.virtualization, { systems: {} });
  assert.equal(facts.init_package, "init");
  assert.equal(parseFacts("@@sous:ip-json-addr\n[{\"ifname\":").network.interfaces.lo, undefined);
});

test("virtualization: each kind of evidence names its technology", () => {
  const detect = (lines: string[], cgroup: string[] = [], cpuFlags: string[] = []) => detectVirtualization({ lines, cgroup, cpuFlags });
  assert.deepEqual(detect([]), { systems: {} });
  assert.deepEqual(detect(["exists=/sys/devices/virtual/misc/kvm"]), { systems: { kvm: "host" }, system: "kvm", role: "host" });
  assert.deepEqual(detect(["exists=/sys/devices/virtual/misc/kvm"], [], ["hypervisor"]).role, "guest");
  assert.equal(detect(["pid1_container=lxc"]).system, "lxc");
  assert.equal(detect(["pid1_container=podman"]).system, "podman");
  assert.equal(detect([], ["4:memory:/lxc/web1"]).system, "lxc");
  assert.equal(detect([], ["1:name=systemd:/system.slice/docker-0123abcd.scope"]).system, "docker");
  assert.equal(detect(["dmi_sys_vendor=innotek GmbH", "dmi_product_name=VirtualBox"]).system, "vbox");
  assert.equal(detect(["dmi_sys_vendor=Microsoft Corporation", "dmi_product_name=Virtual Machine"]).system, "hyperv");
  assert.equal(detect(["dmi_sys_vendor=VMware, Inc."]).system, "vmware");
  assert.deepEqual(detect(["exists=/proc/xen", "xen_capabilities=control_d"]).systems, { xen: "host" });
  assert.equal(detect(["detect_virt_vm=microsoft"]).system, "hyperv");
  assert.equal(detect(["detect_virt_container=wsl"]).system, "wsl");
  assert.equal(detect(["exists=/run/.containerenv"]).system, "podman");
  assert.deepEqual(detect(["command=lxc-start"], ["1:name=systemd:/"]), { systems: { lxc: "host" }, system: "lxc", role: "host" });
  assert.deepEqual(detect(["command=lxc-start"], ["0::/"]), { systems: {} }, "cgroup v2 root alone is no evidence");
  assert.equal(detect(["exists=/dev/lxd/sock"]).system, "lxd");
});

test("durations are written as ohai writes them", () => {
  assert.equal(humanDuration(5), "05 seconds");
  assert.equal(humanDuration(65), "1 minutes 05 seconds");
  assert.equal(humanDuration(3600), "1 hours 00 minutes 00 seconds");
  assert.equal(humanDuration(86400 + 3661), "1 day 01 hours 01 minutes 01 seconds");
  assert.equal(humanDuration(3 * 86400), "3 days 00 hours 00 minutes 00 seconds");
});

test("address arithmetic: containment, netmasks, IPv6 forms", () => {
  assert.ok(networkContains("10.0.2.15", 24, "10.0.2.2"));
  assert.ok(!networkContains("10.0.2.15", 24, "10.0.3.2"));
  assert.ok(networkContains("0.0.0.0", 0, "8.8.8.8"));
  assert.ok(!networkContains("fd00::2", 64, "10.0.2.2"), "families never match");
  assert.ok(networkContains("fd00::2", 64, "fd00::1"));
  assert.equal(ipv4Netmask(28), "255.255.255.240");
  assert.equal(ipv4Netmask(0), "0.0.0.0");
  assert.equal(ipv4Netmask(32), "255.255.255.255");
  assert.equal(formatIpv6(BigInt("0xfe8000000000000000fc00fffe000001")), "fe80::fc:ff:fe00:1");
  assert.equal(formatIpv6(1n), "::1");
  assert.equal(formatIpv6(BigInt("0x20010db8000000010000000000000000")), "2001:db8:0:1::");
  assert.equal(parseAddress("::ffff:192.0.2.1")?.value, BigInt("0xffffc0000201"));
  assert.equal(parseAddress("1::2::3"), undefined);
  assert.equal(parseAddress("256.1.1.1"), undefined);
});

test("domain is null when the FQDN has no dot (as ohai reports it), absent when there is no FQDN", () => {
  const container = fixture("alpine-container-no-ip");
  assert.equal(container.fqdn, "3f2a9c1b7d4e");
  assert.ok(Object.hasOwn(container, "domain"), "the key is there, so domain:* matches and a recipe reads null");
  assert.equal(container.domain, null);
  assert.equal(fixture("debian-docker-on-kvm").domain, "example.com");
  const noFqdn = fixture("ubuntu-arm-nspawn-no-default-route");
  assert.equal(noFqdn.fqdn, undefined);
  assert.equal(Object.hasOwn(noFqdn, "domain"), false);
});

test("shells are the lines of /etc/shells that are paths; no /etc/shells, no shells", () => {
  const text = readFileSync(new URL("./fixtures/debian-docker-on-kvm.txt", import.meta.url), "utf8");
  const facts = parseFacts(`${text}\n@@sous:shells\n# /etc/shells: valid login shells\n/bin/sh\n  /usr/bin/bash  \n\nnot-a-path\n/usr/bin/tmux\n`);
  assert.deepEqual(facts.shells, ["/bin/sh", "/usr/bin/bash", "/usr/bin/tmux"]);
  assert.equal(parseFacts(text).shells, undefined);
});

test("a Docker container on a KVM guest whose PID 1 environment is unreadable is docker/guest: /.dockerenv says so, whatever PID 1 hides", () => {
  // This machine's evidence: Docker creates /.dockerenv in every container it starts; the cgroup
  // namespace shows "/" everywhere, so cgroups name no container; /proc/1/environ is denied even
  // to root (a sandboxed PID 1), so no container=... either; the CPU has the hypervisor flag.
  // ohai 16 reads /proc/1/environ unguarded: the read fails and its plugin stops before the
  // /.dockerenv check, leaving kvm/guest (and docker/host, from the docker command alone).
  // Sous skips an unreadable file and still sees /.dockerenv: docker/guest, kvm listed under it.
  const facts = detectVirtualization({
    lines: ["command=docker", "exists=/sys/devices/virtual/misc/kvm", "exists=/.dockerenv"],
    cgroup: ["9:name=systemd:/", "4:memory:/", "1:cpu:/", "0::/"],
    cpuFlags: ["fpu", "hypervisor"],
  });
  assert.deepEqual(facts, { systems: { docker: "guest", kvm: "guest" }, system: "docker", role: "guest" });
  // Without /.dockerenv the same machine would be what ohai says: a KVM guest with the docker command.
  assert.deepEqual(
    detectVirtualization({ lines: ["command=docker", "exists=/sys/devices/virtual/misc/kvm"], cgroup: ["0::/"], cpuFlags: ["hypervisor"] }),
    { systems: { docker: "host", kvm: "guest" }, system: "kvm", role: "guest" },
  );
});
