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
  // Files are read with the shell's own read: a process per file is most of a script's cost.
  `r() { while IFS= read -r l || [ -n "$l" ]; do printf '%s\\n' "$l"; done < "$1"; } 2>/dev/null`,
  // A stale network mount can hang df, and a dead resolver hostname -f; timeout(1) is in coreutils and busybox.
  `if command -v timeout >/dev/null 2>&1; then t() { timeout 10 "$@"; }; else t() { "$@"; }; fi`,

  `m os-release; r /etc/os-release || r /usr/lib/os-release`,
  `m debian-version; r /etc/debian_version`,
  `m redhat-release; r /etc/redhat-release`,
  `m lsb-release; r /etc/lsb-release; [ -x /usr/bin/lsb_release ] && echo SOUS_LSB_RELEASE_COMMAND=1`,
  // -s -r -m -p -o print words without spaces; -v (build date) has spaces, so it has its own line.
  `m uname; set -- $(uname -s -r -m -p -o 2>/dev/null || uname -s -r -m); echo "name=$1"; echo "release=$2"; echo "machine=$3"; echo "processor=$4"; echo "os=$5"; echo "version=$(uname -v)"`,
  `m hostname; n=; read -r n 2>/dev/null < /proc/sys/kernel/hostname || n=$(hostname 2>/dev/null); echo "machinename=$n"; echo "short=\${n%%.*}"; echo "fqdn=$(t hostname -f 2>/dev/null)"`,
  `m ids; echo "user=$(id -un 2>/dev/null)"; echo "root_group=$(id -gn root 2>/dev/null)"`,
  `m machine-id; r /etc/machine-id`,
  `[ -r /etc/shells ] && { m shells; r /etc/shells; }`,
  `m init; r /proc/1/comm`,
  `m package-managers; for p in apt-get dnf yum zypper apk pacman emerge xbps-install pkg; do command -v "$p" >/dev/null 2>&1 && echo "$p"; done`,

  // Per-processor lines except flags, which are the same on every processor and long.
  // Without "physical id" (many ARM kernels), lscpu knows the sockets and cores.
  `m cpuinfo; c=$(awk '/^(flags|Features)[ \\t]*:/ { if (!seen++) print; next } /^(processor|vendor_id|cpu family|model|model name|stepping|cpu MHz|cache size|physical id|core id|cpu cores)[ \\t]*:/ { print }' /proc/cpuinfo 2>/dev/null); printf '%s\\n' "$c"; case $c in *"physical id"*) ;; *) m lscpu; lscpu 2>/dev/null;; esac`,
  `m meminfo; r /proc/meminfo`,
  `m uptime; r /proc/uptime`,

  `m mounts; r /proc/mounts`,
  `m df; t df -Pk 2>/dev/null`,
  `m df-inodes; t df -Pi 2>/dev/null`,

  `if a=$(ip -j addr show 2>/dev/null) && [ -n "$a" ]; then` +
    ` m ip-json-addr; printf '%s\\n' "$a"; m ip-json-route4; ip -j -4 route show table main 2>/dev/null;` +
    ` m ip-json-route6; ip -j -6 route show table main 2>/dev/null;` +
    ` elif command -v ip >/dev/null 2>&1; then` +
    ` m ip-addr; ip addr show; m ip-route4; ip -4 route show 2>/dev/null; m ip-route6; ip -6 route show 2>/dev/null;` +
    ` else` +
    ` m sys-net; ( cd /sys/class/net 2>/dev/null && for n in *; do [ -e "$n" ] || continue; set --; for f in address mtu operstate flags type; do v=; read -r v 2>/dev/null < "$n/$f"; set -- "$@" "\${v:--}"; done; echo "$n $*"; done );` +
    ` m proc-route; r /proc/net/route; m proc-if-inet6; r /proc/net/if_inet6; m proc-fib-trie; r /proc/net/fib_trie;` +
    ` fi`,

  `m virt`,
  `for c in docker nova lxc-version lxc-start; do command -v "$c" >/dev/null 2>&1 && echo "command=$c"; done`,
  `for f in /proc/xen /sys/devices/virtual/misc/kvm /proc/bc/0 /proc/vz /var/lib/hyperv/.kvp_pool_3 /.dockerenv /.dockerinit /run/.containerenv /dev/lxd/sock /var/lib/lxd/devlxd /var/snap/lxd/common/lxd/devlxd; do [ -e "$f" ] && echo "exists=$f"; done`,
  `[ -r /proc/xen/capabilities ] && echo "xen_capabilities=$(r /proc/xen/capabilities)"`,
  `while read -r k _; do case $k in vboxdrv|vboxguest) echo "module=$k";; esac; done 2>/dev/null < /proc/modules`,
  `while IFS=: read -r k v; do case $k in s_context|VxID) set -- $v; echo "vxid=$1";; esac; done 2>/dev/null < /proc/self/status`,
  `for k in sys_vendor product_name product_version; do v=; read -r v 2>/dev/null < "/sys/class/dmi/id/$k" && echo "dmi_$k=$v"; done`,
  // Readable by root only; the container manager's own marker says the same to everyone.
  `[ -r /proc/1/environ ] && tr '\\000' '\\n' 2>/dev/null < /proc/1/environ | sed -n 's/^container=/pid1_container=/p'`,
  `v=; read -r v 2>/dev/null < /run/systemd/container && echo "systemd_container=$v"`,
  `if command -v systemd-detect-virt >/dev/null 2>&1; then echo "detect_virt_vm=$(systemd-detect-virt -v 2>/dev/null)"; echo "detect_virt_container=$(systemd-detect-virt -c 2>/dev/null)"; fi`,
  `m cgroup; r /proc/self/cgroup`,
  `m end`,
];

/** The facts script, newline-separated so one failing line never stops the rest. */
export const FACTS_SCRIPT = PARTS.join("\n");
