/**
 * A suspended VM's saved state: whether this host can load it, and throwing
 * it away. The files live in the VM's directory (views.ts vmPaths): the
 * VMM's device state (state.bin) and the guest's RAM (memory.raw).
 */
import { rm } from "node:fs/promises";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { Vm } from "../../model/vm.js";
import type { Store } from "../../store/Store.js";
import type { SavedState, VmmDriver } from "../../vmm/driver.js";
import type { DriverProvider, VmServiceDeps } from "./deps.js";
import { vmPaths } from "./views.js";

export function savedFiles(vm: Pick<Vm, "vmDir">): SavedState {
  const p = vmPaths(vm.vmDir);
  return { stateFile: p.stateFile, memoryFile: p.memoryFile };
}

function unusable(vm: Vm, why: string): BangerError {
  return new BangerError(ErrorCodes.CONFLICT, `VM "${vm.name}"'s saved state cannot be loaded here: ${why}`, {
    hint: `\`banger vm start ${vm.name} --discard-state\` boots it afresh (its disks are kept; what was in its memory is lost)`,
  });
}

/** The driver that can load the VM's saved state: the same VMM, version and accelerator that wrote it. */
export async function restorableState(
  vm: Vm,
  drivers: DriverProvider,
): Promise<{ driver: VmmDriver; reason: string; restore: SavedState }> {
  const saved = vm.saved!;
  let driver: VmmDriver;
  try {
    driver = drivers.forName(saved.driver);
  } catch {
    throw unusable(vm, `it was saved by ${saved.driver}, which this host cannot run`);
  }
  if (!driver.snapshots) throw unusable(vm, `the ${saved.driver} driver cannot load saved states`);
  if (driver.acceleration !== saved.acceleration) {
    throw unusable(
      vm,
      `it was saved under ${saved.acceleration}, and ${saved.driver} now runs with ${driver.acceleration}`,
    );
  }
  const version = await driver.snapshots.vmmVersion();
  if (version !== saved.vmmVersion) {
    throw unusable(vm, `it was saved by "${saved.vmmVersion}", and this host has "${version}"`);
  }
  return { driver, reason: `resuming the state saved at ${saved.savedAt}`, restore: savedFiles(vm) };
}

/** Remove the saved state (files and record); the VM is then simply stopped. */
export async function discardSavedState(store: Store, vm: Vm): Promise<Vm> {
  const f = savedFiles(vm);
  await rm(f.stateFile, { force: true });
  await rm(f.memoryFile, { force: true });
  return store.vms.update(vm.id, { saved: null, state: vm.state === "suspended" ? "stopped" : vm.state });
}

/** How a start boots: cold, or from the saved state of a suspended VM or a fork's clone (whose VMM must match). */
export async function pickBoot(
  deps: Pick<VmServiceDeps, "store" | "drivers">,
  vm: Vm,
  opts: { discardState?: boolean; clone?: boolean },
): Promise<{ driver: VmmDriver; reason: string; restore?: SavedState }> {
  if ((vm.state === "suspended" || opts.clone) && vm.saved) {
    if (!opts.discardState) return restorableState(vm, deps.drivers);
    await discardSavedState(deps.store, vm);
  }
  return deps.drivers.select();
}
