import { rm } from "node:fs/promises";
import { BangerError, ErrorCodes, toBangerError } from "../../errors/index.js";
import type { BootTiming, Vm } from "../../model/vm.js";
import type { BootSpec, SavedState, VmmDriver } from "../../vmm/driver.js";
import { faultStep } from "../../vmm/fault.js";
import { runSteps, type Step, type StepTiming } from "../../vmm/steps.js";
import type { KeyedLock } from "../keyedLock.js";
import { vmBootSpec } from "./bootSpec.js";
import type { Progress, VmServiceDeps } from "./deps.js";
import { type GoneState, markVmGone, reapStrayVmms } from "./gone.js";
import { reconcileVms } from "./reconcile.js";
import { rereadVm } from "./reread.js";
import { pickBoot } from "./savedState.js";
import { stageObserver } from "./stageObserver.js";
import { vmPaths } from "./views.js";
import { VmCgroups } from "./vmCgroup.js";

/** Checks a start runs before touching anything (see doctor). */
export const START_PREFLIGHT = ["vmm", "tun", "ip", "debugfs"] as const;

interface StartCtx {
  vm: Vm;
  driver: VmmDriver;
  reason: string;
  tap: string | null;
  timings: StepTiming[];
  /** Moves the paused VMM into the VM's cgroup. */
  attach?: (pid: number) => Promise<void>;
  attached?: boolean;
  /** Undos of a failed start that failed themselves. */
  leftovers: string[];
  /** Resume a suspended VM from its saved state instead of a cold boot. */
  restore?: SavedState;
  /** A fork's clone: its row stays "creating" (StartOptions.clone). */
  clone: boolean;
}

export interface StartOptions {
  /** A suspended VM: throw its saved state away and boot afresh (its disks are kept). */
  discardState?: boolean;
  /**
   * A fork's clone: restored from its saved state while its row stays "creating"
   * (so a daemon killed before the clone has its own identity removes it wholly);
   * the fork marks it running afterwards.
   */
  clone?: boolean;
}

/** A VM a start can boot: not half-created (unless a fork's clone), with disks and an address. */
function checkStartable(vm: Vm, opts: StartOptions): void {
  if (vm.state === "creating" && !opts.clone) {
    throw new BangerError(ErrorCodes.CONFLICT, `VM "${vm.name}" is still being created`, {
      hint: "wait for the create to finish",
    });
  }
  if (!vm.disks || !vm.network) {
    throw new BangerError(
      ErrorCodes.CONFLICT,
      `VM "${vm.name}" has no disks or address (an interrupted create)`,
      {
        hint: `delete it with \`banger vm delete ${vm.name}\` and create it again`,
      },
    );
  }
}

/** Starting and stopping VMs, their network, crash detection and reconcile. */
export class VmLifecycle {
  private readonly now: () => Date;
  private readonly cgroups: VmCgroups;

  constructor(
    private readonly deps: VmServiceDeps,
    private readonly locks: KeyedLock,
  ) {
    this.now = deps.now ?? (() => new Date());
    this.cgroups = new VmCgroups(deps.helper, deps.log);
  }

  isAlive(vm: Vm): boolean {
    return vm.vmm !== null && this.deps.drivers.forName(vm.vmm.driver).isAlive(vm.vmm);
  }

  /** The managed public key into /root/.ssh/authorized_keys on the work disk (create and every start). */
  async writeAuthorizedKey(vm: Vm): Promise<void> {
    if (!vm.disks) throw new BangerError(ErrorCodes.INTERNAL, `VM "${vm.name}" has no disks`);
    const key = await this.deps.sshKey.get();
    await this.deps.disks.writeWorkFiles(vm.disks.work, [
      { path: ".ssh/authorized_keys", content: `${key.publicKey.trim()}\n`, mode: 0o600, uid: 0, gid: 0 },
    ]);
  }

  async start(
    name: string,
    progress: Progress = () => {},
    before: BootTiming[] = [],
    opts: StartOptions = {},
  ): Promise<Vm> {
    const vm0 = this.deps.store.vms.get(name);
    return this.locks.run(vm0.id, () =>
      this.startUnlocked(rereadVm(this.deps.store, vm0).id, progress, before, opts),
    );
  }

  /** Unfreeze a paused VM's vCPUs (a state saved by a suspend that never finished is spent then). */
  private async unpause(vm: Vm): Promise<Vm> {
    const driver = this.deps.drivers.forName(vm.vmm!.driver);
    await driver.snapshots?.resume(vm.vmm!);
    if (vm.saved) await rm(vmPaths(vm.vmDir).stateFile, { force: true });
    this.deps.log.info({ vm: vm.name, id: vm.id }, "vm resumed");
    return this.deps.store.vms.update(vm.id, { state: "running", saved: null });
  }

  async startUnlocked(
    id: string,
    progress: Progress,
    before: BootTiming[],
    opts: StartOptions = {},
  ): Promise<Vm> {
    const { store } = this.deps;
    const vm = store.vms.getById(id);
    if (vm.state === "running" && this.isAlive(vm)) return vm;
    if (vm.state === "paused" && this.isAlive(vm)) return this.unpause(vm);
    checkStartable(vm, opts);
    await this.deps.preflight(START_PREFLIGHT);
    const { driver, reason, restore } = await pickBoot(this.deps, vm, opts);
    const ctx: StartCtx = {
      vm: store.vms.update(id, { state: opts.clone ? "creating" : "starting", lastError: null, exit: null }),
      clone: opts.clone === true,
      driver,
      reason,
      tap: null,
      timings: [],
      leftovers: [],
      ...(restore ? { restore } : {}),
    };
    try {
      const { timings } = await runSteps(this.startSteps(progress), ctx, {
        ...stageObserver("start", progress),
        phase: "start",
        onCleanupError: (step, err) => ctx.leftovers.push(this.cleanupFailed(vm, step, err)),
      });
      const all = [
        ...before,
        ...timings.filter((t) => t.name !== "boot").map((t) => ({ name: `start:${t.name}`, ms: t.ms })),
        ...ctx.timings,
      ];
      const running = store.vms.update(id, { bootTimings: all });
      this.deps.log.info(
        { vm: running.name, id, timings: all, driver: driver.name, restored: !!restore },
        restore ? "vm resumed from its saved state" : "vm started",
      );
      return running;
    } catch (e) {
      const err = toBangerError(e);
      const left = ctx.leftovers.length
        ? `; undo failed (reconcile retries): ${ctx.leftovers.join("; ")}`
        : "";
      // A failed restore keeps the saved state: the VM stays suspended, and can be tried again.
      store.vms.update(id, {
        state: opts.clone ? "creating" : restore ? "suspended" : "error",
        lastError: err.message + left,
        vmm: null,
        network: { ...vm.network!, tap: null },
      });
      this.deps.log.error({ vm: vm.name, id, err: err.message }, "vm start failed");
      throw err;
    }
  }

  private startSteps(progress: Progress): Step<StartCtx>[] {
    const { store, network } = this.deps;
    return [
      {
        name: "ssh-key",
        // A restored guest has the work disk mounted (in its saved memory): never write into it offline.
        run: async (c) => (c.restore ? undefined : this.writeAuthorizedKey(c.vm)),
      },
      {
        name: "network",
        run: async (c, cleanup) => {
          await network.ensureReady();
          const tap = await network.acquireTap();
          cleanup(() => network.releaseTap(tap));
          c.tap = tap;
        },
      },
      { name: "firewall", run: (c, cleanup) => this.firewallStep(c, cleanup) },
      {
        name: "cgroup",
        run: async (c, cleanup) => {
          const attach = await this.cgroups.create(c.vm, c.driver);
          if (attach)
            c.attach = async (pid) => {
              await attach(pid);
              c.attached = true;
            };
          cleanup(() => this.cgroups.remove(c.vm));
        },
      },
      { name: "boot", run: (c) => this.bootStep(c, progress) },
    ];
  }

  /** Boot (or restore) through the driver, with progress; records the VMM and the TAP. */
  private async bootStep(c: StartCtx, progress: Progress): Promise<void> {
    const { store } = this.deps;
    const spec = { ...this.bootSpec(c.vm, c.tap!), ...(c.restore ? { restore: c.restore } : {}) };
    const r = await c.driver.boot(spec, {
      ...(c.attach ? { onVmmStarted: c.attach } : {}),
      onCleanupError: (step, err) => c.leftovers.push(this.cleanupFailed(c.vm, `boot:${step}`, err)),
      onStepStart: (n) =>
        progress({ kind: "progress", stage: `boot:${n}`, phase: "start", message: `boot: ${n}` }),
      onStepDone: (t) =>
        progress({
          kind: "progress",
          stage: `boot:${t.name}`,
          phase: "done",
          message: `boot: ${t.name}`,
          ms: t.ms,
        }),
    });
    c.timings = r.timings.map((t) => ({ name: `boot:${t.name}`, ms: t.ms }));
    // A driver that cannot start its VMM paused (or confines it itself) left the cgroup empty.
    if (c.attach && !c.attached) await this.cgroups.remove(c.vm);
    c.vm = store.vms.update(c.vm.id, {
      state: c.clone ? "creating" : "running",
      driver: c.driver.name,
      driverReason: c.reason,
      vmm: r.handle,
      network: { ...c.vm.network!, tap: c.tap },
      startedAt: this.now(),
      stoppedAt: null,
    });
    if (c.restore) c.vm = await this.afterRestore(c.vm);
  }

  /**
   * The saved state is spent once the guest ran on from it: removed, so a later
   * start can never load stale state. The guest's clock is set from the host.
   */
  private async afterRestore(vm: Vm): Promise<Vm> {
    await rm(vmPaths(vm.vmDir).stateFile, { force: true });
    const cur = this.deps.store.vms.update(vm.id, { saved: null });
    await this.deps.guest
      ?.afterRestore(cur)
      .catch((e: Error) =>
        this.deps.log.warn(
          { vm: vm.name, err: e.message },
          "setting the guest's clock after a restore failed",
        ),
      );
    return cur;
  }

  /** Log an undo that failed, with the step and what it was undoing; returns the line for lastError. */
  private cleanupFailed(vm: Pick<Vm, "id" | "name">, step: string, err: unknown): string {
    const what = err instanceof Error ? err.message : String(err);
    this.deps.log.error({ vm: vm.name, id: vm.id, step, err: what }, "cleanup failed");
    return `undoing step "${step}" failed: ${what}`;
  }

  /** After the VMM of `vm` ended on purpose (suspend): its cgroup and TAP go. */
  async releaseVmm(vm: Vm): Promise<void> {
    await this.cgroups.remove(vm);
    await this.releaseNetwork(vm);
  }

  /** Kill a VMM no handle records (a start interrupted after the spawn); its pids, if any. */
  reapStray(vm: Vm): Promise<number[]> {
    return reapStrayVmms({ deps: this.deps, cgroups: this.cgroups }, vm);
  }

  /** The VM's policy is in force before its guest runs: its TAP is recorded, then the firewall re-applied. */
  private async firewallStep(c: StartCtx, cleanup: (fn: () => Promise<void> | void) => void): Promise<void> {
    const fw = this.deps.firewall;
    if (!fw || !c.vm.network || !c.tap) return;
    c.vm = this.deps.store.vms.update(c.vm.id, { network: { ...c.vm.network, tap: c.tap } });
    cleanup(async () => {
      await fw
        .sync(c.vm.id)
        .catch((e: Error) => this.deps.log.warn({ err: e.message }, "firewall re-apply failed"));
    });
    await fw.sync();
  }

  bootSpec(vm: Vm, tap: string): BootSpec {
    return vmBootSpec(this.deps, vm, tap);
  }

  async stop(name: string, timeoutMs?: number): Promise<Vm> {
    const vm0 = this.deps.store.vms.get(name);
    return this.locks.run(vm0.id, async () => {
      let vm = rereadVm(this.deps.store, vm0);
      // A suspended guest still holds writes it has not made: it runs again, then shuts down cleanly.
      if (vm.state === "suspended" && vm.saved) vm = await this.startUnlocked(vm.id, () => {}, []);
      return this.stopUnlocked(vm, timeoutMs);
    });
  }

  /** Stop (graceful, then kill after the timeout) and give the TAP back. Idempotent. */
  async stopUnlocked(vm: Vm, timeoutMs = this.deps.stopTimeoutMs ?? 10_000): Promise<Vm> {
    const { store } = this.deps;
    if (vm.state === "creating") {
      throw new BangerError(ErrorCodes.CONFLICT, `VM "${vm.name}" is still being created`);
    }
    if (vm.vmm) {
      const handle = vm.vmm;
      // A paused guest cannot shut down cleanly: it runs again first.
      if (vm.state === "paused" && timeoutMs > 0 && this.isAlive(vm))
        await this.unpause(vm).catch(() => undefined);
      store.vms.update(vm.id, { state: "stopping" });
      await faultStep("stop", "vmm", () =>
        this.deps.drivers.forName(handle.driver).stop(handle, { timeoutMs }),
      );
      await faultStep("stop", "cgroup", () => this.cgroups.remove(vm));
    }
    await faultStep("stop", "network", () => this.releaseNetwork(vm));
    const stopped = await faultStep("stop", "record", () =>
      store.vms.update(vm.id, {
        state: vm.state === "crashed" || vm.state === "error" ? vm.state : "stopped",
        vmm: null,
        network: vm.network ? { ...vm.network, tap: null } : null,
        stoppedAt: vm.vmm ? this.now() : vm.stoppedAt,
      }),
    );
    if (vm.vmm) this.deps.log.info({ vm: vm.name, id: vm.id }, "vm stopped");
    return stopped.state === "stopped" ? stopped : store.vms.update(vm.id, { state: "stopped" });
  }

  async restart(name: string, progress: Progress = () => {}, timeoutMs?: number): Promise<Vm> {
    const vm0 = this.deps.store.vms.get(name);
    return this.locks.run(vm0.id, async () => {
      await this.stopUnlocked(rereadVm(this.deps.store, vm0), timeoutMs);
      return this.startUnlocked(vm0.id, progress, []);
    });
  }

  /** Give the TAP back and drop the VM from the firewall (a firewall failure is logged: the TAP is gone either way). */
  async releaseNetwork(vm: Vm): Promise<void> {
    if (!vm.network?.tap) return;
    await this.deps.network.releaseTap(vm.network.tap);
    await this.deps.firewall
      ?.sync(vm.id)
      .catch((e: Error) => this.deps.log.warn({ vm: vm.name, err: e.message }, "firewall re-apply failed"));
  }

  /** A running VM whose VMM is gone: crashed, with the console's last lines. Skips VMs busy in an operation. */
  async checkCrashes(): Promise<string[]> {
    const { store } = this.deps;
    const crashed: string[] = [];
    for (const vm of store.vms.list({ skipCorrupt: true }).items) {
      const up = vm.state === "running" || vm.state === "paused";
      if (!up || !vm.vmm || this.locks.busy(vm.id) || this.isAlive(vm)) continue;
      await this.locks.run(vm.id, async () => {
        const cur = store.vms.getById(vm.id);
        if ((cur.state !== "running" && cur.state !== "paused") || !cur.vmm || this.isAlive(cur)) return;
        await this.markGone(cur, "crashed", "the VMM process exited unexpectedly");
        crashed.push(cur.name);
      });
    }
    return crashed;
  }

  /** Record a VM whose VMM is gone (see gone.ts). */
  markGone(vm: Vm, state: GoneState, why: string): Promise<void> {
    return markVmGone(
      {
        deps: this.deps,
        cgroups: this.cgroups,
        now: this.now,
        releaseNetwork: (v) => this.releaseNetwork(v),
      },
      vm,
      state,
      why,
    );
  }

  /** After a daemon (re)start (see reconcileVms). */
  reconcile(): Promise<{ adopted: string[]; stopped: string[]; removed: string[] }> {
    return reconcileVms({
      deps: this.deps,
      cgroups: this.cgroups,
      isAlive: (vm) => this.isAlive(vm),
      reapStray: (vm) => this.reapStray(vm),
      markGone: (vm, state, why) => this.markGone(vm, state, why),
    });
  }
}
