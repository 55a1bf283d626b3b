/**
 * The VMM driver contract. Drivers are small: boot a VM from a BootSpec,
 * report whether it is alive, stop it. Optional abilities (snapshots, ...)
 * are separate interfaces checked through `features`.
 */

import type { Acceleration, DriverName, VmmHandle } from "../model/vmm.js";
import type { StepTiming } from "./steps.js";

export type { Acceleration, DriverName, VmmHandle };

export interface DriverFeatures {
  snapshots: boolean;
  /** How the host reaches the guest agent. */
  agentChannel: "vsock" | "virtio-serial";
}

export interface DriveSpec {
  /** Letters, digits and `_` only (Firecracker rejects `-`). */
  id: string;
  path: string;
  readOnly: boolean;
  isRoot: boolean;
}

export interface NetSpec {
  /** Host TAP device name. */
  tap: string;
  /** Guest MAC, for example 06:00:ac:1e:00:02. */
  mac: string;
}

export interface BootSpec {
  /** Stable VM id: lowercase hex, no `-`. */
  id: string;
  name: string;
  vcpu: number;
  memoryMib: number;
  kernelPath: string;
  initrdPath: string | null;
  /**
   * Kernel command line WITHOUT console/panic settings and WITHOUT root=
   * (the driver adds what its VMM needs: console=ttyS0 reboot=k panic=1 ...).
   * Carries the guest's `ip=` setting and banger's own keys.
   */
  kernelArgs: string;
  /** drives[0] is the root drive. */
  drives: DriveSpec[];
  net: NetSpec | null;
  /** Guest vsock CID (>= 3); Firecracker uses it, QEMU ignores it. */
  cid: number;
  /** The VM's own directory: sockets and logs go here. */
  vmDir: string;
  /** Guest console output (capped). */
  consoleLog: string;
  /** The VMM's own log. */
  vmmLog: string;
  /**
   * Where guest RAM is saved (Firecracker: the snapshot's mem_file_path) or
   * lives (QEMU: a memory-backend-file, share=on, so its state can be saved
   * without copying RAM). In the VM's directory; it holds the guest's secrets.
   */
  memoryFile: string;
  /**
   * Boot from this saved state instead of a cold boot: the guest continues
   * where saveState left it (the files may belong to another VM: a fork).
   * The drives, net and agent channel are the spec's, not the saved VM's.
   */
  restore?: SavedState;
}

/** A VM's saved state as files. */
export interface SavedState {
  /** Device and vCPU state: QEMU's migration stream, or Firecracker's snapshot_path. */
  stateFile: string;
  /** Guest memory: QEMU's RAM file, or Firecracker's mem_file_path. */
  memoryFile: string;
}

/** Drivers whose features.snapshots is true implement these. */
export interface VmmSnapshots {
  /** Freeze the vCPUs (idempotent). */
  pause(handle: VmmHandle): Promise<void>;
  /** Unfreeze them (idempotent). */
  resume(handle: VmmHandle): Promise<void>;
  /**
   * Save the VM's state into `to` (the VM must be paused, and stays paused).
   * QEMU writes only the device state (RAM already lives in to.memoryFile when
   * that is the VM's own file, else it is copied there); Firecracker writes both.
   */
  saveState(handle: VmmHandle, spec: BootSpec, to: SavedState): Promise<{ bytes: number }>;
  /** The VMM's version: a saved state loads only into the VMM that wrote it. */
  vmmVersion(): Promise<string>;
}

export interface BootResult {
  handle: VmmHandle;
  timings: StepTiming[];
}

export interface BootObserver {
  onStepStart?(name: string): void;
  onStepDone?(t: StepTiming): void;
  /**
   * The VMM process runs but the guest does not yet (QEMU starts with -S):
   * the place to move it into its cgroup, so the guest's memory is charged
   * there. A rejection fails the boot. Drivers that cannot pause skip it.
   */
  onVmmStarted?(pid: number): Promise<void>;
  /** Told about an undo of a failed boot that itself failed (what was left behind). */
  onCleanupError?(step: string, err: unknown): void;
}

export interface StopOptions {
  /** How long to wait for a graceful shutdown before killing. Default 10 000; 0: no graceful attempt. */
  timeoutMs?: number;
  /** Keep the VM's memory file (its state was just saved: suspend). Default: it is removed. */
  keepMemory?: boolean;
}

export interface VmmDriver {
  readonly name: DriverName;
  readonly acceleration: Acceleration;
  readonly features: DriverFeatures;
  /** Boot the VM. On failure everything the boot did is undone and the error names the step. */
  boot(spec: BootSpec, observer?: BootObserver): Promise<BootResult>;
  /** Graceful stop, then kill after the timeout; removes sockets. Idempotent. */
  stop(handle: VmmHandle, opts?: StopOptions): Promise<void>;
  /** True when the VMM process of this handle is alive (and is really the VMM, not a reused pid). */
  isAlive(handle: VmmHandle): boolean;
  /** Memory the VMM process needs beyond guest RAM, in MiB (for its cgroup's limit). */
  vmmOverheadMib?(): number;
  /**
   * Kill any VMM of this driver still running for `vmDir` although no handle
   * records it (a daemon killed mid-boot), and remove its sockets. Returns the
   * pids killed.
   */
  reapStray?(vmDir: string, opts?: { keepMemory?: boolean }): Promise<number[]>;
  /** Pause, resume and saved state (present when features.snapshots is true). */
  snapshots?: VmmSnapshots;
}
