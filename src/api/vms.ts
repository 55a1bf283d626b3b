/** Wire types for VMs and images (dates as ISO strings). */

import type { BootTiming, VmEgress, VmExit, VmState } from "../model/vm.js";
import type { Acceleration, DriverName } from "../model/vmm.js";
import type { VmStats } from "./agent.js";

export interface VmView {
  id: string;
  name: string;
  state: VmState;
  image: { id: string; name: string };
  spec: { vcpu: number; memoryMib: number; diskSizeBytes: number };
  driver: DriverName | null;
  acceleration: Acceleration | null;
  /** Why this driver was chosen (from the VMM selection). */
  driverReason: string | null;
  pid: number | null;
  ip: string | null;
  mac: string | null;
  tap: string | null;
  cid: number;
  rootMode: "reflink" | "overlay" | null;
  paths: {
    vmDir: string;
    consoleLog: string;
    vmmLog: string;
    workDisk: string;
    rootDisk: string | null;
    cowDisk: string | null;
    controlSocket: string | null;
    agentSocket: string | null;
  };
  createdAt: string;
  startedAt: string | null;
  stoppedAt: string | null;
  uptimeSec: number | null;
  lastError: string | null;
  exit: VmExit | null;
  /** Stage timings of the last boot (create + start stages). */
  bootTimings: BootTiming[] | null;
  /** The latest stats sample (vm.list and vm.show fill it in). */
  stats?: VmStats | null;
  /** The outbound policy in force: `policy` as written (none | public | allow=...), and the peers. */
  egress?: VmEgress & { policy: string };
}

/** `banger vm egress NAME [MODE]`: show or change a VM's outbound policy. */
export interface VmEgressParams {
  name: string;
  /** New policy (none | public | allow=DOMAIN,...); absent: show only. */
  egress?: string;
  /** New peer list (VM names); absent: unchanged. */
  peers?: string[];
}

export interface VmEgressView {
  name: string;
  egress: VmEgress & { policy: string };
  running: boolean;
  nat: boolean;
  /** The kernel's view, while the VM runs and the firewall could be read. */
  firewall: {
    dropped: { packets: number; bytes: number };
    spoofDropped: { packets: number; bytes: number };
    allowed: Array<{ ip: string; expiresS: number | null }>;
  } | null;
  /** Connections cut after a change (conntrack entries). */
  flushed?: number;
}

export interface VmCreateParams {
  name?: string;
  image?: string;
  vcpu?: number;
  memoryMib?: number;
  diskSizeBytes?: number;
  /** Boot right away (default true). */
  start?: boolean;
  /** Outbound policy (none | public | allow=DOMAIN,...); default: [network] egress. */
  egress?: string;
  /** VM names this VM may reach and be reached by. */
  peers?: string[];
}

export interface VmRefParams {
  name: string;
}

export interface VmStopParams extends VmRefParams {
  /** Grace period before the VMM is killed (default 10 000 ms). */
  timeoutMs?: number;
}

export interface VmDeleteParams extends VmRefParams {
  /** Stop a running VM first instead of refusing. */
  force?: boolean;
}

export interface VmListResult {
  vms: VmView[];
  /** Rows that could not be read (corrupt), as messages. */
  problems: string[];
}

export interface VmLogsParams extends VmRefParams {
  /** "console" (guest serial console, default) or "vmm" (the VMM's own log). */
  source?: "console" | "vmm";
  follow?: boolean;
  /** Start this many bytes before the end (default 64 KiB; 0 = only new output). */
  tailBytes?: number;
}

export interface SshInfo {
  name: string;
  ip: string;
  user: string;
  identityFile: string;
  /** banger's known_hosts, where the VM's own host key is pinned under hostKeyAlias. */
  knownHostsFile: string;
  hostKeyAlias: string;
  /** The ssh_config banger keeps (`Host NAME.vm` blocks). */
  sshConfig: string;
}

export interface ImageView {
  id: string;
  name: string;
  version: string;
  arch: string;
  kernel: { kind: "managed" | "own" | "default"; path: string | null; name: string | null };
  initrdPath: string | null;
  rootfsPath: string;
  workSeedPath: string;
  sizeBytes: number;
  source: string;
  description: string;
  createdAt: string;
  /** Names of the VMs created from it. */
  usedBy: string[];
}

export interface ImageRegisterParams {
  name: string;
  kernel: string;
  initrd?: string;
  rootfs: string;
  workSeed: string;
  description?: string;
  version?: string;
}
