/** A VM whose VMM is gone (crashed, found dead at a restart, or ended by a suspend the daemon did not finish). */
import { rm } from "node:fs/promises";
import type { Vm } from "../../model/vm.js";
import type { VmmDriver } from "../../vmm/driver.js";
import type { VmServiceDeps } from "./deps.js";
import { lastLines } from "./lastLines.js";
import { vmPaths } from "./views.js";
import type { VmCgroups } from "./vmCgroup.js";

export type GoneState = "crashed" | "stopped" | "suspended";

export interface GoneHost {
  deps: VmServiceDeps;
  cgroups: VmCgroups;
  now: () => Date;
  releaseNetwork(vm: Vm): Promise<void>;
}

/** Free the VM's TAP, sockets and cgroup and record why its VMM is gone, with the console's last lines. */
export async function markVmGone(h: GoneHost, vm: Vm, state: GoneState, why: string): Promise<void> {
  const p = vmPaths(vm.vmDir);
  const tail = await lastLines(p.consoleLog, 10);
  const vmmTail = await lastLines(p.vmmLog, 3);
  const signal = /terminating on signal (\d+)/.exec(vmmTail)?.[1];
  const message = `${why}; last console lines:\n${tail || "(console log empty)"}\nconsole log: ${p.consoleLog}; VMM log: ${p.vmmLog}`;
  await h.releaseNetwork(vm);
  if (vm.vmm) {
    // The driver's stop of a dead VMM removes its sockets and pid file (and a jail).
    const vmm = vm.vmm;
    await h.deps.drivers
      .forName(vmm.driver)
      .stop(vmm, { timeoutMs: 0, keepMemory: state === "suspended" })
      .catch(async (e: Error) => {
        h.deps.log.warn({ vm: vm.name, err: e.message }, "VMM files not cleaned by the driver");
        for (const s of [vmm.controlSocket, vmm.agentSocket]) await rm(s, { force: true });
      });
    await h.cgroups.remove(vm);
  }
  h.deps.store.vms.update(vm.id, {
    state,
    vmm: null,
    network: vm.network ? { ...vm.network, tap: null } : null,
    stoppedAt: h.now(),
    lastError: message,
    exit: state === "suspended" ? null : { code: null, signal: signal ? `signal ${signal}` : null },
  });
  h.deps.log.warn({ vm: vm.name, id: vm.id, state, why }, "vm VMM gone");
}

/** Kill any VMM of the VM's directory that no handle records (a start interrupted after the spawn); the pids killed. */
export async function reapStrayVmms(h: Pick<GoneHost, "deps" | "cgroups">, vm: Vm): Promise<number[]> {
  const killed: number[] = [];
  for (const name of ["qemu", "firecracker"] as const) {
    let d: VmmDriver | undefined;
    try {
      d = h.deps.drivers.forName(name);
    } catch {
      continue; // a provider without this kind of driver
    }
    // A VM with a saved state keeps its RAM file: it is half of that state.
    if (d.reapStray) killed.push(...(await d.reapStray(vm.vmDir, { keepMemory: !!vm.saved })));
  }
  if (killed.length) {
    h.deps.log.warn({ vm: vm.name, id: vm.id, pids: killed }, "killed a VMM no handle recorded");
    await h.cgroups.remove(vm);
  }
  return killed;
}
