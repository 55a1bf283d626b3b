import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { BootObserver, BootResult, BootSpec, DriverFeatures, VmmDriver, VmmHandle } from "../driver.js";

/**
 * Test double of a VMM driver: no process, an in-memory set of "alive" pids.
 * The real drivers (QEMU, Firecracker) are exercised by the e2e and contract
 * tests; this one lets service tests kill a VM or fail a boot on demand.
 */
export class FakeDriver implements VmmDriver {
  readonly name = "qemu" as const;
  readonly acceleration = "tcg" as const;
  readonly features: DriverFeatures = { snapshots: false, agentChannel: "virtio-serial" };
  readonly boots: BootSpec[] = [];
  readonly stops: Array<{ handle: VmmHandle; timeoutMs: number | undefined }> = [];
  readonly alive = new Set<number>();
  /** Memory the (fake) VMM needs beyond guest RAM; tests may replace it. */
  vmmOverheadMib = (): number => 64;
  private nextPid = 1000;
  private bootFailure: Error | null = null;

  failNextBoot(e: Error = new BangerError(ErrorCodes.VMM, 'step "spawn" failed: fake')): this {
    this.bootFailure = e;
    return this;
  }

  /** Make a VMM die as if killed. */
  kill(pid: number): void {
    this.alive.delete(pid);
  }

  async boot(spec: BootSpec, observer?: BootObserver): Promise<BootResult> {
    this.boots.push(structuredClone(spec));
    observer?.onStepStart?.("spawn");
    if (this.bootFailure) {
      const e = this.bootFailure;
      this.bootFailure = null;
      throw e;
    }
    const pid = this.nextPid++;
    this.alive.add(pid);
    try {
      await observer?.onVmmStarted?.(pid);
    } catch (e) {
      this.alive.delete(pid);
      throw e;
    }
    observer?.onStepDone?.({ name: "spawn", ms: 1 });
    return {
      handle: {
        driver: "qemu",
        pid,
        controlSocket: `${spec.vmDir}/qmp.sock`,
        agentSocket: `${spec.vmDir}/agent.sock`,
        acceleration: "tcg",
      },
      timings: [{ name: "spawn", ms: 1 }],
    };
  }

  async stop(handle: VmmHandle, opts: { timeoutMs?: number } = {}): Promise<void> {
    this.stops.push({ handle, timeoutMs: opts.timeoutMs });
    this.alive.delete(handle.pid);
  }

  isAlive(handle: VmmHandle): boolean {
    return this.alive.has(handle.pid);
  }
}
