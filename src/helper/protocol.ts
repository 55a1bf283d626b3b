/**
 * The privileged helper's contract (issues: least privilege, isolation).
 *
 * `banger-helper` is one self-contained, root-owned executable (bundled from
 * src/helper/ into one file, importing only node: builtins). The daemon starts
 * it once, through `sudo -n` for a normal user or directly when the daemon is
 * root, and speaks to it over the helper's stdin/stdout:
 *
 *   request  (one JSON line): {"id": 1, "verb": "tap.create", "args": {...}}
 *   response (one JSON line): {"id": 1, "ok": true, "result": ...}
 *                          or {"id": 1, "ok": false, "error": {"code": "...", "message": "..."}}
 *
 * The helper learns its caller from SUDO_UID (uid 0 when it was not started
 * through sudo), ignores every other environment variable and every file the
 * caller can write, validates every argument, and refuses unknown verbs.
 *
 * Ownership: everything the helper creates carries the caller's uid and a
 * banger marker, and it never touches what another uid made:
 *   - links (bridge, TAPs): ifalias `banger:uid=<uid>`; TAPs also have the tun owner;
 *   - nftables: tables `inet banger_u<uid>` and `bridge banger_u<uid>`;
 *   - cgroups: `<controller root>/banger/u<uid>/<vm id>`.
 * A root caller's VMMs run as the dedicated system user `banger-vmm`, so its
 * TAPs are owned by that user.
 */

export const HELPER_PROTOCOL_VERSION = 1;

/** The dedicated unprivileged system user that runs VMMs and image builds when banger runs as root. */
export const VMM_SYSTEM_USER = "banger-vmm";

/** Where the root install step puts the helper (root-owned, root-only directory). */
export const HELPER_INSTALL_DIR = "/usr/local/libexec/banger";
export const HELPER_INSTALL_PATH = `${HELPER_INSTALL_DIR}/banger-helper`;

/** The ifalias marker on every link banger creates. */
export function linkMarker(uid: number): string {
  return `banger:uid=${uid}`;
}

/** banger's nftables table names for a uid (one `inet`, one `bridge` table). */
export function nftTableName(uid: number): string {
  return `banger_u${uid}`;
}

/** A VM's outbound policy (see the isolation issue). */
export type EgressMode = "none" | "public" | "allow";

/** One VM as the firewall sees it. */
export interface FirewallVm {
  /** The VM's TAP (one of the caller's). */
  tap: string;
  /** The only source MAC this TAP may send. */
  mac: string;
  /** The only source IPv4 this TAP may send; inside `subnet`. */
  ip: string;
  egress: EgressMode;
  /** Addresses of other VMs (in `vms`) this VM may reach and be reached by; empty by default. */
  peers: string[];
  /** egress "allow": addresses the resolver answered for allowed names, with the seconds each stays. */
  allowed: Array<{ ip: string; ttlS: number }>;
}

/** Everything the firewall of one user's network is built from. Loaded atomically, replacing the previous one. */
export interface FirewallSpec {
  bridge: string;
  /** The user's VM subnet, e.g. 172.30.3.0/24. */
  subnet: string;
  /** The bridge's address (first host address of the subnet). */
  gateway: string;
  /** The daemon's DNS port on the gateway; guests' port 53 on the gateway is redirected here. */
  dnsPort: number;
  /** NAT on: egress allowed per VM policy. Off: no egress at all. */
  nat: boolean;
  vms: FirewallVm[];
}

/** Host settings that break or bypass the firewall (for doctor). */
export interface FirewallHostFacts {
  /** Forward-hook chains with policy drop, as "family table chain" (Docker sets one). */
  forwardDropChains: string[];
  /** br_netfilter's bridge-nf-call-iptables (null: br_netfilter not loaded). */
  bridgeNfCallIptables: boolean | null;
  ipForward: boolean;
  /** `nft` ran. */
  nftAvailable: boolean;
}

/** One VM's firewall state as the kernel has it. */
export interface FirewallVmStatus {
  ip: string;
  /** Packets dropped by the VM's policy (to the host, egress, other VMs). */
  dropped: { packets: number; bytes: number };
  /** Frames dropped by anti-spoofing (wrong MAC, IP, ARP sender, IPv6 and other ethertypes). */
  spoofDropped: { packets: number; bytes: number };
  /** egress "allow": the addresses in its set, each with the seconds left (null: no timeout). */
  allowed: Array<{ ip: string; expiresS: number | null }>;
}

export interface FirewallStatus {
  /** Whether the caller's tables exist. */
  loaded: boolean;
  vms: FirewallVmStatus[];
  host: FirewallHostFacts;
}

export interface CgroupLimits {
  memoryBytes: number;
  pids: number;
  /** vCPUs: the CPU quota is this many CPUs. */
  cpus: number;
}

export interface CgroupInfo {
  version: 1 | 2;
  /** controller -> absolute cgroup directory (v2: one entry, "unified"). */
  paths: Record<string, string>;
  limits: CgroupLimits;
}

/**
 * Starting Firecracker through its jailer for one VM (src/vmm/firecracker/jail.ts
 * builds it; jailLaunch.ts `planProblems` is the check the helper must make:
 * paths, id, uid inside the caller's jail range, never --no-seccomp).
 */
export interface JailLaunchPlan {
  id: string;
  uid: number;
  gid: number;
  cgroupVersion: 1 | 2;
  jailerBin: string;
  firecrackerBin: string;
  chrootBase: string;
  chrootDir: string;
  /** Host files bind-mounted at `target` (inside the chroot) in the jail's private mount namespace. */
  binds: Array<{ source: string; target: string; readOnly: boolean }>;
  pidFile: string;
  apiSock: string;
  vsock: string;
  jailerArgv: string[];
}

/** Every verb, its arguments and its result. */
export interface HelperVerbs {
  hello: {
    args: Record<string, never>;
    result: { version: number; uid: number; vmmUid: number; vmmGid: number };
  };
  /** Create (or check) the caller's bridge with this address (gateway/prefix), marked and up. */
  "bridge.ensure": { args: { bridge: string; cidr: string }; result: null };
  /** A persistent TAP owned by the caller (banger-vmm for root), attached to the bridge, up, port-isolated. */
  "tap.create": { args: { tap: string; bridge: string }; result: { ownerUid: number } };
  /** Delete one of the caller's TAPs; succeeds when it is already gone. */
  "tap.delete": { args: { tap: string }; result: null };
  /** Replace the caller's nftables tables with the ones built from this spec, in one transaction. */
  "firewall.apply": { args: { spec: FirewallSpec }; result: null };
  /** Remove the caller's nftables tables (absent is fine). */
  "firewall.remove": { args: Record<string, never>; result: null };
  /** Add answered addresses to one VM's allow set (egress "allow"), each with its timeout. */
  "firewall.allow": { args: { vmIp: string; add: Array<{ ip: string; ttlS: number }> }; result: null };
  /** The caller's firewall as loaded (drop counters, allow sets with expiry) and host facts for doctor. */
  "firewall.status": { args: Record<string, never>; result: FirewallStatus };
  /** Delete conntrack entries from or to one of the caller's VM addresses. */
  "conntrack.flush": { args: { ip: string }; result: { flushed: number } };
  /** Set a named sysctl (only net.ipv4.ip_forward), counted per user so it is restored when no banger network needs it. */
  "sysctl.set": { args: { name: "net.ipv4.ip_forward"; value: 0 | 1 }; result: { previous: string } };
  "cgroup.create": { args: { vm: string; limits: CgroupLimits }; result: CgroupInfo };
  /** Move a VMM process (owned by the caller or banger-vmm) into the VM's cgroup. */
  "cgroup.attach": { args: { vm: string; pid: number }; result: null };
  "cgroup.remove": { args: { vm: string }; result: null };
  /**
   * Run `unshare --mount --propagation private -- jailLaunch` for this plan (bind mounts, then the jailer).
   * NOT IMPLEMENTED in the helper yet (its verb table refuses it): the launcher must first be bundled into
   * the helper, since root may not run the checkout's files. Until then only a root daemon uses the jailer;
   * a normal user's daemon runs Firecracker directly, as that user, with its seccomp filters.
   */
  "jail.launch": { args: { plan: JailLaunchPlan }; result: null };
  /** Remove one of the caller's VM jails (`<vmDir>/jail`: root-owned mount points, the jail uid's files). NOT IMPLEMENTED yet (see jail.launch). */
  "jail.remove": { args: { vmDir: string }; result: null };
}

export type HelperVerb = keyof HelperVerbs;

export interface HelperRequest<V extends HelperVerb = HelperVerb> {
  id: number;
  verb: V;
  args: HelperVerbs[V]["args"];
}

export type HelperResponse =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { code: string; message: string } };

/** The daemon's side: what services depend on (real: HelperClient; tests: a fake). */
export interface PrivilegedHelper {
  call<V extends HelperVerb>(verb: V, args: HelperVerbs[V]["args"]): Promise<HelperVerbs[V]["result"]>;
}
