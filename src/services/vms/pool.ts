/**
 * The warm pool (`[pool] size = N`): the daemon keeps N VMs of the default
 * image and spec booted and ready (agent answering). A `vm create` or `vm run`
 * whose spec matches claims one instead of booting: the member is renamed,
 * gets its own hostname and machine-id from the agent, and the pool refills
 * in the background. Members are hidden from `vm list` unless `--all`.
 *
 * A member's key is a hash of what it was made with (image, vCPUs, memory,
 * disk size, file_sync): members of another key (a changed config) are
 * deleted and replaced, never handed out.
 */
import { createHash, randomBytes } from "node:crypto";
import type { VmCreateParams } from "../../api/vms.js";
import type { Vm } from "../../model/vm.js";
import { randomVmName } from "../names.js";
import type { Progress, VmServiceDeps } from "./deps.js";

export interface PoolHost {
  deps: VmServiceDeps;
  size: number;
  /** Create and boot a member (named pool-XXXX) with this key. */
  createMember(name: string, key: string): Promise<Vm>;
  /** Whether a member's guest agent answers (boot finished), within the timeout. */
  ready(vm: Vm, timeoutMs: number): Promise<boolean>;
  deleteVm(id: string): Promise<void>;
  refreshSshFiles(): Promise<void>;
  /** Run fn holding the VM's lock. */
  locked<T>(id: string, fn: () => Promise<T>): Promise<T>;
}

export interface PoolStatus {
  size: number;
  ready: number;
  starting: number;
  /** The last refill error, if the last refill failed. */
  error: string | null;
}

export class VmPool {
  private readonly readyIds = new Set<string>();
  private filling: Promise<void> | null = null;
  private lastError: string | null = null;

  constructor(private readonly h: PoolHost) {}

  /** The key of the spec pool members are made with (the defaults and file_sync of this daemon). */
  key(): string {
    const d = this.h.deps.defaults();
    const what = [this.h.deps.defaultImage, d.vcpu, d.memoryMib, d.diskSizeBytes, this.h.deps.fileSync ?? []];
    return createHash("sha256").update(JSON.stringify(what)).digest("hex").slice(0, 16);
  }

  members(): Vm[] {
    return this.h.deps.store.vms.list({ skipCorrupt: true }).items.filter((v) => !!v.pool);
  }

  status(): PoolStatus {
    const ms = this.members();
    const ready = ms.filter((m) => this.readyIds.has(m.id)).length;
    return { size: this.h.size, ready, starting: ms.length - ready, error: this.lastError };
  }

  /** A create that gets exactly a member's spec: default image, vCPUs, memory, disk, egress and no peers. */
  matches(p: VmCreateParams): boolean {
    const own = p.egress !== undefined || (p.peers?.length ?? 0) > 0 || p.autoSuspendAfterMs !== undefined;
    if (this.h.size === 0 || p.start === false || own) return false;
    const d = this.h.deps.defaults();
    return (
      (p.image ?? this.h.deps.defaultImage) === this.h.deps.defaultImage &&
      (p.vcpu ?? d.vcpu) === d.vcpu &&
      (p.memoryMib ?? d.memoryMib) === d.memoryMib &&
      (p.diskSizeBytes ?? d.diskSizeBytes) === d.diskSizeBytes
    );
  }

  /**
   * Hand a ready member over as the new VM: renamed (p.name or a random
   * name), its own hostname and machine-id set by the agent. Null when no
   * member is ready (the create then boots as usual).
   */
  async claim(p: VmCreateParams, progress: Progress): Promise<Vm | null> {
    if (!this.matches(p)) return null;
    const { store, guest } = this.h.deps;
    const key = this.key();
    const member = this.members().find(
      (m) => m.pool === key && this.readyIds.has(m.id) && m.state === "running",
    );
    if (!member || !guest) return null;
    this.readyIds.delete(member.id);
    const name = p.name ?? randomVmName((x) => store.vms.find(x) !== undefined);
    const vm = await this.h.locked(member.id, async () => {
      const renamed = store.vms.update(member.id, { name, pool: null });
      try {
        await guest.setIdentity(renamed, { hostname: name, machineId: randomBytes(16).toString("hex") });
        return renamed;
      } catch (e) {
        // A member that cannot take its identity is not handed out: it goes, and the create boots.
        this.h.deps.log.warn(
          { vm: name, err: (e as Error).message },
          "warm pool member refused; booting instead",
        );
        await this.h.deleteVm(member.id).catch(() => undefined);
        return null;
      }
    });
    if (!vm) return null;
    progress({
      kind: "progress",
      stage: "create:pool",
      phase: "info",
      message: `claimed a ready VM from the pool as ${name}`,
    });
    this.h.deps.log.info({ vm: name, id: vm.id }, "vm claimed from the warm pool");
    await this.h.refreshSshFiles();
    void this.fill();
    return vm;
  }

  /** Bring the pool to its size (one refill at a time); members of another key are replaced. */
  fill(): Promise<void> {
    this.filling ??= this.refill().finally(() => {
      this.filling = null;
    });
    return this.filling;
  }

  private async refill(): Promise<void> {
    const key = this.key();
    try {
      for (const m of this.members()) {
        const stale = m.pool !== key || (m.state !== "running" && m.state !== "starting");
        if (stale || this.members().length > this.h.size) {
          this.readyIds.delete(m.id);
          await this.h.deleteVm(m.id);
        } else if (!this.readyIds.has(m.id) && (await this.h.ready(m, 300_000))) {
          this.readyIds.add(m.id);
        }
      }
      while (this.members().length < this.h.size) {
        const vm = await this.h.createMember(`pool-${randomBytes(3).toString("hex")}`, key);
        if (await this.h.ready(vm, 300_000)) this.readyIds.add(vm.id);
      }
      this.lastError = null;
    } catch (e) {
      this.lastError = (e as Error).message;
      this.h.deps.log.error({ err: this.lastError }, "warm pool refill failed");
    }
  }
}
