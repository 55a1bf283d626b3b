import { rm } from "node:fs/promises";
import path from "node:path";
import type { SshInfo, VmCreateParams, VmListResult, VmView } from "../../api/vms.js";
import { BangerError, ErrorCodes, isBangerError } from "../../errors/index.js";
import { NodeCommandRunner } from "../../host/node/NodeCommandRunner.js";
import { newId } from "../../model/ids.js";
import type { Vm } from "../../model/vm.js";
import { faultStep } from "../../vmm/fault.js";
import { runSteps } from "../../vmm/steps.js";
import { KeyedLock } from "../keyedLock.js";
import { randomVmName, validateVmName } from "../names.js";
import { egressForCreate, egressOf, egressView } from "../network/firewall/egress.js";
import { macFromId } from "../network/NetworkManager.js";
import { readHostKey } from "../ssh/SshFiles.js";
import { type CreateCtx, createSteps } from "./createSteps.js";
import type { Progress, VmServiceDeps } from "./deps.js";
import { type ForkOptions, VmForker } from "./fork.js";
import { VmPool } from "./pool.js";
import { rereadVm } from "./reread.js";
import { ScaleToZero } from "./scaleToZero.js";
import { stageObserver } from "./stageObserver.js";
import { VmLifecycle } from "./VmLifecycle.js";
import { VmSnapshots } from "./VmSnapshots.js";
import { toVmView } from "./views.js";

/** VM objects: create, list, show, delete; start/stop live in VmLifecycle. */
export class VmService {
  readonly lifecycle: VmLifecycle;
  readonly snapshots: VmSnapshots;
  /** The warm pool, when [pool] size > 0. */
  readonly pool: VmPool | undefined;
  /** Idle VMs suspend themselves and wake when used. */
  readonly scaleToZero: ScaleToZero;
  private readonly forker: VmForker;
  private readonly locks = new KeyedLock();
  private readonly now: () => Date;

  constructor(private readonly deps: VmServiceDeps) {
    this.now = deps.now ?? (() => new Date());
    this.lifecycle = new VmLifecycle(deps, this.locks);
    this.snapshots = new VmSnapshots(deps, this.locks, this.lifecycle);
    this.pool = deps.poolSize ? this.makePool(deps.poolSize) : undefined;
    this.scaleToZero = new ScaleToZero({
      deps,
      snapshots: this.snapshots,
      defaultMs: deps.autoSuspendMs ?? null,
      cpuPercent: (vm) => deps.cpuPercent?.(vm) ?? null,
    });
    this.forker = new VmForker({
      deps,
      locks: this.locks,
      lifecycle: this.lifecycle,
      snapshots: this.snapshots,
      runner: deps.runner ?? new NodeCommandRunner(),
      newCloneRow: (name, src) => this.newCloneRow(name, src),
      deleteClone: (vm) => this.delete(vm.id, true).then(() => undefined),
      refreshSshFiles: () => this.refreshSshFiles(),
    });
  }

  private makePool(size: number): VmPool {
    return new VmPool({
      deps: this.deps,
      size,
      createMember: async (name, key) => {
        const v = await this.create({ name }, () => {}, key);
        return this.deps.store.vms.getById(v.id);
      },
      ready: (vm, ms) => this.deps.ready?.(vm, ms) ?? Promise.resolve(true),
      deleteVm: async (id) => void (await this.delete(id, true)),
      refreshSshFiles: () => this.refreshSshFiles(),
      locked: (id, fn) => this.locks.run(id, fn),
    });
  }

  /** Clones of a running, paused or suspended VM (see fork.ts). */
  async fork(source: string, o: ForkOptions, progress: Progress = () => {}): Promise<VmView[]> {
    return (await this.forker.fork(source, o, progress)).map((vm) => this.view(vm));
  }

  /** A clone's row with its own id, lease and CID; the source's image, spec and egress policy. */
  private newCloneRow(name: string | undefined, src: Vm): Vm {
    const { store, network } = this.deps;
    const id = (this.deps.newId ?? newId)();
    this.insertRow(name, {
      id,
      imageId: src.imageId,
      spec: { ...src.spec },
      vmDir: path.join(this.deps.vmsDir, id),
      ...(src.egress ? { egress: src.egress } : {}),
    });
    try {
      const ip = store.allocateLease(id, network.subnet.guestAddresses(), { subnet: network.subnet.cidr });
      return store.vms.update(id, { network: { ip, mac: macFromId(id), tap: null } });
    } catch (e) {
      store.vms.delete(id);
      throw e;
    }
  }

  view(vm: Vm): VmView {
    const image = this.deps.store.images.list({ skipCorrupt: true }).items.find((i) => i.id === vm.imageId);
    return this.withEgress(vm, toVmView(vm, image, this.now()));
  }

  /** The policy in force, on the view (absent without egress defaults, as in unit tests). */
  private withEgress(vm: Vm, v: VmView): VmView {
    const d = this.deps.egress;
    return d ? { ...v, egress: egressView(egressOf(vm, d.fallback)) } : v;
  }

  exists(id: string): boolean {
    return this.deps.store.vms.find(id)?.id === id;
  }

  /** What `banger vm ssh` needs: address, user, key, and the VM's own known_hosts file. */
  async sshInfo(name: string): Promise<SshInfo> {
    const vm = this.deps.store.vms.get(name);
    if (vm.state !== "running" || !vm.network) {
      throw new BangerError(ErrorCodes.CONFLICT, `VM "${vm.name}" is ${vm.state}`, {
        hint: `start it with \`banger vm start ${vm.name}\``,
      });
    }
    noSshd(vm, this.deps.store.images.getById(vm.imageId));
    const key = await this.deps.sshKey.get();
    return {
      name: vm.name,
      ip: vm.network.ip,
      user: "root",
      identityFile: key.privateKey,
      knownHostsFile: this.deps.sshFiles.knownHosts,
      hostKeyAlias: `${vm.name}.vm`,
      sshConfig: this.deps.sshFiles.sshConfig,
    };
  }

  /** Rewrite known_hosts and ssh_config from every VM that has an address and a host key. */
  async refreshSshFiles(): Promise<void> {
    const entries = [];
    for (const vm of this.deps.store.vms.list({ skipCorrupt: true }).items) {
      const hostKey = vm.network ? await readHostKey(vm.vmDir) : null;
      if (vm.network && hostKey) entries.push({ name: vm.name, ip: vm.network.ip, hostKey });
    }
    const key = await this.deps.sshKey.get();
    await this.deps.sshFiles.write(entries, key.privateKey);
  }

  show(name: string): VmView {
    return this.view(this.deps.store.vms.get(name));
  }

  /** Every VM; warm-pool members only with `all`. */
  list(all = false): VmListResult {
    const r = this.deps.store.vms.list({ skipCorrupt: true });
    const { problems } = r;
    const items = all ? r.items : r.items.filter((v) => !v.pool);
    const images = new Map(this.deps.store.images.list({ skipCorrupt: true }).items.map((i) => [i.id, i]));
    const now = this.now();
    return {
      vms: items.map((vm) => this.withEgress(vm, toVmView(vm, images.get(vm.imageId), now))),
      problems: problems.map((p) => p.message),
    };
  }

  /** Validate everything before touching anything. */
  private async resolveCreate(p: VmCreateParams, progress: Progress) {
    const { store } = this.deps;
    const egress = this.deps.egress ? egressForCreate(p, this.deps.egress) : undefined;
    if (p.name !== undefined) {
      validateVmName(p.name);
      if (store.vms.find(p.name)) {
        throw new BangerError(ErrorCodes.ALREADY_EXISTS, `a VM named "${p.name}" already exists`, {
          hint: "choose another --name, or delete the old VM with `banger vm delete`",
        });
      }
    }
    const imageName = p.image ?? this.deps.defaultImage;
    const image = store.images.find(imageName) ?? (await this.fetchImage(imageName, progress));
    const d = this.deps.defaults();
    const spec = {
      vcpu: p.vcpu ?? d.vcpu,
      memoryMib: p.memoryMib ?? d.memoryMib,
      diskSizeBytes: p.diskSizeBytes ?? d.diskSizeBytes,
    };
    return { image, spec, egress };
  }

  /** A missing image: pulled (or built) from the catalog with a visible stage, or a NOT_FOUND listing what exists. */
  private async fetchImage(name: string, progress: Progress) {
    const { store, images } = this.deps;
    const local = store.images.list({ skipCorrupt: true }).items.map((i) => i.name);
    const offered = images ? await images.available() : [];
    if (images && offered.includes(name)) {
      progress({
        kind: "progress",
        stage: "create:pull",
        phase: "info",
        message: `pulling ${name} from the image catalog`,
      });
      const t0 = performance.now();
      const img = await images.ensure(name, progress);
      progress({
        kind: "progress",
        stage: "create:pull",
        phase: "done",
        message: `pulled ${name}`,
        ms: Math.round(performance.now() - t0),
      });
      return img;
    }
    const known = [...new Set([...local, ...offered])].sort();
    throw new BangerError(ErrorCodes.NOT_FOUND, `no image named "${name}", locally or in the image catalog`, {
      hint: known.length
        ? `available images: ${known.join(", ")}`
        : "register one with `banger image register NAME --kernel F --rootfs F --work-seed F`",
    });
  }

  async create(p: VmCreateParams, progress: Progress = () => {}, pool?: string): Promise<VmView> {
    const claimed = pool === undefined ? await this.pool?.claim(p, progress) : null;
    if (claimed) return this.view(claimed);
    const { image, spec, egress } = await this.resolveCreate(p, progress);
    const { store, disks, network } = this.deps;
    const id = (this.deps.newId ?? newId)();
    const vmDir = path.join(this.deps.vmsDir, id);
    const ctx: CreateCtx = { vm: undefined as unknown as Vm, disks: null, leftovers: [] };
    const steps = createSteps(
      {
        deps: this.deps,
        insertRow: (name, base) => this.insertRow(name, base),
        dropFailedRow: (rowId, leftovers) => this.dropFailedRow(rowId, leftovers),
        writeAuthorizedKey: (vm) => this.lifecycle.writeAuthorizedKey(vm),
      },
      {
        id,
        vmDir,
        name: p.name,
        image,
        spec,
        egress,
        ...(pool ? { pool } : {}),
        ...(p.autoSuspendAfterMs !== undefined ? { autoSuspendMs: p.autoSuspendAfterMs } : {}),
      },
      progress,
    );
    const t0 = performance.now();
    const { timings: raw } = await runSteps(steps, ctx, {
      ...stageObserver("create", progress),
      phase: "create",
      onCleanupError: (step, err) =>
        ctx.leftovers.push(this.cleanupFailed(ctx.vm ?? { id, name: id }, step, err)),
    });
    const timings = raw.map((t) => ({ name: `create:${t.name}`, ms: t.ms }));
    let vm = store.vms.update(id, { state: "stopped" });
    await this.refreshSshFiles();
    this.deps.log.info({ vm: vm.name, id, timings, ms: Math.round(performance.now() - t0) }, "vm created");
    progress({
      kind: "progress",
      stage: "create",
      phase: "info",
      message: `created ${vm.name} (${vm.network?.ip})`,
    });
    if (p.start !== false) {
      vm = await this.lifecycle.start(vm.name, progress, timings);
    } else {
      vm = store.vms.update(id, { bootTimings: timings });
    }
    return this.view(vm);
  }

  /** Log an undo that failed (step and resource); the message goes into the VM's lastError. */
  private cleanupFailed(vm: Pick<Vm, "id" | "name">, step: string, err: unknown): string {
    const what = err instanceof Error ? err.message : String(err);
    const msg = `undoing step "${step}" failed: ${what}`;
    this.deps.log.error({ vm: vm.name, id: vm.id, step, err: what }, "cleanup failed");
    return msg;
  }

  /**
   * The last undo of a failed create: the row goes, unless an undo failed, when it
   * stays "creating" with lastError saying what was left (reconcile retries at the
   * next daemon start; `vm delete` removes it now).
   */
  private dropFailedRow(id: string, leftovers: string[]): void {
    if (leftovers.length === 0) {
      this.deps.store.vms.delete(id);
      return;
    }
    this.deps.store.vms.update(id, {
      lastError: `create failed and left things behind: ${leftovers.join("; ")}`,
    });
  }

  /** Insert the row; a generated name that loses a race to another create is drawn again. */
  private insertRow(
    name: string | undefined,
    base: Pick<Vm, "id" | "imageId" | "spec" | "vmDir" | "egress" | "pool" | "autoSuspendMs">,
  ): Vm {
    const { store } = this.deps;
    const now = this.now();
    for (let attempt = 0; ; attempt++) {
      const n = name ?? randomVmName((x) => store.vms.find(x) !== undefined);
      try {
        return store.vms.insert({
          ...base,
          name: n,
          state: "creating",
          driver: null,
          driverReason: null,
          disks: null,
          vmm: null,
          network: null,
          createdAt: now,
          updatedAt: now,
          startedAt: null,
          stoppedAt: null,
          lastError: null,
          exit: null,
          bootTimings: null,
        });
      } catch (e) {
        if (name === undefined && isBangerError(e) && e.code === ErrorCodes.ALREADY_EXISTS && attempt < 20)
          continue;
        throw e;
      }
    }
  }

  /** Remove everything the VM owned: VMM (with force), TAP, disks, lease, directory, row. */
  async delete(name: string, force: boolean): Promise<{ deleted: string }> {
    const vm0 = this.deps.store.vms.get(name);
    return this.locks.run(vm0.id, async () => {
      const cur = rereadVm(this.deps.store, vm0);
      const alive = cur.vmm !== null && this.lifecycle.isAlive(cur);
      if (alive && !force) {
        throw new BangerError(ErrorCodes.CONFLICT, `VM "${cur.name}" is ${cur.state}`, {
          hint: `stop it first (banger vm stop ${cur.name}) or delete with --force`,
        });
      }
      const vm = await faultStep("delete", "vmm", async () => {
        const stopped = alive ? await this.lifecycle.stopUnlocked(cur, 0) : cur;
        await this.lifecycle.reapStray(stopped); // a VMM no handle records (an interrupted start)
        return stopped;
      });
      await faultStep("delete", "network", () => this.lifecycle.releaseNetwork(vm));
      // The row goes before the files: a kill from here on leaves only a directory without
      // a row, which reconcile removes.
      await faultStep("delete", "record", () => this.deps.store.vms.delete(vm.id));
      await faultStep("delete", "disks", async () => {
        if (vm.disks) await this.deps.disks.remove(vm.disks);
      });
      await faultStep("delete", "dir", () => rm(vm.vmDir, { recursive: true, force: true }));
      this.deps.log.info({ vm: vm.name, id: vm.id }, "vm deleted");
      await this.refreshSshFiles();
      return { deleted: vm.name };
    });
  }
}

/** `vm ssh` into a VM whose image has no sshd can only fail: say so, and what works instead. */
function noSshd(
  vm: Vm,
  img: { name: string; capabilities?: { agent: boolean; sshd: boolean } | null },
): void {
  if (!img.capabilities || img.capabilities.sshd) return;
  throw new BangerError(
    ErrorCodes.CONFLICT,
    `VM "${vm.name}"'s image "${img.name}" has no sshd, so SSH cannot connect`,
    {
      hint: img.capabilities.agent
        ? `run commands with \`banger vm exec ${vm.name} -- CMD\` (through banger's agent)`
        : "add an sshd or banger's agent to the image (docs/images.md)",
    },
  );
}
