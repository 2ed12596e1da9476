/**
 * The one shell script that reads every fact of a node. It runs in any POSIX shell (dash,
 * busybox ash) with nothing but the base system, because a push target may have no Node and
 * no Python; it reads /proc and /sys directly and prefers `ip -j` (JSON) when iproute2 is new
 * enough. Each part is introduced by a line `@@sous:NAME` and parsed in TypeScript (parse.ts),
 * so the target only prints and never decides.
 */

/** The marker that starts each section of the script's output. */
export const SECTION_MARKER = "@@sous:";

const PARTS = [
  // One locale for every tool, so df and uname print the same words everywhere.
  `export LC_ALL=C`,
  `m() { printf '\\n${SECTION_MARKER}%s\\n' "$1"; }`,
  // A stale network mount can hang df forever; timeout(1) is in coreutils and busybox.
  `if command -v timeout >/dev/null 2>&1; then t() { timeout 10 "$@"; }; else t() { "$@"; }; fi`,

  `m os-release; cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null`,
  `m debian-version; cat /etc/debian_version 2>/dev/null`,
  `m redhat-release; cat /etc/redhat-release 2>/dev/null`,
  `m lsb-release; cat /etc/lsb-release 2>/dev/null; [ -x /usr/bin/lsb_release ] && echo SOUS_LSB_RELEASE_COMMAND=1`,
  `m uname; echo "name=$(uname -s)"; echo "release=$(uname -r)"; echo "version=$(uname -v)"; echo "machine=$(uname -m)"; echo "processor=$(uname -p 2>/dev/null)"; echo "os=$(uname -o 2>/dev/null)"`,
  `m hostname; echo "machinename=$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname 2>/dev/null)"; echo "short=$(hostname -s 2>/dev/null)"; echo "fqdn=$(hostname -f 2>/dev/null)"`,
  `m ids; echo "user=$(id -un 2>/dev/null)"; echo "root_group=$(id -gn root 2>/dev/null)"`,
  `m machine-id; cat /etc/machine-id 2>/dev/null`,
  `m init; cat /proc/1/comm 2>/dev/null`,
  `m package-managers; for p in apt-get dnf yum zypper apk pacman emerge xbps-install pkg; do command -v "$p" >/dev/null 2>&1 && echo "$p"; done`,

  // Per-processor lines except flags, which are the same on every processor and long.
  `m cpuinfo; awk '/^(flags|Features)[ \\t]*:/ { if (!seen++) print; next } /^(processor|vendor_id|cpu family|model|model name|stepping|cpu MHz|cache size|physical id|core id|cpu cores)[ \\t]*:/ { print }' /proc/cpuinfo 2>/dev/null`,
  // Without "physical id" (many ARM kernels), lscpu knows the sockets and cores.
  `grep -q '^physical id' /proc/cpuinfo 2>/dev/null || { m lscpu; lscpu 2>/dev/null; }`,
  `m meminfo; cat /proc/meminfo 2>/dev/null`,
  `m uptime; cat /proc/uptime 2>/dev/null`,

  `m mounts; cat /proc/mounts 2>/dev/null`,
  `m df; t df -Pk 2>/dev/null`,
  `m df-inodes; t df -Pi 2>/dev/null`,

  `if ip -j addr show >/dev/null 2>&1; then` +
    ` m ip-json-addr; ip -j addr show; m ip-json-route4; ip -j -4 route show table main 2>/dev/null;` +
    ` m ip-json-route6; ip -j -6 route show table main 2>/dev/null;` +
    ` elif command -v ip >/dev/null 2>&1; then` +
    ` m ip-addr; ip addr show; m ip-route4; ip -4 route show 2>/dev/null; m ip-route6; ip -6 route show 2>/dev/null;` +
    ` else` +
    ` m sys-net; ( cd /sys/class/net 2>/dev/null && for n in *; do [ -e "$n" ] && echo "$n $(cat "$n/address" 2>/dev/null) $(cat "$n/mtu" 2>/dev/null) $(cat "$n/operstate" 2>/dev/null) $(cat "$n/flags" 2>/dev/null) $(cat "$n/type" 2>/dev/null)"; done );` +
    ` m proc-route; cat /proc/net/route 2>/dev/null; m proc-if-inet6; cat /proc/net/if_inet6 2>/dev/null; m proc-fib-trie; cat /proc/net/fib_trie 2>/dev/null;` +
    ` fi`,

  `m virt`,
  `for c in docker nova lxc-version lxc-start; do command -v "$c" >/dev/null 2>&1 && echo "command=$c"; done`,
  `for f in /proc/xen /sys/devices/virtual/misc/kvm /proc/bc/0 /proc/vz /var/lib/hyperv/.kvp_pool_3 /.dockerenv /.dockerinit /run/.containerenv /dev/lxd/sock /var/lib/lxd/devlxd /var/snap/lxd/common/lxd/devlxd; do [ -e "$f" ] && echo "exists=$f"; done`,
  `[ -r /proc/xen/capabilities ] && echo "xen_capabilities=$(cat /proc/xen/capabilities)"`,
  `grep -E '^(vboxdrv|vboxguest) ' /proc/modules 2>/dev/null | sed 's/ .*//; s/^/module=/'`,
  `grep -E '^(s_context|VxID):' /proc/self/status 2>/dev/null | sed 's/^[^:]*:[[:space:]]*/vxid=/'`,
  `for k in sys_vendor product_name product_version; do [ -r "/sys/class/dmi/id/$k" ] && echo "dmi_$k=$(cat "/sys/class/dmi/id/$k")"; done`,
  // Readable by root only; the container manager's own marker says the same to everyone.
  `tr '\\000' '\\n' 2>/dev/null < /proc/1/environ | sed -n 's/^container=/pid1_container=/p'`,
  `[ -r /run/systemd/container ] && echo "systemd_container=$(cat /run/systemd/container)"`,
  `if command -v systemd-detect-virt >/dev/null 2>&1; then echo "detect_virt_vm=$(systemd-detect-virt -v 2>/dev/null)"; echo "detect_virt_container=$(systemd-detect-virt -c 2>/dev/null)"; fi`,
  `m cgroup; cat /proc/self/cgroup 2>/dev/null`,
  `m end`,
];

/** The facts script, newline-separated so one failing line never stops the rest. */
export const FACTS_SCRIPT = PARTS.join("\n");
