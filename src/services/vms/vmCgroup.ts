/**
 * A VM's cgroup, through the privileged helper: created before the VMM
 * starts, the paused VMM moved in (so guest memory is charged there), removed
 * when the VM stops or is found gone. Without a helper (tests that do not
 * care) every step is skipped.
 */
import type { CgroupLimits, PrivilegedHelper } from "../../helper/protocol.js";
import type { Vm } from "../../model/vm.js";
import type { VmmDriver } from "../../vmm/driver.js";
import type { ServiceLog } from "./deps.js";

const MIB = 1024 * 1024;

/** VMM threads: QEMU's block thread pool (up to 64), main, RCU, I/O and one per vCPU; measured 5 for 1 vCPU at idle. */
export const VMM_PIDS_BASE = 128;
/** Overhead assumed for a driver that does not say (MiB). */
export const DEFAULT_VMM_OVERHEAD_MIB = 256;

/** Memory = guest RAM + the VMM's measured overhead; pids = a bounded thread count; CPU quota = the vCPUs. */
export function cgroupLimitsFor(vm: Pick<Vm, "spec">, driver: VmmDriver): CgroupLimits {
  const overhead = driver.vmmOverheadMib?.() ?? DEFAULT_VMM_OVERHEAD_MIB;
  return {
    memoryBytes: (vm.spec.memoryMib + overhead) * MIB,
    pids: VMM_PIDS_BASE + 2 * vm.spec.vcpu,
    cpus: vm.spec.vcpu,
  };
}

export class VmCgroups {
  constructor(
    private readonly helper: PrivilegedHelper | undefined,
    private readonly log: ServiceLog,
  ) {}

  /** Create the VM's cgroup; returns the hook that moves the paused VMM in (undefined without a helper). */
  async create(vm: Vm, driver: VmmDriver): Promise<((pid: number) => Promise<void>) | undefined> {
    const helper = this.helper;
    if (!helper) return undefined;
    await helper.call("cgroup.create", { vm: vm.id, limits: cgroupLimitsFor(vm, driver) });
    return async (pid) => {
      await helper.call("cgroup.attach", { vm: vm.id, pid });
    };
  }

  /**
   * An adopted VM (after a daemon restart): make sure its running VMM is in its
   * cgroup with today's limits (a VMM from before cgroups gets one). Logged, never thrown.
   */
  async adopt(vm: Vm, driver: VmmDriver): Promise<void> {
    if (!vm.vmm) return;
    const pid = vm.vmm.pid;
    await this.create(vm, driver)
      .then((attach) => attach?.(pid))
      .catch((e: Error) =>
        this.log.warn({ vm: vm.name, id: vm.id, err: e.message }, "vm cgroup not adopted"),
      );
  }

  /** Remove the VM's cgroup; a failure is logged, never thrown (the VM is already stopped). */
  async remove(vm: Pick<Vm, "id" | "name">): Promise<void> {
    if (!this.helper) return;
    await this.helper.call("cgroup.remove", { vm: vm.id }).catch((e: Error) => {
      this.log.warn({ vm: vm.name, id: vm.id, err: e.message }, "vm cgroup not removed");
    });
  }
}
