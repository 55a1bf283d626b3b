/** Pure builders for the bodies the driver sends, from a BootSpec. */
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { BootSpec, DriveSpec, NetSpec } from "../driver.js";
import type {
  BootSource,
  Drive,
  Logger,
  MachineConfiguration,
  Metrics,
  NetworkInterface,
  SnapshotCreateParams,
  SnapshotLoadParams,
  Vm,
  Vsock,
} from "./apiTypes.js";

/** What banger always puts first on the guest command line (boot_args replaces Firecracker's default). */
export const BASE_BOOT_ARGS = "console=ttyS0 reboot=k panic=1 pci=off";
/** Firecracker's limit on the command line, in bytes. */
export const MAX_BOOT_ARGS_BYTES = 2048;

const RESOURCE_ID = /^[A-Za-z0-9_]+$/;

/** True for a valid path id (`/drives/{id}`, `/network-interfaces/{id}`). */
export const isResourceId = (id: string): boolean => RESOURCE_ID.test(id);

/** Path ids (`/drives/{id}`, `/network-interfaces/{id}`) allow ASCII letters, digits and `_` only. */
export function assertResourceId(kind: string, id: string): void {
  if (!RESOURCE_ID.test(id)) {
    throw new BangerError(
      ErrorCodes.INVALID_ARGUMENT,
      `${kind} id ${JSON.stringify(id)} is invalid for Firecracker: only letters, digits and "_" are allowed`,
    );
  }
}

export function bootArgs(kernelArgs: string): string {
  const args = `${BASE_BOOT_ARGS} ${kernelArgs.trim()}`.trim();
  const bytes = Buffer.byteLength(args);
  if (bytes > MAX_BOOT_ARGS_BYTES) {
    throw new BangerError(
      ErrorCodes.INVALID_ARGUMENT,
      `kernel command line is ${bytes} bytes; Firecracker allows at most ${MAX_BOOT_ARGS_BYTES}`,
    );
  }
  return args;
}

export function loggerBody(logPath: string): Logger {
  return { log_path: logPath, level: "Info", show_level: true, show_log_origin: false };
}

export function metricsBody(metricsPath: string): Metrics {
  return { metrics_path: metricsPath };
}

export function machineConfigBody(spec: Pick<BootSpec, "vcpu" | "memoryMib">): MachineConfiguration {
  if (!Number.isInteger(spec.vcpu) || spec.vcpu < 1 || spec.vcpu > 32) {
    throw new BangerError(
      ErrorCodes.INVALID_ARGUMENT,
      `vcpu must be an integer from 1 to 32, got ${spec.vcpu}`,
    );
  }
  if (!Number.isInteger(spec.memoryMib) || spec.memoryMib < 1) {
    throw new BangerError(
      ErrorCodes.INVALID_ARGUMENT,
      `memory must be a positive number of MiB, got ${spec.memoryMib}`,
    );
  }
  return { vcpu_count: spec.vcpu, mem_size_mib: spec.memoryMib, smt: false };
}

export function bootSourceBody(spec: Pick<BootSpec, "kernelPath" | "initrdPath" | "kernelArgs">): BootSource {
  const body: BootSource = { kernel_image_path: spec.kernelPath, boot_args: bootArgs(spec.kernelArgs) };
  if (spec.initrdPath) body.initrd_path = spec.initrdPath;
  return body;
}

/**
 * Writable drives (the persistent work disk at /root, the cow disk, a
 * writable root) use "Writeback": Firecracker then offers the guest a flush
 * and fsyncs the file on it, so data the guest was told is on disk survives
 * a host crash. "Unsafe" (no flush) is kept for read-only drives, where there
 * is nothing to lose. (docs/api_requests/block-caching.md)
 */
export function driveBody(d: DriveSpec): Drive {
  assertResourceId("drive", d.id);
  return {
    drive_id: d.id,
    is_root_device: d.isRoot,
    is_read_only: d.readOnly,
    path_on_host: d.path,
    cache_type: d.readOnly ? "Unsafe" : "Writeback",
  };
}

/** The one NIC banger gives a guest. */
export const NET_IFACE_ID = "eth0";

export function networkBody(net: NetSpec): NetworkInterface {
  assertResourceId("network interface", NET_IFACE_ID);
  return { iface_id: NET_IFACE_ID, host_dev_name: net.tap, guest_mac: net.mac };
}

export function vsockBody(cid: number, udsPath: string): Vsock {
  if (!Number.isInteger(cid) || cid < 3) {
    throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `vsock CID must be an integer >= 3, got ${cid}`);
  }
  return { guest_cid: cid, uds_path: udsPath };
}

/** `PATCH /vm`: freeze or unfreeze the vCPUs. */
export function vmStateBody(state: Vm["state"]): Vm {
  return { state };
}

function assertPath(field: string, p: string): void {
  if (typeof p !== "string" || p.trim() === "") {
    throw new BangerError(
      ErrorCodes.INVALID_ARGUMENT,
      `${field} must be a non-empty path, got ${JSON.stringify(p)}`,
    );
  }
}

/** `PUT /snapshot/create`: a full snapshot (device state and all of guest memory). */
export function snapshotCreateBody(statePath: string, memoryPath: string): SnapshotCreateParams {
  assertPath("snapshot_path", statePath);
  assertPath("mem_file_path", memoryPath);
  return { snapshot_type: "Full", snapshot_path: statePath, mem_file_path: memoryPath };
}

export interface SnapshotLoadInput {
  /** The state and memory files, as Firecracker sees them. */
  statePath: string;
  memoryPath: string;
  /** The restored VM's own TAP (overrides the saved one), or null for a VM without a NIC. */
  tap: string | null;
  /** The restored VM's own vsock socket (overrides the saved one). */
  vsockPath: string;
}

/**
 * `PUT /snapshot/load`: memory mapped from the file (File backend), the NIC
 * moved to this VM's TAP, the vsock to this VM's socket, and the vCPUs
 * resumed once loaded.
 */
export function snapshotLoadBody(input: SnapshotLoadInput): SnapshotLoadParams {
  assertPath("snapshot_path", input.statePath);
  assertPath("mem_backend.backend_path", input.memoryPath);
  assertPath("vsock_override.uds_path", input.vsockPath);
  return {
    snapshot_path: input.statePath,
    mem_backend: { backend_type: "File", backend_path: input.memoryPath },
    resume_vm: true,
    ...(input.tap ? { network_overrides: [{ iface_id: NET_IFACE_ID, host_dev_name: input.tap }] } : {}),
    vsock_override: { uds_path: input.vsockPath },
  };
}
