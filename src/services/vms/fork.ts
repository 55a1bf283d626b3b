/**
 * `vm fork SOURCE`: clones of a running, paused or suspended VM. The source's
 * state is saved once into a template (its RAM and disks copied while it is
 * paused, so the clones never see its later writes); each clone gets its own
 * copies (reflinks where the filesystem has them, else sparse copies), its own
 * lease, MAC, TAP, CID and pinned host key, is restored from the template, and
 * gets its identity from the guest agent before it counts as ready.
 */
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import path from "node:path";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import { diskArgv } from "../../host/disk.js";
import type { CommandRunner } from "../../host/runner.js";
import type { SavedStateInfo, Vm, VmDisksRecord } from "../../model/vm.js";
import type { SavedState } from "../../vmm/driver.js";
import { faultStep } from "../../vmm/fault.js";
import type { KeyedLock } from "../keyedLock.js";
import { validateVmName } from "../names.js";
import type { GuestIdentity, Progress, VmServiceDeps } from "./deps.js";
import { savedFiles } from "./savedState.js";
import type { VmLifecycle } from "./VmLifecycle.js";
import { snapshotable, type VmSnapshots } from "./VmSnapshots.js";
import { vmPaths } from "./views.js";

export const MAX_FORK_COUNT = 16;

export interface ForkOptions {
  name?: string;
  count?: number;
}

/** What a fork needs from VmService. */
export interface ForkHost {
  deps: VmServiceDeps;
  locks: KeyedLock;
  lifecycle: VmLifecycle;
  snapshots: VmSnapshots;
  runner: CommandRunner;
  /** Insert a clone's row ("creating") with a lease, like create's first steps. */
  newCloneRow(name: string | undefined, src: Vm): Vm;
  /** Remove a clone that failed, wholly. */
  deleteClone(vm: Vm): Promise<void>;
  refreshSshFiles(): Promise<void>;
}

interface Template {
  files: SavedState;
  saved: SavedStateInfo;
  disks: VmDisksRecord;
  /** A temporary directory to remove afterwards (null: the suspended source's own files). */
  tmpDir: string | null;
}

/** The clones' names: NAME, or NAME-1 ... NAME-N; all valid and free. Undefined entries are drawn at random. */
export function cloneNames(deps: VmServiceDeps, o: ForkOptions): Array<string | undefined> {
  const count = o.count ?? 1;
  if (!Number.isInteger(count) || count < 1 || count > MAX_FORK_COUNT) {
    throw new BangerError(
      ErrorCodes.INVALID_ARGUMENT,
      `count must be an integer from 1 to ${MAX_FORK_COUNT}, got ${count}`,
    );
  }
  if (o.name === undefined) return Array.from({ length: count }, () => undefined);
  const names = count === 1 ? [o.name] : Array.from({ length: count }, (_, i) => `${o.name}-${i + 1}`);
  for (const n of names) {
    validateVmName(n);
    if (deps.store.vms.find(n)) {
      throw new BangerError(ErrorCodes.ALREADY_EXISTS, `a VM named "${n}" already exists`, {
        hint: "choose another --name",
      });
    }
  }
  return names;
}

/** The source's disks that a clone needs its own copy of (never an overlay's shared, read-only root). */
function ownDisks(d: VmDisksRecord): Array<{ key: "work" | "cow" | "root"; path: string }> {
  const out: Array<{ key: "work" | "cow" | "root"; path: string }> = [{ key: "work", path: d.work }];
  if (d.cow) out.push({ key: "cow", path: d.cow });
  if (!d.root.readOnly) out.push({ key: "root", path: d.root.path });
  return out;
}

/** Copy `disks`' own files into `dir`; the record with the copies' paths. */
async function copyDisks(runner: CommandRunner, disks: VmDisksRecord, dir: string): Promise<VmDisksRecord> {
  const next: VmDisksRecord = { ...disks, root: { ...disks.root } };
  for (const d of ownDisks(disks)) {
    const dst = path.join(dir, path.basename(d.path));
    await runner.run(diskArgv.cloneOrCopy(d.path, dst));
    if (d.key === "root") next.root.path = dst;
    else next[d.key] = dst;
  }
  return next;
}

export class VmForker {
  constructor(private readonly h: ForkHost) {}

  async fork(source: string, o: ForkOptions, progress: Progress = () => {}): Promise<Vm[]> {
    const { deps } = this.h;
    const names = cloneNames(deps, o);
    const src0 = deps.store.vms.get(source);
    const stage = (m: string) => progress({ kind: "progress", stage: "fork", phase: "info", message: m });
    // The source stays locked while clones are made from its files (a suspended source's own).
    return this.h.locks.run(src0.id, async () => {
      const src = deps.store.vms.getById(src0.id);
      stage(`saving ${src.name}'s state`);
      const tpl = await this.template(src, progress);
      // Clones are made side by side: each one's restore and identity overlap the others' copies.
      const made = await Promise.allSettled(
        names.map(async (name) => {
          const clone = await this.clone(src, tpl, name, progress);
          stage(`${clone.name} is up (${clone.network?.ip})`);
          return clone;
        }),
      ).finally(() => (tpl.tmpDir ? rm(tpl.tmpDir, { recursive: true, force: true }) : undefined));
      const clones = made.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
      const failed = made.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) {
        for (const c of clones) await this.h.deleteClone(c).catch(() => undefined);
        throw failed.reason;
      }
      await this.h.refreshSshFiles();
      deps.log.info({ source: src.name, clones: clones.map((c) => c.name) }, "vm forked");
      return clones;
    });
  }

  /** A suspended source's own files, or the running source's state and disks copied while it is paused. */
  private async template(src: Vm, progress: Progress): Promise<Template> {
    const { deps } = this.h;
    if (src.state === "suspended" && src.saved && src.disks) {
      return { files: savedFiles(src), saved: src.saved, disks: src.disks, tmpDir: null };
    }
    const { vm, driver } = snapshotable(deps, (v) => this.h.lifecycle.isAlive(v), src, "forked");
    const tmpDir = await mkdtemp(path.join(deps.vmsDir, ".fork-"));
    try {
      const files = {
        stateFile: path.join(tmpDir, "state.bin"),
        memoryFile: path.join(tmpDir, "memory.raw"),
      };
      const wasRunning = vm.state === "running";
      if (wasRunning) await this.h.snapshots.syncGuest(vm);
      await driver.snapshots.pause(vm.vmm);
      let disks: VmDisksRecord;
      let bytes: number;
      try {
        const spec = this.h.lifecycle.bootSpec(vm, vm.network.tap ?? "");
        progress({
          kind: "progress",
          stage: "fork:save",
          phase: "info",
          message: "copying memory and disks",
        });
        bytes = (await faultStep("fork", "save", () => driver.snapshots.saveState(vm.vmm, spec, files)))
          .bytes;
        disks = await faultStep("fork", "disks", () => copyDisks(this.h.runner, vm.disks!, tmpDir));
      } finally {
        if (wasRunning) await driver.snapshots.resume(vm.vmm);
      }
      const saved: SavedStateInfo = {
        driver: driver.name,
        acceleration: driver.acceleration,
        vmmVersion: await driver.snapshots.vmmVersion(),
        stateBytes: bytes,
        savedAt: new Date().toISOString(),
      };
      return { files, saved, disks, tmpDir };
    } catch (e) {
      await rm(tmpDir, { recursive: true, force: true });
      throw e;
    }
  }

  /** One clone: own row, lease, copies and host key; restored, then given its identity. */
  private async clone(src: Vm, tpl: Template, name: string | undefined, progress: Progress): Promise<Vm> {
    const { deps } = this.h;
    let vm = this.h.newCloneRow(name, src);
    try {
      await mkdir(vm.vmDir, { recursive: true, mode: 0o700 });
      const p = vmPaths(vm.vmDir);
      const disks = await faultStep("fork", "copy", async () => {
        await this.h.runner.run(diskArgv.cloneOrCopy(tpl.files.memoryFile, p.memoryFile));
        await this.h.runner.run(diskArgv.cloneOrCopy(tpl.files.stateFile, p.stateFile));
        return copyDisks(this.h.runner, tpl.disks, vm.vmDir);
      });
      const key = await deps.hostKeys.generate(vm.vmDir, vm.name);
      // The row stays "creating" until the clone has its own identity: a daemon killed
      // before that leaves an interrupted create, which reconcile removes wholly.
      vm = deps.store.vms.update(vm.id, { disks, saved: tpl.saved });
      const id = vm.id;
      return await this.h.locks.run(id, async () => {
        const up = await this.h.lifecycle.startUnlocked(id, progress, [], { clone: true });
        await faultStep("fork", "identity", () => this.identify(up, key));
        return deps.store.vms.update(id, { state: "running" });
      });
    } catch (e) {
      await this.h.deleteClone(deps.store.vms.getById(vm.id)).catch(() => undefined);
      throw e;
    }
  }

  private async identify(vm: Vm, hostKey: NonNullable<GuestIdentity["hostKey"]>): Promise<void> {
    const { deps } = this.h;
    if (!deps.guest)
      throw new BangerError(ErrorCodes.INTERNAL, "no guest agent access to give a clone its identity");
    const subnet = deps.network.subnet;
    await deps.guest.setIdentity(vm, {
      hostname: vm.name,
      machineId: randomBytes(16).toString("hex"),
      network: { ip: vm.network!.ip, prefix: subnet.prefix, gateway: subnet.gateway, mac: vm.network!.mac },
      hostKey,
    });
  }
}
