import type { DriverName, VmmHandle } from "./vmm.js";

export const VM_STATES = [
  "creating",
  "stopped",
  "starting",
  "running",
  "paused",
  "suspended",
  "stopping",
  "crashed",
  "error",
] as const;
export type VmState = (typeof VM_STATES)[number];

export const DRIVER_NAMES: readonly DriverName[] = ["firecracker", "qemu"];

export interface VmSpec {
  vcpu: number;
  memoryMib: number;
  /** Size of the per-VM work disk. */
  diskSizeBytes: number;
}

/** The guest's place on the host network. The address is kept while stopped; the TAP only while a VMM runs. */
export interface NetworkLease {
  ip: string;
  mac: string;
  /** Host TAP device name, null while no VMM runs. */
  tap: string | null;
}

/** The VM's disks (see services/disks). */
export interface VmDisksRecord {
  root: { path: string; readOnly: boolean };
  /** Overlay upper disk, null when the root is a writable reflink clone. */
  cow: string | null;
  work: string;
  rootMode: "reflink" | "overlay";
}

/** How the VMM process ended. Both null: it is gone, and how is unknown (found dead). */
export interface VmExit {
  code: number | null;
  signal: string | null;
}

/** A VM's outbound policy (see the isolation issue and services/network/firewall/egress.ts). */
export interface VmEgress {
  mode: "none" | "public" | "allow";
  /** mode "allow": the names it may resolve (`example.com`, `*.example.com`); else empty. */
  domains: string[];
  /** Names of VMs this one may reach and be reached by (both ways); empty by default. */
  peers: string[];
}

/** What a suspended VM's saved state was made by: it loads only into the same VMM. */
export interface SavedStateInfo {
  driver: DriverName;
  acceleration: "kvm" | "tcg";
  /** The VMM's version line (QEMU: `--version`'s first line). */
  vmmVersion: string;
  /** Size of the device-state file. */
  stateBytes: number;
  savedAt: string;
  /** Suspended by scale to zero (idle): a use wakes it. */
  auto?: boolean;
}

export interface BootTiming {
  name: string;
  ms: number;
}

export interface Vm {
  /** 16 lowercase hex characters, no `-`. */
  id: string;
  /** Unique; a DNS label (the VM answers as NAME.vm). */
  name: string;
  state: VmState;
  spec: VmSpec;
  imageId: string;
  driver: DriverName | null;
  /** Why that driver was chosen. */
  driverReason: string | null;
  /** Set once the disks exist. */
  disks: VmDisksRecord | null;
  /** Set while a VMM process exists for this VM. */
  vmm: VmmHandle | null;
  network: NetworkLease | null;
  /** Guest vsock CID: unique among VMs, >= 3. */
  cid: number;
  vmDir: string;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  stoppedAt: Date | null;
  lastError: string | null;
  exit: VmExit | null;
  bootTimings: BootTiming[] | null;
  /** Absent on rows written before egress policies: the configured default applies. */
  egress?: VmEgress;
  /** Set while the VM's state is saved in its directory (suspended, or a suspend in progress). */
  saved?: SavedStateInfo | null;
  /** Idle time after which the VM suspends itself, ms (0: never; absent: config auto_suspend_after). */
  autoSuspendMs?: number | null;
  /** A warm-pool member: the key of the spec it was made for (see services/vms/pool.ts); null once claimed. */
  pool?: string | null;
}

/** Smallest vsock CID a guest may use (0-2 are reserved for the hypervisor and host). */
export const MIN_GUEST_CID = 3;

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** VM names are DNS labels: 1-63 of a-z, 0-9 and `-`, not starting or ending with `-`. */
export function isValidVmName(name: string): boolean {
  return DNS_LABEL.test(name);
}

export function isVmState(s: string): s is VmState {
  return (VM_STATES as readonly string[]).includes(s);
}

/** States in which a VMM process may exist (and must be stopped before delete). */
export function isVmActive(state: VmState): boolean {
  return state === "starting" || state === "running" || state === "paused" || state === "stopping";
}
