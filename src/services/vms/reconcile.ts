import { access, readdir, rm } from "node:fs/promises";
import path from "node:path";
import { isValidId } from "../../model/ids.js";
import type { Vm } from "../../model/vm.js";
import type { VmServiceDeps } from "./deps.js";
import { savedFiles } from "./savedState.js";
import type { VmCgroups } from "./vmCgroup.js";

/** What reconcile needs from the lifecycle (kept apart so neither file imports the other's class). */
export interface ReconcileHost {
  deps: VmServiceDeps;
  cgroups: VmCgroups;
  isAlive(vm: Vm): boolean;
  /** Kill a VMM of the VM's directory that no handle records; the pids killed. */
  reapStray(vm: Vm): Promise<number[]>;
  /** Free the VM's TAP, sockets and cgroup and record why its VMM is gone. */
  markGone(vm: Vm, state: "crashed" | "stopped" | "suspended", why: string): Promise<void>;
}

/**
 * After a daemon (re)start: adopt VMs whose VMM still runs, mark the others
 * stopped with the reason (killing a VMM that no handle records: a daemon
 * killed mid-start), drop rows of interrupted creates, remove VM directories
 * without a row (an interrupted delete), and give orphaned TAPs back.
 */
export async function reconcileVms(
  h: ReconcileHost,
): Promise<{ adopted: string[]; stopped: string[]; removed: string[] }> {
  const { store, network } = h.deps;
  const out = { adopted: [] as string[], stopped: [] as string[], removed: [] as string[] };
  const vms = store.vms.list({ skipCorrupt: true }).items;
  for (const vm of vms) {
    if (vm.state === "creating") {
      await removeInterruptedCreate(h, vm);
      out.removed.push(vm.name);
    } else if (vm.vmm && h.isAlive(vm)) {
      const driver = h.deps.drivers.forName(vm.vmm.driver);
      // A VM the user paused stays paused; one frozen by a suspend or fork the daemon did not
      // finish runs on (a no-op for a running VMM).
      if (vm.state !== "paused") {
        await driver.snapshots?.resume(vm.vmm).catch((e: Error) => {
          h.deps.log.warn({ vm: vm.name, err: e.message }, "could not resume an adopted VM's vCPUs");
        });
        if (vm.state !== "running") store.vms.update(vm.id, { state: "running" });
      }
      await h.cgroups.adopt(vm, driver);
      out.adopted.push(vm.name);
    } else if (await settleUnadopted(h, vm)) {
      out.stopped.push(vm.name);
    }
  }
  await removeOrphanDirs(h, new Set(vms.map((v) => v.id)));
  // With no VM left, idle TAPs of an earlier daemon (killed after a delete) still need
  // taking back, or the next start makes new ones beside them: whenever the bridge exists.
  if (vms.length > 0 || (await network.status().catch(() => null))?.bridgeUp) {
    const inUse = new Set(
      store.vms
        .list({ skipCorrupt: true })
        .items.map((v) => v.network?.tap)
        .filter((t): t is string => !!t),
    );
    await network.reconcile(inUse);
  }
  return out;
}

async function removeInterruptedCreate(h: ReconcileHost, vm: Vm): Promise<void> {
  await h.reapStray(vm);
  if (vm.disks) await h.deps.disks.remove(vm.disks).catch(() => undefined);
  await rm(vm.vmDir, { recursive: true, force: true });
  h.deps.store.vms.delete(vm.id);
}

/** A VM whose recorded VMM is not running: stray VMM killed, TAP and cgroup freed. True when it was marked stopped. */
async function settleUnadopted(h: ReconcileHost, vm: Vm): Promise<boolean> {
  const resting = vm.state === "stopped" || vm.state === "crashed" || vm.state === "suspended";
  if (resting && !vm.vmm && !vm.network?.tap) return false;
  const reaped = await h.reapStray(vm);
  if (vm.saved && (await savedComplete(vm))) {
    // A suspend whose state was saved before the daemon died: the VM is suspended, not lost.
    await h.markGone(
      vm,
      "suspended",
      "the daemon stopped while suspending this VM; its state had been saved",
    );
    return false;
  }
  if (vm.saved) {
    // Killed while saving: the partial state is no state at all.
    const f = savedFiles(vm);
    await rm(f.stateFile, { force: true });
    await rm(f.memoryFile, { force: true });
    h.deps.store.vms.update(vm.id, { saved: null });
  }
  // A start killed after its cgroup step left the cgroup without a VMM.
  if (!vm.vmm && !reaped.length && vm.state !== "stopped" && vm.state !== "crashed")
    await h.cgroups.remove(vm);
  if (vm.vmm || vm.network?.tap || reaped.length) {
    const why = reaped.length
      ? `the daemon stopped during an operation on this VM; its VMM (pid ${reaped.join(", ")}) was killed`
      : "the VMM was gone when the daemon started";
    await h.markGone(vm, "stopped", why);
    return true;
  }
  if (vm.state === "starting" || vm.state === "stopping") {
    h.deps.store.vms.update(vm.id, { state: "stopped" });
  }
  return false;
}

/** VM directories no row owns (a delete or create interrupted after the row went): VMM killed, removed. */
async function removeOrphanDirs(h: ReconcileHost, ids: Set<string>): Promise<void> {
  const dir = h.deps.vmsDir;
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const id of names) {
    if (id.startsWith(".fork-")) {
      // A fork's template (state, RAM and disk copies) whose daemon died: no fork runs at start.
      await rm(path.join(dir, id), { recursive: true, force: true });
      h.deps.log.warn({ dir: path.join(dir, id) }, "removed an interrupted fork's template");
      continue;
    }
    if (ids.has(id) || !isValidId(id)) continue;
    const vm = { id, name: id, vmDir: path.join(dir, id) } as Vm;
    await h.reapStray(vm);
    await h.cgroups.remove(vm);
    await rm(vm.vmDir, { recursive: true, force: true });
    h.deps.log.warn({ id, dir: vm.vmDir }, "removed a VM directory without a row");
  }
}

/** Both saved-state files are there (the state file is renamed into place only when complete). */
async function savedComplete(vm: Vm): Promise<boolean> {
  const f = savedFiles(vm);
  try {
    await access(f.stateFile);
    await access(f.memoryFile);
    return true;
  } catch {
    return false;
  }
}
