/**
 * Request and response bodies of the Firecracker API (v1.16.1), written by
 * hand from the swagger `definitions` of firecracker-api.yaml, and checked
 * at compile time against banger's API description (apiSpec.ts, below). Firecracker
 * rejects unknown fields (serde deny_unknown_fields), so a field that is not
 * in the spec must never be added here. Deprecated fields are left out.
 */

import type { DefinitionName, FIRECRACKER_API, FieldsOf } from "./apiSpec.js";

/** `Logger`. Every field is optional in the spec. */
export interface Logger {
  log_path?: string;
  level?: "Error" | "Warning" | "Info" | "Debug" | "Trace" | "Off";
  show_level?: boolean;
  show_log_origin?: boolean;
  module?: string;
}

/** `Metrics`. */
export interface Metrics {
  metrics_path: string;
}

/** `MachineConfiguration` (PUT replaces; unspecified optionals go back to their defaults). */
export interface MachineConfiguration {
  /** 1..32; with smt, 1 or even. */
  vcpu_count: number;
  mem_size_mib: number;
  smt?: boolean;
  track_dirty_pages?: boolean;
  huge_pages?: "None" | "2M";
}

/** `BootSource`. `boot_args` replaces Firecracker's default command line. */
export interface BootSource {
  kernel_image_path: string;
  initrd_path?: string;
  boot_args?: string;
}

/** `TokenBucket`. */
export interface TokenBucket {
  size: number;
  /** Milliseconds. */
  refill_time: number;
  one_time_burst?: number;
}

/** `RateLimiter`. */
export interface RateLimiter {
  bandwidth?: TokenBucket;
  ops?: TokenBucket;
}

/** `Drive` (virtio-block form; the vhost-user `socket` form is not used by banger). */
export interface Drive {
  drive_id: string;
  is_root_device: boolean;
  is_read_only?: boolean;
  path_on_host?: string;
  partuuid?: string;
  cache_type?: "Unsafe" | "Writeback";
  io_engine?: "Sync" | "Async";
  rate_limiter?: RateLimiter;
}

/** `NetworkInterface`. */
export interface NetworkInterface {
  iface_id: string;
  host_dev_name: string;
  guest_mac?: string;
  /** 68..65535 */
  mtu?: number;
  rx_rate_limiter?: RateLimiter;
  tx_rate_limiter?: RateLimiter;
}

/** `Vsock`. Firecracker binds `uds_path` itself: it must not exist. */
export interface Vsock {
  /** >= 3 */
  guest_cid: number;
  uds_path: string;
}

/** `InstanceActionInfo`. */
export interface InstanceActionInfo {
  action_type: "FlushMetrics" | "InstanceStart" | "SendCtrlAltDel";
}

/** `InstanceInfo`, the answer to `GET /`. */
export interface InstanceInfo {
  app_name: string;
  id: string;
  state: "Not started" | "Running" | "Paused";
  vmm_version: string;
}

/** `Vm`, the body of `PATCH /vm` (post-boot only; idempotent). */
export interface Vm {
  state: "Paused" | "Resumed";
}

/** `SnapshotCreateParams` (`PUT /snapshot/create`, only while Paused). Both files are created or overwritten. */
export interface SnapshotCreateParams {
  snapshot_path: string;
  mem_file_path: string;
  /** Default Full. Diff is developer preview. */
  snapshot_type?: "Full" | "Diff";
}

/** `MemoryBackend`: `File` maps backend_path MAP_PRIVATE; `Uffd` names a page-fault handler's socket. */
export interface MemoryBackend {
  backend_type: "File" | "Uffd";
  backend_path: string;
}

/** `NetworkOverride`: the TAP a restored interface opens instead of the saved one (Firecracker >= 1.12). */
export interface NetworkOverride {
  iface_id: string;
  host_dev_name: string;
}

/** `VsockOverride`: the vsock socket a restored VM binds instead of the saved one (Firecracker >= 1.16). */
export interface VsockOverride {
  uds_path: string;
}

/**
 * `SnapshotLoadParams` (`PUT /snapshot/load`, only on a fresh process: nothing
 * but the logger and metrics configured). The deprecated `mem_file_path` and
 * `enable_diff_snapshots` are left out.
 */
export interface SnapshotLoadParams {
  snapshot_path: string;
  mem_backend?: MemoryBackend;
  track_dirty_pages?: boolean;
  /** Without it the VM stays Paused after the load. */
  resume_vm?: boolean;
  network_overrides?: NetworkOverride[];
  vsock_override?: VsockOverride;
  /** x86_64: advance kvm-clock by the wall-clock time since the snapshot (fails when the snapshot lacks it). */
  clock_realtime?: boolean;
}

/** `Error`, the body of every non-2xx answer. */
export interface ApiErrorBody {
  fault_message?: string;
}

// Compile-time link to apiSpec.ts: each interface above declares exactly the
// fields its definition describes, and the enums agree.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Expect<T extends true> = T;
type Enum<D extends DefinitionName, F extends string> = Defs[D] extends {
  properties: { [K in F]: { enum: readonly (infer E)[] } };
}
  ? E
  : never;
type Defs = (typeof FIRECRACKER_API)["definitions"];
export type FieldsAgree = [
  Expect<Same<keyof Logger, FieldsOf<"Logger">>>,
  Expect<Same<keyof Metrics, FieldsOf<"Metrics">>>,
  Expect<Same<keyof MachineConfiguration, FieldsOf<"MachineConfiguration">>>,
  Expect<Same<keyof BootSource, FieldsOf<"BootSource">>>,
  Expect<Same<keyof TokenBucket, FieldsOf<"TokenBucket">>>,
  Expect<Same<keyof RateLimiter, FieldsOf<"RateLimiter">>>,
  Expect<Same<keyof Drive, FieldsOf<"Drive">>>,
  Expect<Same<keyof NetworkInterface, FieldsOf<"NetworkInterface">>>,
  Expect<Same<keyof Vsock, FieldsOf<"Vsock">>>,
  Expect<Same<keyof InstanceActionInfo, FieldsOf<"InstanceActionInfo">>>,
  Expect<Same<keyof InstanceInfo, FieldsOf<"InstanceInfo">>>,
  Expect<Same<keyof ApiErrorBody, FieldsOf<"Error">>>,
  Expect<Same<keyof Vm, FieldsOf<"Vm">>>,
  Expect<Same<keyof SnapshotCreateParams, FieldsOf<"SnapshotCreateParams">>>,
  Expect<Same<keyof MemoryBackend, FieldsOf<"MemoryBackend">>>,
  Expect<Same<keyof NetworkOverride, FieldsOf<"NetworkOverride">>>,
  Expect<Same<keyof VsockOverride, FieldsOf<"VsockOverride">>>,
  Expect<Same<keyof SnapshotLoadParams, FieldsOf<"SnapshotLoadParams">>>,
  Expect<Same<Vm["state"], Enum<"Vm", "state">>>,
  Expect<
    Same<NonNullable<SnapshotCreateParams["snapshot_type"]>, Enum<"SnapshotCreateParams", "snapshot_type">>
  >,
  Expect<Same<MemoryBackend["backend_type"], Enum<"MemoryBackend", "backend_type">>>,
  Expect<Same<NonNullable<Logger["level"]>, Enum<"Logger", "level">>>,
  Expect<Same<NonNullable<Drive["cache_type"]>, Enum<"Drive", "cache_type">>>,
  Expect<Same<NonNullable<Drive["io_engine"]>, Enum<"Drive", "io_engine">>>,
  Expect<Same<NonNullable<MachineConfiguration["huge_pages"]>, Enum<"MachineConfiguration", "huge_pages">>>,
  Expect<Same<InstanceActionInfo["action_type"], Enum<"InstanceActionInfo", "action_type">>>,
  Expect<Same<InstanceInfo["state"], Enum<"InstanceInfo", "state">>>,
];
