/**
 * The shape of a node's facts (its `automatic` attributes). Names and value formats follow
 * Chef's ohai wherever ohai reports the same thing (snake_case keys, memory as "16384000kB",
 * prefix lengths and sizes as decimal strings, address scopes "Global"/"Link"/"Node"), so
 * recipes and searches written against ohai's attributes read the same values here.
 */

/** The kernel, as `uname` reports it. */
export interface KernelFacts {
  /** `uname -s`, e.g. "Linux". */
  name: string;
  /** `uname -r`, e.g. "6.1.0-18-amd64". */
  release: string;
  /** `uname -v`: build number and date. */
  version: string;
  /** `uname -m`, e.g. "x86_64". */
  machine: string;
  /** `uname -p`, often "unknown". */
  processor: string;
  /** `uname -o`, e.g. "GNU/Linux". */
  os: string;
}

/** One address of an interface, keyed by the address itself in `NetworkInterface.addresses`. */
export interface InterfaceAddress {
  /** "inet", "inet6" or "lladdr" (a MAC address, upper case as ohai writes it). */
  family: "inet" | "inet6" | "lladdr";
  /** Prefix length as a decimal string ("24"), as ohai reports it. */
  prefixlen?: string;
  /** IPv4 only: the dotted netmask ("255.255.255.0"). */
  netmask?: string;
  broadcast?: string;
  /** Point-to-point peer address. */
  peer?: string;
  /** "Global", "Link", "Site" or "Node" (the kernel's "host" scope, which ohai calls Node). */
  scope?: string;
  /** IPv6 only: address flags such as "dynamic", "nodad", "temporary". */
  tags?: string[];
}

/** One route of the main table, attached to its interface. */
export interface RouteFacts {
  /** "default" or a prefix ("192.0.2.0/24"). */
  destination: string;
  family: "inet" | "inet6";
  via?: string;
  scope?: string;
  metric?: string;
  proto?: string;
  src?: string;
}

/** One network interface. */
export interface NetworkInterface {
  /** Name prefix before the first digit ("eth" of "eth0"), when the name has a number. */
  type?: string;
  number?: string;
  mtu?: string;
  /** Kernel flags as `ip` prints them: UP, BROADCAST, LOOPBACK, LOWER_UP, NOARP... */
  flags: string[];
  /** "Ethernet", "Loopback", or the link type `ip` reports. */
  encapsulation?: string;
  /** Operational state in lower case: "up", "down", "unknown". */
  state?: string;
  addresses: Record<string, InterfaceAddress>;
  routes?: RouteFacts[];
}

/** Interfaces, addresses and the default routes. */
export interface NetworkFacts {
  interfaces: Record<string, NetworkInterface>;
  /** Interface of the IPv4 default route with the lowest metric. */
  default_interface?: string;
  /** Gateway of that route ("0.0.0.0" when the route has no gateway). */
  default_gateway?: string;
  default_inet6_interface?: string;
  /** IPv6 gateway ("::" when the route has no gateway). */
  default_inet6_gateway?: string;
}

/** Processors, from /proc/cpuinfo (first processor's description). */
export interface CpuFacts {
  /** Logical processors. */
  total: number;
  /** Physical packages (sockets), where the kernel reports them. */
  real?: number;
  /** Physical cores over all packages, where known. */
  cores?: number;
  model_name?: string;
  vendor_id?: string;
  family?: string;
  model?: string;
  stepping?: string;
  mhz?: string;
  cache_size?: string;
  flags?: string[];
}

/** Memory as /proc/meminfo reports it, each value a string such as "16384000kB". */
export interface MemoryFacts {
  total?: string;
  free?: string;
  available?: string;
  buffers?: string;
  cached?: string;
  swap: { total?: string; free?: string; cached?: string };
  /** Huge page counts (plain numbers as strings, no unit). */
  hugepages?: { total?: string; free?: string; reserved?: string; surplus?: string };
  /** DirectMap4k, DirectMap2M... keyed "4k", "2M". */
  directmap?: Record<string, string>;
  /** Every other /proc/meminfo line under ohai's name for it (active, dirty, slab...). */
  [field: string]: string | Record<string, string | undefined> | undefined;
}

/** Size, usage and mount details of one file system. */
export interface FilesystemEntry {
  kb_size?: string;
  kb_used?: string;
  kb_available?: string;
  /** "23%", as df prints it. */
  percent_used?: string;
  total_inodes?: string;
  inodes_used?: string;
  inodes_available?: string;
  inodes_percent_used?: string;
  fs_type?: string;
  mount_options?: string[];
  /** by_mountpoint: the devices mounted there. */
  devices?: string[];
  /** by_device: where the device is mounted. */
  mounts?: string[];
}

/** File systems indexed two ways, as ohai does. */
export interface FilesystemFacts {
  by_device: Record<string, FilesystemEntry>;
  by_mountpoint: Record<string, FilesystemEntry>;
}

/** Virtual machine and container detection. */
export interface VirtualizationFacts {
  /** The most specific finding, e.g. "docker", "kvm", "lxc", "nspawn". */
  system?: string;
  role?: "guest" | "host";
  /** Every finding: technology → role. */
  systems: Record<string, "guest" | "host">;
}

/** `/etc/lsb-release`, when the system ships one (Ubuntu does; Debian does not). */
export interface LsbFacts {
  id?: string;
  description?: string;
  release?: string;
  codename?: string;
}

/** Everything Sous knows about a node before converging it. */
export interface Facts {
  /** os-release ID, remapped as ohai does ("rhel" → "redhat", "amzn" → "amazon"). */
  platform: string;
  /** "debian", "rhel", "fedora", "suse", "arch", "alpine"... */
  platform_family: string;
  platform_version: string;
  /** Lower-case kernel name: "linux". */
  os: string;
  /** The kernel release. */
  os_version: string;
  kernel: KernelFacts;
  /** Short host name (`hostname -s`). */
  hostname: string;
  /** What `hostname` prints. */
  machinename: string;
  fqdn?: string;
  /** The part of the FQDN after its first dot; null when the FQDN has no dot (as ohai reports it). */
  domain?: string | null;
  ipaddress?: string;
  ip6address?: string;
  macaddress?: string;
  network: NetworkFacts;
  cpu: CpuFacts;
  memory: MemoryFacts;
  filesystem: FilesystemFacts;
  uptime_seconds?: number;
  /** "2 days 03 hours 04 minutes 05 seconds", as ohai writes it. */
  uptime?: string;
  idletime_seconds?: number;
  idletime?: string;
  virtualization: VirtualizationFacts;
  /** The command name of PID 1 ("systemd", "init"...), "init" when unreadable. */
  init_package: string;
  /** The package tool found: "apt", "dnf", "yum", "zypper", "apk", "pacman"... */
  package_manager?: string;
  current_user?: string;
  /** Primary group of root ("root" on Linux, "wheel" on BSDs). */
  root_group?: string;
  machine_id?: string;
  lsb?: LsbFacts;
  /** The login shells /etc/shells lists (its lines that are paths), as ohai's `shells`. */
  shells?: string[];
}
