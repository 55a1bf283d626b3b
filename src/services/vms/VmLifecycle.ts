import { open, rm } from "node:fs/promises";
import { BangerError, ErrorCodes, toBangerError } from "../../errors/index.js";
import type { BootTiming, Vm } from "../../model/vm.js";
import type { BootSpec, SavedState, VmmDriver } from "../../vmm/driver.js";
import { faultStep } from "../../vmm/fault.js";
import { runSteps, type Step, type StepTiming } from "../../vmm/steps.js";
import type { KeyedLock } from "../keyedLock.js";
import type { Progress, VmServiceDeps } from "./deps.js";
import { drivesFor, guestKernelArgs } from "./kernelArgs.js";
import { reconcileVms } from "./reconcile.js";
import { rereadVm } from "./reread.js";
import { discardSavedState, restorableState } from "./savedState.js";
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

  /** How a start boots: cold, or from the saved state of a suspended VM (whose VMM must match). */
  private async pickBoot(
    vm: Vm,
    opts: StartOptions,
  ): Promise<{ driver: VmmDriver; reason: string; restore?: SavedState }> {
    if ((vm.state === "suspended" || opts.clone) && vm.saved) {
      if (opts.discardState) {
        await discardSavedState(this.deps.store, vm);
      } else {
        return restorableState(vm, this.deps.drivers);
      }
    }
    return this.deps.drivers.select();
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
    await this.deps.preflight(START_PREFLIGHT);
    const { driver, reason, restore } = await this.pickBoot(vm, opts);
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
        network: { ...vm.network, tap: null },
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
      {
        name: "boot",
        run: async (c) => {
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
        },
      },
    ];
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
  async reapStray(vm: Vm): Promise<number[]> {
    const killed: number[] = [];
    for (const name of ["qemu", "firecracker"] as const) {
      let d: VmmDriver | undefined;
      try {
        d = this.deps.drivers.forName(name);
      } catch {
        continue; // a provider without this kind of driver
      }
      if (d.reapStray) killed.push(...(await d.reapStray(vm.vmDir)));
    }
    if (killed.length) {
      this.deps.log.warn({ vm: vm.name, id: vm.id, pids: killed }, "killed a VMM no handle recorded");
      await this.cgroups.remove(vm);
    }
    return killed;
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
    const p = vmPaths(vm.vmDir);
    const disks = vm.disks!;
    const net = vm.network!;
    return {
      id: vm.id,
      name: vm.name,
      vcpu: vm.spec.vcpu,
      memoryMib: vm.spec.memoryMib,
      ...this.kernelFor(vm),
      kernelArgs: guestKernelArgs({ ip: net.ip, subnet: this.deps.network.subnet, hostname: vm.name, disks }),
      drives: drivesFor(disks),
      net: { tap, mac: net.mac },
      cid: vm.cid,
      vmDir: vm.vmDir,
      consoleLog: p.consoleLog,
      vmmLog: p.vmmLog,
      memoryFile: p.memoryFile,
    };
  }

  private kernelFor(vm: Vm): { kernelPath: string; initrdPath: string | null } {
    const { store } = this.deps;
    const image = store.images.getById(vm.imageId);
    if (image.kernelId) {
      const k = store.kernels.getById(image.kernelId);
      return { kernelPath: k.vmlinuxPath, initrdPath: image.initrdPath ?? k.initrdPath };
    }
    if (image.kernelPath) return { kernelPath: image.kernelPath, initrdPath: image.initrdPath };
    throw new BangerError(ErrorCodes.NOT_FOUND, `image "${image.name}" has no kernel`, {
      hint: "register the image again with --kernel",
    });
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

  async markGone(vm: Vm, state: "crashed" | "stopped" | "suspended", why: string): Promise<void> {
    const p = vmPaths(vm.vmDir);
    const tail = await lastLines(p.consoleLog, 10);
    const vmmTail = await lastLines(p.vmmLog, 3);
    const signal = /terminating on signal (\d+)/.exec(vmmTail)?.[1];
    const message = `${why}; last console lines:\n${tail || "(console log empty)"}\nconsole log: ${p.consoleLog}; VMM log: ${p.vmmLog}`;
    await this.releaseNetwork(vm);
    if (vm.vmm) {
      // The driver's stop of a dead VMM removes its sockets and pid file (and a jail).
      const h = vm.vmm;
      await this.deps.drivers
        .forName(h.driver)
        .stop(h, { timeoutMs: 0, keepMemory: state === "suspended" })
        .catch(async (e: Error) => {
          this.deps.log.warn({ vm: vm.name, err: e.message }, "VMM files not cleaned by the driver");
          for (const s of [h.controlSocket, h.agentSocket]) await rm(s, { force: true });
        });
      await this.cgroups.remove(vm);
    }
    this.deps.store.vms.update(vm.id, {
      state,
      vmm: null,
      network: vm.network ? { ...vm.network, tap: null } : null,
      stoppedAt: this.now(),
      lastError: message,
      exit: state === "suspended" ? null : { code: null, signal: signal ? `signal ${signal}` : null },
    });
    this.deps.log.warn({ vm: vm.name, id: vm.id, state, why }, "vm VMM gone");
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

/** The last `n` lines of a log (reads at most 8 KiB from its end), from FILE.1 too just after a rotation; "" when absent. */
export async function lastLines(file: string, n: number): Promise<string> {
  const text = await tailOf(file, n);
  const have = text ? text.split("\n").length : 0;
  if (have >= n) return text;
  const before = await tailOf(`${file}.1`, n - have);
  return [before, text].filter(Boolean).join("\n");
}

async function tailOf(file: string, n: number): Promise<string> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(file, "r");
    const { size } = await fh.stat();
    const len = Math.min(size, 8192);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    return buf.toString("utf8").replace(/\r/g, "").trimEnd().split("\n").slice(-n).join("\n");
  } catch {
    return "";
  } finally {
    await fh?.close();
  }
}
