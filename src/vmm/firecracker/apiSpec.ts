/**
 * banger's own description of the part of the Firecracker API (v1.16.1) it
 * uses: routes, methods, body schemas with types, required fields, enums and
 * bounds. Written from the facts of Firecracker's swagger file
 * (src/firecracker/swagger/firecracker.yaml) in the same swagger 2.0 shape,
 * so the fake Firecracker validates every request against it on any clone.
 * test/fake-firecracker/apiSpecCompare.test.ts checks it against the official
 * YAML whenever ../shared/firecracker/firecracker-api.yaml is present.
 *
 * Only routes banger calls are here. A field banger never sends may be left
 * out of a definition, but only when listed in OMITTED_FIELDS with a reason:
 * the fake then refuses it, which is stricter than Firecracker, never looser.
 */

export interface ApiSchema {
  $ref?: string;
  type?: "object" | "string" | "integer" | "number" | "boolean" | "array";
  properties?: Readonly<Record<string, ApiSchema>>;
  required?: readonly string[];
  enum?: readonly unknown[];
  minimum?: number;
  maximum?: number;
  items?: ApiSchema;
  additionalProperties?: boolean | ApiSchema;
}

export interface ApiParameter {
  name: string;
  in: "path" | "body" | "query" | "header";
  required?: boolean;
  schema?: ApiSchema;
  type?: string;
}

export interface ApiOperation {
  operationId?: string;
  parameters?: readonly ApiParameter[];
}

export interface ApiDescription {
  info: { version: string };
  paths: Readonly<Record<string, Readonly<Record<string, ApiOperation>>>>;
  definitions: Readonly<Record<string, ApiSchema>>;
}

/** The Firecracker release this description was written from. */
export const API_VERSION = "1.16.1";

const ref = (name: string): ApiSchema => ({ $ref: `#/definitions/${name}` });
const body = (name: string, required = true): ApiParameter => ({
  name: "body",
  in: "body",
  ...(required ? { required: true } : {}),
  schema: ref(name),
});
const pathParam = (name: string): ApiParameter => ({ name, in: "path", required: true, type: "string" });
const str = { type: "string" } as const;
const bool = { type: "boolean" } as const;
const int = { type: "integer" } as const;

export const FIRECRACKER_API = {
  info: { version: API_VERSION },
  paths: {
    "/": { get: { operationId: "describeInstance" } },
    "/version": { get: { operationId: "getFirecrackerVersion" } },
    "/logger": { put: { operationId: "putLogger", parameters: [body("Logger")] } },
    "/metrics": { put: { operationId: "putMetrics", parameters: [body("Metrics")] } },
    "/machine-config": {
      get: { operationId: "getMachineConfiguration" },
      put: { operationId: "putMachineConfiguration", parameters: [body("MachineConfiguration", false)] },
    },
    "/boot-source": { put: { operationId: "putGuestBootSource", parameters: [body("BootSource")] } },
    "/drives/{drive_id}": {
      put: { operationId: "putGuestDriveByID", parameters: [pathParam("drive_id"), body("Drive")] },
    },
    "/network-interfaces/{iface_id}": {
      put: {
        operationId: "putGuestNetworkInterfaceByID",
        parameters: [pathParam("iface_id"), body("NetworkInterface")],
      },
    },
    "/vsock": { put: { operationId: "putGuestVsock", parameters: [body("Vsock")] } },
    "/actions": {
      put: {
        operationId: "createSyncAction",
        parameters: [{ name: "info", in: "body", required: true, schema: ref("InstanceActionInfo") }],
      },
    },
    "/vm": { patch: { operationId: "patchVm", parameters: [body("Vm")] } },
    "/snapshot/create": {
      put: { operationId: "createSnapshot", parameters: [body("SnapshotCreateParams")] },
    },
    "/snapshot/load": { put: { operationId: "loadSnapshot", parameters: [body("SnapshotLoadParams")] } },
  },
  definitions: {
    InstanceInfo: {
      type: "object",
      required: ["app_name", "id", "state", "vmm_version"],
      properties: {
        app_name: str,
        id: str,
        state: { type: "string", enum: ["Not started", "Running", "Paused"] },
        vmm_version: str,
      },
    },
    FirecrackerVersion: {
      type: "object",
      required: ["firecracker_version"],
      properties: { firecracker_version: str },
    },
    Logger: {
      type: "object",
      properties: {
        level: { type: "string", enum: ["Error", "Warning", "Info", "Debug", "Trace", "Off"] },
        log_path: str,
        show_level: bool,
        show_log_origin: bool,
        module: str,
      },
    },
    Metrics: { type: "object", required: ["metrics_path"], properties: { metrics_path: str } },
    MachineConfiguration: {
      type: "object",
      required: ["mem_size_mib", "vcpu_count"],
      properties: {
        smt: bool,
        mem_size_mib: int,
        track_dirty_pages: bool,
        vcpu_count: { type: "integer", minimum: 1, maximum: 32 },
        huge_pages: { type: "string", enum: ["None", "2M"] },
      },
    },
    BootSource: {
      type: "object",
      required: ["kernel_image_path"],
      properties: { boot_args: str, initrd_path: str, kernel_image_path: str },
    },
    Drive: {
      type: "object",
      required: ["drive_id", "is_root_device"],
      properties: {
        drive_id: str,
        partuuid: str,
        is_root_device: bool,
        cache_type: { type: "string", enum: ["Unsafe", "Writeback"] },
        is_read_only: bool,
        path_on_host: str,
        rate_limiter: ref("RateLimiter"),
        io_engine: { type: "string", enum: ["Sync", "Async"] },
      },
    },
    RateLimiter: {
      type: "object",
      properties: { bandwidth: ref("TokenBucket"), ops: ref("TokenBucket") },
    },
    TokenBucket: {
      type: "object",
      required: ["refill_time", "size"],
      properties: {
        one_time_burst: { type: "integer", minimum: 0 },
        refill_time: { type: "integer", minimum: 0 },
        size: { type: "integer", minimum: 0 },
      },
    },
    NetworkInterface: {
      type: "object",
      required: ["host_dev_name", "iface_id"],
      properties: {
        guest_mac: str,
        host_dev_name: str,
        iface_id: str,
        mtu: { type: "integer", minimum: 68, maximum: 65535 },
        rx_rate_limiter: ref("RateLimiter"),
        tx_rate_limiter: ref("RateLimiter"),
      },
    },
    Vsock: {
      type: "object",
      required: ["guest_cid", "uds_path"],
      properties: { guest_cid: { type: "integer", minimum: 3 }, uds_path: str },
    },
    InstanceActionInfo: {
      type: "object",
      required: ["action_type"],
      properties: {
        action_type: { type: "string", enum: ["FlushMetrics", "InstanceStart", "SendCtrlAltDel"] },
      },
    },
    Vm: {
      type: "object",
      required: ["state"],
      properties: { state: { type: "string", enum: ["Paused", "Resumed"] } },
    },
    SnapshotCreateParams: {
      type: "object",
      required: ["mem_file_path", "snapshot_path"],
      properties: {
        mem_file_path: str,
        snapshot_path: str,
        snapshot_type: { type: "string", enum: ["Full", "Diff"] },
      },
    },
    MemoryBackend: {
      type: "object",
      required: ["backend_type", "backend_path"],
      properties: { backend_type: { type: "string", enum: ["File", "Uffd"] }, backend_path: str },
    },
    NetworkOverride: {
      type: "object",
      required: ["iface_id", "host_dev_name"],
      properties: { iface_id: str, host_dev_name: str },
    },
    VsockOverride: { type: "object", required: ["uds_path"], properties: { uds_path: str } },
    SnapshotLoadParams: {
      type: "object",
      required: ["snapshot_path"],
      properties: {
        track_dirty_pages: bool,
        mem_backend: ref("MemoryBackend"),
        snapshot_path: str,
        resume_vm: bool,
        network_overrides: { type: "array", items: ref("NetworkOverride") },
        vsock_override: ref("VsockOverride"),
        clock_realtime: bool,
      },
    },
    Error: { type: "object", properties: { fault_message: str } },
  },
} as const satisfies ApiDescription;

/** Fields of the official definitions deliberately left out above, with why. */
export const OMITTED_FIELDS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  MachineConfiguration: { cpu_template: "deprecated static CPU templates; banger sets none" },
  Drive: { socket: "vhost-user drives; banger uses virtio-block files" },
  Vsock: { vsock_id: "deprecated; Firecracker ignores it" },
  SnapshotLoadParams: {
    enable_diff_snapshots: "deprecated alias of track_dirty_pages",
    mem_file_path: "deprecated; banger sends mem_backend (the two are mutually exclusive)",
  },
};

/** Names of the definitions above. */
export type DefinitionName = keyof typeof FIRECRACKER_API.definitions;
/** The field names a definition declares. */
export type FieldsOf<D extends DefinitionName> = keyof (typeof FIRECRACKER_API.definitions)[D]["properties"];
