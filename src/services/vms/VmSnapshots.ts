/**
 * Pause, resume and suspend: a paused VM keeps its vCPUs frozen in memory; a
 * suspended one has its state saved in its directory (the VMM's device state
 * plus the guest's RAM file) and no VMM at all, so it costs disk, not RAM.
 * `vm start` (or `vm resume`) of a suspended VM restores it (VmLifecycle).
 * Fork lives in fork.ts.
 */
import { rm } from "node:fs/promises";
import { BangerError, ErrorCodes, toBangerError } from "../../errors/index.js";
import type { SavedStateInfo, Vm } from "../../model/vm.js";
import type { BootSpec, VmmDriver, VmmHandle, VmmSnapshots } from "../../vmm/driver.js";
import { faultStep } from "../../vmm/fault.js";
import type { KeyedLock } from "../keyedLock.js";
import type { Progress, VmServiceDeps } from "./deps.js";
import { savedFiles } from "./savedState.js";
import type { VmLifecycle } from "./VmLifecycle.js";

export type SnapshotVm = Vm & { vmm: VmmHandle; network: NonNullable<Vm["network"]> };

/** A VM whose VMM runs (running or paused), with a driver that can save its state. */
export function snapshotable(
  deps: VmServiceDeps,
  isAlive: (vm: Vm) => boolean,
  vm: Vm,
  what: string,
): { vm: SnapshotVm; driver: VmmDriver & { snapshots: VmmSnapshots } } {
  if ((vm.state !== "running" && vm.state !== "paused") || !vm.vmm || !vm.network || !isAlive(vm)) {
    throw new BangerError(
      ErrorCodes.CONFLICT,
      `VM "${vm.name}" is ${vm.state}; only a running VM can be ${what}`,
      {
        hint:
          vm.state === "suspended"
            ? `resume it first: banger vm resume ${vm.name}`
            : `start it: banger vm start ${vm.name}`,
      },
    );
  }
  const driver = deps.drivers.forName(vm.vmm.driver);
  if (!driver.snapshots) {
    throw new BangerError(ErrorCodes.CONFLICT, `the ${driver.name} driver cannot save a VM's state`);
  }
  return { vm: vm as SnapshotVm, driver: driver as VmmDriver & { snapshots: VmmSnapshots } };
}

export class VmSnapshots {
  private readonly now: () => Date;

  constructor(
    private readonly deps: VmServiceDeps,
    private readonly locks: KeyedLock,
    private readonly lifecycle: VmLifecycle,
  ) {
    this.now = deps.now ?? (() => new Date());
  }

  private withVm<T>(name: string, fn: (vm: Vm) => Promise<T>): Promise<T> {
    const id = this.deps.store.vms.get(name).id;
    return this.locks.run(id, () => fn(this.deps.store.vms.getById(id)));
  }

  /** Freeze the vCPUs; the VM keeps its RAM, TAP and address. Idempotent. */
  pause(name: string): Promise<Vm> {
    return this.withVm(name, async (cur) => {
      if (cur.state === "paused" && this.lifecycle.isAlive(cur)) return cur;
      const { vm, driver } = snapshotable(this.deps, (v) => this.lifecycle.isAlive(v), cur, "paused");
      await driver.snapshots.pause(vm.vmm);
      this.deps.log.info({ vm: vm.name, id: vm.id }, "vm paused");
      return this.deps.store.vms.update(vm.id, { state: "paused" });
    });
  }

  /** A paused VM runs on; a suspended one is restored from its saved state. */
  resume(name: string, progress: Progress = () => {}): Promise<Vm> {
    return this.withVm(name, async (vm) => {
      if (vm.state === "running" && this.lifecycle.isAlive(vm)) return vm;
      if (vm.state !== "paused" && vm.state !== "suspended") {
        throw new BangerError(
          ErrorCodes.CONFLICT,
          `VM "${vm.name}" is ${vm.state}, not paused or suspended`,
          {
            hint: `start it with \`banger vm start ${vm.name}\``,
          },
        );
      }
      return this.lifecycle.startUnlocked(vm.id, progress, []);
    });
  }

  /**
   * Save the VM's state into its directory and end its VMM: the guest's
   * filesystems are synced first (through the agent), so the disks are
   * consistent on their own too. A failure before the VMM ends leaves the VM
   * running as it was.
   */
  suspend(name: string, progress: Progress = () => {}, opts: { auto?: boolean } = {}): Promise<Vm> {
    return this.withVm(name, async (cur) => {
      if (cur.state === "suspended") return cur;
      const { vm, driver } = snapshotable(this.deps, (v) => this.lifecycle.isAlive(v), cur, "suspended");
      const t0 = performance.now();
      const spec = this.lifecycle.bootSpec(vm, vm.network.tap ?? "");
      const saved = await this.saveInPlace(vm, driver, spec, progress, opts.auto === true);
      await faultStep("suspend", "vmm", () => driver.stop(vm.vmm, { timeoutMs: 0, keepMemory: true }));
      await faultStep("suspend", "release", () => this.lifecycle.releaseVmm(vm));
      const done = await faultStep("suspend", "record", async () =>
        this.deps.store.vms.update(vm.id, {
          state: "suspended",
          vmm: null,
          network: { ...vm.network, tap: null },
          stoppedAt: this.now(),
        }),
      );
      const ms = Math.round(performance.now() - t0);
      this.deps.log.info({ vm: vm.name, id: vm.id, ms, stateBytes: saved.stateBytes }, "vm suspended");
      return done;
    });
  }

  /** Sync, pause, save; on failure the VM runs on (or stays paused, as it was) and no state file is left. */
  private async saveInPlace(
    vm: SnapshotVm,
    driver: VmmDriver & { snapshots: VmmSnapshots },
    spec: BootSpec,
    progress: Progress,
    auto: boolean,
  ): Promise<SavedStateInfo> {
    const wasRunning = vm.state === "running";
    const stage = (s: string) =>
      progress({ kind: "progress", stage: `suspend:${s}`, phase: "info", message: s });
    if (wasRunning) {
      stage("syncing the guest's filesystems");
      await faultStep("suspend", "sync", () => this.syncGuest(vm));
    }
    await faultStep("suspend", "pause", () => driver.snapshots.pause(vm.vmm));
    this.deps.store.vms.update(vm.id, { state: "paused" });
    try {
      stage("saving the VM's state");
      const { bytes } = await faultStep("suspend", "save", () =>
        driver.snapshots.saveState(vm.vmm, spec, savedFiles(vm)),
      );
      const saved: SavedStateInfo = {
        driver: driver.name,
        acceleration: driver.acceleration,
        vmmVersion: await driver.snapshots.vmmVersion(),
        stateBytes: bytes,
        savedAt: this.now().toISOString(),
        ...(auto ? { auto: true } : {}),
      };
      this.deps.store.vms.update(vm.id, { saved });
      return saved;
    } catch (e) {
      await rm(savedFiles(vm).stateFile, { force: true });
      this.deps.store.vms.update(vm.id, {
        saved: null,
        lastError: `suspend failed: ${toBangerError(e).message}`,
      });
      if (wasRunning) {
        await driver.snapshots.resume(vm.vmm).catch(() => undefined);
        this.deps.store.vms.update(vm.id, { state: "running" });
      }
      throw e;
    }
  }

  /** Flush the guest's filesystems; a guest without the agent (or one that does not answer) is saved as it is. */
  async syncGuest(vm: Vm): Promise<void> {
    await this.deps.guest?.sync(vm).catch((e: Error) => {
      this.deps.log.warn({ vm: vm.name, err: e.message }, "guest sync before saving its state failed");
    });
  }
}
