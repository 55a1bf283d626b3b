/** Schemas of VMs and images (dates as ISO strings). */
import { z } from "zod";
import { VM_STATES } from "../../model/vm.js";
import { VmStats } from "./agent.js";
import { AbsolutePath, Int, Name } from "./common.js";

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const TiB = 1024 ** 4;

export const VmState = z.enum(VM_STATES);

export const ImageCapabilities = z.object({ agent: z.boolean(), sshd: z.boolean() });
export const Readiness = z.enum(["agent", "ssh", "started"]);

export const VmCgroupView = z.object({
  version: z.union([z.literal(1), z.literal(2)]),
  /** As /proc/PID/cgroup names it (v1: the memory hierarchy's). */
  path: z.string(),
  memoryLimitBytes: z.number().nullable(),
  pidsLimit: z.number().nullable(),
  /** CPU quota in CPUs. */
  cpus: z.number().nullable(),
});

export const VmEgressPolicy = z.object({
  mode: z.enum(["none", "public", "allow"]),
  /** mode "allow": the names it may resolve (`example.com`, `*.example.com`); else empty. */
  domains: z.array(z.string()),
  /** Names of VMs this one may reach and be reached by (both ways); empty by default. */
  peers: z.array(z.string()),
  /** The policy as written: none | public | allow=DOMAIN,... */
  policy: z.string(),
});

/** A list of VM names (at most 64). */
const PeerNames = z.array(Name).max(64, "at most 64 peers");

export const VmView = z.object({
  id: z.string(),
  name: z.string(),
  state: VmState,
  image: z.object({
    id: z.string(),
    name: z.string(),
    /** What the image provides (agent, sshd); null until detected. */
    capabilities: ImageCapabilities.nullable().optional(),
    /** The readiness rule for this VM: "agent", "ssh" or "started". */
    readiness: Readiness.nullable().optional(),
  }),
  spec: z.object({ vcpu: z.number(), memoryMib: z.number(), diskSizeBytes: z.number() }),
  driver: z.enum(["firecracker", "qemu"]).nullable(),
  acceleration: z.enum(["kvm", "tcg"]).nullable(),
  /** Why this driver was chosen (from the VMM selection). */
  driverReason: z.string().nullable(),
  pid: z.number().nullable(),
  ip: z.string().nullable(),
  mac: z.string().nullable(),
  tap: z.string().nullable(),
  cid: z.number(),
  rootMode: z.enum(["reflink", "overlay"]).nullable(),
  paths: z.object({
    vmDir: z.string(),
    consoleLog: z.string(),
    vmmLog: z.string(),
    workDisk: z.string(),
    rootDisk: z.string().nullable(),
    cowDisk: z.string().nullable(),
    controlSocket: z.string().nullable(),
    agentSocket: z.string().nullable(),
  }),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  stoppedAt: z.string().nullable(),
  uptimeSec: z.number().nullable(),
  lastError: z.string().nullable(),
  /** How the VMM process ended. Both null: it is gone, and how is unknown. */
  exit: z.object({ code: z.number().nullable(), signal: z.string().nullable() }).nullable(),
  /** Stage timings of the last boot (create + start stages). */
  bootTimings: z.array(z.object({ name: z.string(), ms: z.number() })).nullable(),
  /** The latest stats sample (vm.list and vm.show fill it in). */
  stats: VmStats.nullable().optional(),
  /** The outbound policy in force: `policy` as written (none | public | allow=...), and the peers. */
  egress: VmEgressPolicy.optional(),
  /** The running VMM's cgroup and its limits (vm.show fills it in; null outside one). */
  cgroup: VmCgroupView.nullable().optional(),
  /** The idle time after which it suspends itself (ms), null when it never does. */
  autoSuspendAfterMs: z.number().nullable().optional(),
  /** A warm-pool member (listed only with `vm list --all`). */
  pool: z.boolean().optional(),
  /** A suspended VM's saved state: what made it, and the disk it takes (device state + guest RAM). */
  saved: z
    .object({
      savedAt: z.string(),
      driver: z.enum(["firecracker", "qemu"]),
      acceleration: z.enum(["kvm", "tcg"]),
      vmmVersion: z.string(),
      stateBytes: z.number(),
      /** Bytes allocated on disk by the state and memory files. */
      diskBytes: z.number(),
      /** Suspended by scale to zero (idle); a use wakes it. */
      auto: z.boolean().optional(),
    })
    .nullable()
    .optional(),
  /** The running VM's log writer (vm.show fills it in; null when its logs are plain files). */
  logWriter: z.object({ pid: z.number(), running: z.boolean() }).nullable().optional(),
});

export const VmCreateParams = z.strictObject({
  name: Name.optional(),
  image: Name.optional(),
  vcpu: Int(1, 64).optional(),
  memoryMib: Int(128, 1024 * 1024).optional(),
  diskSizeBytes: Int(64 * MiB, 16 * TiB).optional(),
  /** Boot right away (default true). */
  start: z.boolean().optional(),
  /** Outbound policy (none | public | allow=DOMAIN,...); default: [network] egress. */
  egress: z.string().min(1).max(4096).optional(),
  /** VM names this VM may reach and be reached by. */
  peers: PeerNames.optional(),
  /** Suspend itself after this long idle, ms (0: never); default: config auto_suspend_after. */
  autoSuspendAfterMs: Int(0, 7 * 86_400_000).optional(),
});

/** `banger vm egress NAME [POLICY]`: show or change a VM's outbound policy. */
export const VmEgressParams = z.strictObject({
  name: Name,
  /** New policy (none | public | allow=DOMAIN,...); absent: show only. */
  egress: z.string().min(1).max(4096).optional(),
  /** New peer list (VM names); absent: unchanged. */
  peers: PeerNames.optional(),
});

const Counter = z.object({ packets: z.number(), bytes: z.number() });

export const VmEgressView = z.object({
  name: z.string(),
  egress: VmEgressPolicy,
  running: z.boolean(),
  nat: z.boolean(),
  /** The kernel's view, while the VM runs and the firewall could be read. */
  firewall: z
    .object({
      dropped: Counter,
      spoofDropped: Counter,
      allowed: z.array(z.object({ ip: z.string(), expiresS: z.number().nullable() })),
    })
    .nullable(),
  /** Connections cut after a change (conntrack entries). */
  flushed: z.number().optional(),
});

/** `vm list`: warm-pool members only with `all`. */
export const VmListParams = z.strictObject({ all: z.boolean().optional() });

export const VmStartParams = z.strictObject({
  name: Name,
  /** A suspended VM: throw its saved state away and boot afresh (its disks are kept). */
  discardState: z.boolean().optional(),
});

/** `banger vm fork SOURCE`: clones of a running, paused or suspended VM. */
export const VmForkParams = z.strictObject({
  source: Name,
  /** The clone's name, or the stem of NAME-1 ... NAME-N when count > 1; default: random names. */
  name: Name.optional(),
  count: Int(1, 16).optional(),
});

export const VmStopParams = z.strictObject({
  name: Name,
  /** Grace period before the VMM is killed (default 10 000 ms). */
  timeoutMs: Int(0, 3_600_000).optional(),
});

export const VmDeleteParams = z.strictObject({
  name: Name,
  /** Stop a running VM first instead of refusing. */
  force: z.boolean().optional(),
});

export const VmListResult = z.object({
  vms: z.array(VmView),
  /** Rows that could not be read (corrupt), as messages. */
  problems: z.array(z.string()),
});

export const VmLogsParams = z.strictObject({
  name: Name,
  /** "console" (guest serial console, default) or "vmm" (the VMM's own log). */
  source: z.enum(["console", "vmm"]).optional(),
  follow: z.boolean().optional(),
  /** Start this many bytes before the end (default 64 KiB; 0 = only new output). */
  tailBytes: Int(0, GiB).optional(),
});

export const SshInfo = z.object({
  name: z.string(),
  ip: z.string(),
  user: z.string(),
  identityFile: z.string(),
  /** banger's known_hosts, where the VM's own host key is pinned under hostKeyAlias. */
  knownHostsFile: z.string(),
  hostKeyAlias: z.string(),
  /** The ssh_config banger keeps (`Host NAME.vm` blocks). */
  sshConfig: z.string(),
});

export const ImageView = z.object({
  id: z.string(),
  name: z.string(),
  version: z.string(),
  arch: z.string(),
  kernel: z.object({
    kind: z.enum(["managed", "own", "default"]),
    path: z.string().nullable(),
    name: z.string().nullable(),
  }),
  initrdPath: z.string().nullable(),
  rootfsPath: z.string(),
  workSeedPath: z.string(),
  sizeBytes: z.number(),
  source: z.string(),
  description: z.string(),
  createdAt: z.string(),
  /** Names of the VMs created from it. */
  usedBy: z.array(z.string()),
  /** What its rootfs provides (banger's agent, an sshd); null until detected. */
  capabilities: ImageCapabilities.nullable(),
  /** How a VM of it counts as ready: "agent", "ssh" or "started" (see docs/images.md). */
  readiness: Readiness.nullable(),
});

export const ImageRegisterParams = z.strictObject({
  name: Name,
  kernel: Name,
  initrd: Name.optional(),
  rootfs: Name,
  workSeed: Name,
  description: Name.optional(),
  version: Name.optional(),
});

export const ImageBuildParams = z.strictObject({
  name: Name,
  from: Name,
  install: z.array(z.string()).optional(),
  /** Absolute path of a shell script run inside the image as root. */
  script: Name.optional(),
  /** "SRC:DEST" pairs, SRC absolute on the host, DEST absolute in the image. */
  copy: z.array(z.string()).optional(),
});

export const ImageExportParams = z.strictObject({ name: Name, output: AbsolutePath });
