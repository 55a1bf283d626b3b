import { statSync } from "node:fs";
import path from "node:path";
import type { VmView } from "../../api/vms.js";
import { type Image, readinessOf } from "../../model/image.js";
import type { Vm } from "../../model/vm.js";

export function vmPaths(vmDir: string) {
  return {
    /** The log writer's directory: the VMM's user owns it (its logger renames files there). */
    logDir: path.join(vmDir, "logs"),
    consoleLog: path.join(vmDir, "logs", "console.log"),
    vmmLog: path.join(vmDir, "logs", "vmm.log"),
    knownHosts: path.join(vmDir, "known_hosts"),
    /** Guest RAM (QEMU: always; Firecracker: while suspended). Mode 0600: it holds the guest's secrets. */
    memoryFile: path.join(vmDir, "memory.raw"),
    /** The VMM's saved device state while the VM is suspended. */
    stateFile: path.join(vmDir, "state.bin"),
  };
}

/** Bytes a file takes on disk (allocated blocks), 0 when absent. */
function allocatedBytes(file: string): number {
  try {
    return statSync(file).blocks * 512;
  } catch {
    return 0;
  }
}

function savedView(vm: Vm): VmView["saved"] {
  if (!vm.saved) return null;
  const p = vmPaths(vm.vmDir);
  return { ...vm.saved, diskBytes: allocatedBytes(p.stateFile) + allocatedBytes(p.memoryFile) };
}

export function toVmView(
  vm: Vm,
  image: Pick<Image, "id" | "name" | "capabilities"> | undefined,
  now: Date,
): VmView {
  const caps = image?.capabilities ?? null;
  const p = vmPaths(vm.vmDir);
  const running = vm.state === "running" && vm.startedAt !== null;
  return {
    id: vm.id,
    name: vm.name,
    state: vm.state,
    image: {
      id: vm.imageId,
      name: image?.name ?? "(deleted)",
      capabilities: caps,
      readiness: caps ? readinessOf(caps) : null,
    },
    spec: { ...vm.spec },
    driver: vm.driver,
    acceleration: vm.vmm?.acceleration ?? null,
    driverReason: vm.driverReason,
    pid: vm.vmm?.pid ?? null,
    ip: vm.network?.ip ?? null,
    mac: vm.network?.mac ?? null,
    tap: vm.network?.tap ?? null,
    cid: vm.cid,
    rootMode: vm.disks?.rootMode ?? null,
    paths: {
      vmDir: vm.vmDir,
      consoleLog: p.consoleLog,
      vmmLog: p.vmmLog,
      workDisk: vm.disks?.work ?? path.join(vm.vmDir, "work.ext4"),
      rootDisk: vm.disks?.root.path ?? null,
      cowDisk: vm.disks?.cow ?? null,
      controlSocket: vm.vmm?.controlSocket ?? null,
      agentSocket: vm.vmm?.agentSocket ?? null,
    },
    createdAt: vm.createdAt.toISOString(),
    startedAt: vm.startedAt?.toISOString() ?? null,
    stoppedAt: vm.stoppedAt?.toISOString() ?? null,
    uptimeSec:
      running && vm.startedAt
        ? Math.max(0, Math.round((now.getTime() - vm.startedAt.getTime()) / 1000))
        : null,
    lastError: vm.lastError,
    saved: savedView(vm),
    ...(vm.autoSuspendMs !== undefined ? { autoSuspendAfterMs: vm.autoSuspendMs || null } : {}),
    ...(vm.pool ? { pool: true } : {}),
    exit: vm.exit,
    bootTimings: vm.bootTimings,
  };
}
