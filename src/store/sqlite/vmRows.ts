/** VM rows: model <-> column values. The VMM handle and network lease are column groups, all set or all NULL. */
import {
  type BootTiming,
  DRIVER_NAMES,
  MIN_GUEST_CID,
  type SavedStateInfo,
  VM_STATES,
  type Vm,
  type VmDisksRecord,
  type VmEgress,
  type VmExit,
} from "../../model/index.js";
import type { Acceleration, VmmHandle } from "../../vmm/driver.js";
import type { RowReader } from "./rowReader.js";
import { iso, isoOrNull, type Params } from "./rows.js";

const ACCELERATIONS: readonly Acceleration[] = ["kvm", "tcg"];
const VMM_COLUMNS = ["vmm_driver", "vmm_pid", "vmm_control_socket", "vmm_agent_socket", "vmm_acceleration"];
const NET_COLUMNS = ["net_ip", "net_mac"];

function isExit(v: unknown): v is VmExit {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  return (
    (o.code === null || Number.isInteger(o.code)) &&
    (o.signal === null || typeof o.signal === "string") &&
    Object.keys(o).length === 2
  );
}

function isDisks(v: unknown): v is VmDisksRecord {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  const root = o.root as Record<string, unknown> | undefined;
  return (
    typeof root === "object" &&
    root !== null &&
    typeof root.path === "string" &&
    typeof root.readOnly === "boolean" &&
    (o.cow === null || typeof o.cow === "string") &&
    typeof o.work === "string" &&
    (o.rootMode === "reflink" || o.rootMode === "overlay")
  );
}

const EGRESS_MODES = ["none", "public", "allow"];
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string");

function isEgress(v: unknown): v is VmEgress {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  return EGRESS_MODES.includes(o.mode as string) && isStrings(o.domains) && isStrings(o.peers);
}

function isTimings(v: unknown): v is BootTiming[] {
  return (
    Array.isArray(v) &&
    v.every(
      (t: unknown) =>
        typeof t === "object" &&
        t !== null &&
        typeof (t as BootTiming).name === "string" &&
        typeof (t as BootTiming).ms === "number",
    )
  );
}

export function vmToParams(vm: Vm): Params {
  return {
    id: vm.id,
    name: vm.name,
    state: vm.state,
    vcpu: vm.spec.vcpu,
    memory_mib: vm.spec.memoryMib,
    disk_size_bytes: vm.spec.diskSizeBytes,
    image_id: vm.imageId,
    driver: vm.driver,
    driver_reason: vm.driverReason,
    disks: vm.disks === null ? null : JSON.stringify(vm.disks),
    vmm_driver: vm.vmm?.driver ?? null,
    vmm_pid: vm.vmm?.pid ?? null,
    vmm_control_socket: vm.vmm?.controlSocket ?? null,
    vmm_agent_socket: vm.vmm?.agentSocket ?? null,
    vmm_acceleration: vm.vmm?.acceleration ?? null,
    net_ip: vm.network?.ip ?? null,
    net_mac: vm.network?.mac ?? null,
    net_tap: vm.network?.tap ?? null,
    cid: vm.cid,
    vm_dir: vm.vmDir,
    created_at: iso(vm.createdAt),
    updated_at: iso(vm.updatedAt),
    started_at: isoOrNull(vm.startedAt),
    stopped_at: isoOrNull(vm.stoppedAt),
    last_error: vm.lastError,
    exit_info: vm.exit === null ? null : JSON.stringify({ code: vm.exit.code, signal: vm.exit.signal }),
    boot_timings:
      vm.bootTimings === null
        ? null
        : JSON.stringify(vm.bootTimings.map((t) => ({ name: t.name, ms: t.ms }))),
    egress: vm.egress
      ? JSON.stringify({ mode: vm.egress.mode, domains: vm.egress.domains, peers: vm.egress.peers })
      : null,
    saved_state: vm.saved ? JSON.stringify(vm.saved) : null,
    pool: vm.pool ?? null,
    auto_suspend_ms: vm.autoSuspendMs ?? null,
  };
}

function readVmm(r: RowReader): VmmHandle | null {
  if (r.allNull(VMM_COLUMNS)) return null;
  return {
    driver: r.oneOf("vmm_driver", DRIVER_NAMES),
    pid: r.int("vmm_pid", 1),
    controlSocket: r.text("vmm_control_socket"),
    agentSocket: r.text("vmm_agent_socket"),
    acceleration: r.oneOf("vmm_acceleration", ACCELERATIONS),
  };
}

export function readVm(r: RowReader): Vm {
  return {
    id: r.text("id"),
    name: r.text("name"),
    state: r.oneOf("state", VM_STATES),
    spec: {
      vcpu: r.int("vcpu", 1),
      memoryMib: r.int("memory_mib", 1),
      diskSizeBytes: r.int("disk_size_bytes"),
    },
    imageId: r.text("image_id"),
    driver: r.oneOfOrNull("driver", DRIVER_NAMES),
    driverReason: r.textOrNull("driver_reason"),
    disks: r.json("disks", isDisks, "an object {root, cow, work, rootMode}"),
    vmm: readVmm(r),
    network: r.allNull(NET_COLUMNS)
      ? null
      : { ip: r.text("net_ip"), mac: r.text("net_mac"), tap: r.textOrNull("net_tap") },
    cid: r.int("cid", MIN_GUEST_CID),
    vmDir: r.text("vm_dir"),
    createdAt: r.date("created_at"),
    updatedAt: r.date("updated_at"),
    startedAt: r.dateOrNull("started_at"),
    stoppedAt: r.dateOrNull("stopped_at"),
    lastError: r.textOrNull("last_error"),
    exit: r.json("exit_info", isExit, "an object {code, signal}"),
    bootTimings: r.json("boot_timings", isTimings, "an array of {name, ms}"),
    ...egressField(r.json("egress", isEgress, "an object {mode, domains, peers}")),
    ...poolField(r.textOrNull("pool")),
    ...autoSuspendField(r.intOrNull("auto_suspend_ms")),
    ...savedField(
      r.json("saved_state", isSaved, "an object {driver, acceleration, vmmVersion, stateBytes, savedAt}"),
    ),
  };
}

function isSaved(v: unknown): v is SavedStateInfo {
  const s = v as SavedStateInfo;
  return (
    typeof v === "object" &&
    v !== null &&
    (DRIVER_NAMES as readonly string[]).includes(s.driver) &&
    (s.acceleration === "kvm" || s.acceleration === "tcg") &&
    typeof s.vmmVersion === "string" &&
    typeof s.stateBytes === "number" &&
    typeof s.savedAt === "string" &&
    (s.auto === undefined || typeof s.auto === "boolean")
  );
}

function autoSuspendField(ms: number | null): { autoSuspendMs?: number } {
  return ms === null ? {} : { autoSuspendMs: ms };
}

function poolField(key: string | null): { pool?: string } {
  return key ? { pool: key } : {};
}

function savedField(s: SavedStateInfo | null): { saved?: SavedStateInfo } {
  return s ? { saved: s } : {};
}

function egressField(e: VmEgress | null): { egress?: VmEgress } {
  return e ? { egress: e } : {};
}
