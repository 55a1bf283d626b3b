/**
 * Scale to zero: a VM with an idle timeout (config `auto_suspend_after`, or
 * its own `--auto-suspend-after`) suspends itself after being idle that long,
 * and wakes again (is resumed) when it is used: an exec, a copy, SSH, a
 * readiness wait, or a DNS query for NAME.vm.
 *
 * Idle means all of: no daemon call in flight for it (exec, copy, ...), no
 * established TCP connection from the host to its address (an SSH session),
 * and its VMM using under 2% of a CPU (the last stats sample).
 */
import { readFile } from "node:fs/promises";
import type { Vm } from "../../model/vm.js";
import type { Progress, VmServiceDeps } from "./deps.js";
import type { VmSnapshots } from "./VmSnapshots.js";

/** Below this VMM CPU use (percent of one core) a VM counts as idle. */
export const IDLE_CPU_PERCENT = 2;

export interface ScaleToZeroDeps {
  deps: VmServiceDeps;
  snapshots: VmSnapshots;
  /** config `auto_suspend_after` (ms); null: off unless a VM sets its own. */
  defaultMs: number | null;
  /** The VMM's CPU use from the last stats sample (percent of one core), or null. */
  cpuPercent(vm: Vm): number | null;
  /** Established TCP connections from this host to the address. Default: /proc/net/tcp. */
  connections?(ip: string): Promise<number>;
}

/** The VM's idle timeout in ms, or null when it never suspends itself. */
export function idleTimeoutOf(vm: Vm, defaultMs: number | null): number | null {
  const ms = vm.autoSuspendMs === undefined || vm.autoSuspendMs === null ? defaultMs : vm.autoSuspendMs;
  return ms && ms > 0 ? ms : null;
}

/** /proc/net/tcp's address column (little-endian hex IPv4) of a dotted quad. */
function hexIp(ip: string): string {
  return ip
    .split(".")
    .map((o) => Number(o).toString(16).padStart(2, "0").toUpperCase())
    .reverse()
    .join("");
}

/** Established connections (state 01) whose remote address is `ip`, in this network namespace. */
export async function procNetConnections(ip: string, text?: string): Promise<number> {
  const table = text ?? (await readFile("/proc/net/tcp", "utf8").catch(() => ""));
  const want = hexIp(ip);
  let n = 0;
  for (const line of table.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[2]?.split(":")[0] === want && f[3] === "01") n++;
  }
  return n;
}

export class ScaleToZero {
  private readonly busy = new Map<string, number>();
  private readonly lastBusy = new Map<string, number>();
  private readonly waking = new Map<string, Promise<Vm>>();

  constructor(private readonly s: ScaleToZeroDeps) {}

  /** Count a daemon call on the VM as activity while it runs. */
  async track<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const id = this.s.deps.store.vms.find(name)?.id;
    if (!id) return fn();
    this.busy.set(id, (this.busy.get(id) ?? 0) + 1);
    try {
      return await fn();
    } finally {
      this.busy.set(id, (this.busy.get(id) ?? 1) - 1);
      this.lastBusy.set(id, Date.now());
    }
  }

  /** The VM suspended itself (a use must wake it first). */
  asleep(name: string): boolean {
    const vm = this.s.deps.store.vms.find(name);
    return !!vm && vm.state === "suspended" && !!vm.saved?.auto;
  }

  /** A VM that suspended itself is resumed (once, however many callers); true when it was asleep. */
  async wake(name: string, progress: Progress = () => {}): Promise<boolean> {
    const vm = this.s.deps.store.vms.find(name);
    if (!vm || vm.state !== "suspended" || !vm.saved?.auto) return false;
    let p = this.waking.get(vm.id);
    if (!p) {
      const t0 = Date.now();
      p = this.s.snapshots.resume(vm.name).finally(() => this.waking.delete(vm.id));
      this.waking.set(vm.id, p);
      await p;
      this.lastBusy.set(vm.id, Date.now());
      const msg = `${vm.name} had suspended itself while idle; resumed in ${Date.now() - t0} ms`;
      this.s.deps.log.info({ vm: vm.name, ms: Date.now() - t0 }, "woke an idle-suspended vm");
      progress({ kind: "progress", stage: "wake", phase: "info", message: msg });
      return true;
    }
    await p;
    return true;
  }

  /** Suspend every running VM idle for longer than its timeout; the names suspended. */
  async tick(now = Date.now()): Promise<string[]> {
    const done: string[] = [];
    for (const vm of this.s.deps.store.vms.list({ skipCorrupt: true }).items) {
      const ms = idleTimeoutOf(vm, this.s.defaultMs);
      if (vm.state !== "running" || !ms || vm.pool || !vm.network) continue;
      if (await this.isBusy(vm)) {
        this.lastBusy.set(vm.id, now);
        continue;
      }
      const since = this.lastBusy.get(vm.id) ?? vm.startedAt?.getTime() ?? now;
      if (now - since < ms) continue;
      try {
        await this.s.snapshots.suspend(vm.name, () => {}, { auto: true });
        this.lastBusy.delete(vm.id);
        done.push(vm.name);
        this.s.deps.log.info({ vm: vm.name, idleMs: now - since }, "vm suspended itself (idle)");
      } catch (e) {
        this.lastBusy.set(vm.id, now); // try again after another idle period, not every tick
        this.s.deps.log.warn({ vm: vm.name, err: (e as Error).message }, "idle suspend failed");
      }
    }
    return done;
  }

  private async isBusy(vm: Vm): Promise<boolean> {
    if ((this.busy.get(vm.id) ?? 0) > 0) return true;
    const cpu = this.s.cpuPercent(vm);
    if (cpu !== null && cpu >= IDLE_CPU_PERCENT) return true;
    const conns = await (this.s.connections ?? procNetConnections)(vm.network!.ip);
    return conns > 0;
  }
}
