/**
 * In-memory Store for unit tests of services: the same behaviour and the same
 * errors as SqliteStore (both run the same contract tests), no file, no native
 * module. Objects go in and out as copies, so callers cannot change stored state
 * behind the store's back. Transactions snapshot the state and restore it on throw.
 */
import type { Image, Kernel, Vm } from "../../model/index.js";
import {
  alreadyExists,
  checkIdentity,
  cidTaken,
  idTaken,
  inUse,
  noFreeAddress,
  notFound,
  notFoundById,
  smallestFreeCid,
} from "../errors.js";
import type {
  AllocateLeaseOptions,
  ImageRepo,
  KernelRepo,
  Lease,
  ListOptions,
  ListResult,
  NewVm,
  Store,
  VmPatch,
  VmRepo,
} from "../Store.js";

interface State {
  kernels: Map<string, Kernel>;
  images: Map<string, Image>;
  vms: Map<string, Vm>;
  leases: Lease[];
}

const byName = <T extends { name: string }>(a: T, b: T): number =>
  a.name < b.name ? -1 : a.name > b.name ? 1 : 0;

function listOf<T extends { name: string }>(m: Map<string, T>, opts?: ListOptions): T[] | ListResult<T> {
  const items = [...m.values()].sort(byName).map((x) => structuredClone(x));
  return opts?.skipCorrupt ? { items, problems: [] } : items;
}

function checkName<T extends { id: string; name: string }>(
  m: Map<string, T>,
  kind: "kernel" | "image" | "VM",
  x: T,
): void {
  if (m.has(x.id)) throw idTaken(kind, x.id);
  if ([...m.values()].some((o) => o.name === x.name)) throw alreadyExists(kind, x.name);
}

export interface MemoryStoreOptions {
  now?: () => Date;
}

export class MemoryStore implements Store {
  private s: State = { kernels: new Map(), images: new Map(), vms: new Map(), leases: [] };
  private readonly now: () => Date;

  constructor(opts: MemoryStoreOptions = {}) {
    this.now = opts.now ?? (() => new Date());
  }

  migrate(): void {}

  close(): void {}

  transaction<T>(fn: () => T): T {
    const saved = structuredClone(this.s);
    try {
      const out = fn();
      if (out instanceof Promise) throw new Error("transaction functions must be synchronous");
      return out;
    } catch (e) {
      this.s = saved;
      throw e;
    }
  }

  readonly kernels: KernelRepo = this.kernelRepo();
  readonly images: ImageRepo = this.imageRepo();
  readonly vms: VmRepo = this.vmRepo();

  private kernelRepo(): KernelRepo {
    const find = (name: string): Kernel | undefined =>
      structuredClone([...this.s.kernels.values()].find((k) => k.name === name));
    const getById = (id: string): Kernel => {
      const k = this.s.kernels.get(id);
      if (k === undefined) throw notFoundById("kernel", id);
      return structuredClone(k);
    };
    const list = (opts?: ListOptions) => listOf(this.s.kernels, opts);
    return {
      insert: (k) => {
        checkIdentity("kernel", k.id);
        checkName(this.s.kernels, "kernel", k);
        this.s.kernels.set(k.id, structuredClone(k));
        return getById(k.id);
      },
      find,
      get: (name) => find(name) ?? throwError(notFound("kernel", name)),
      getById,
      list: list as KernelRepo["list"],
      delete: (id) => {
        const k = getById(id);
        const users = [...this.s.images.values()].filter((i) => i.kernelId === id).sort(byName);
        if (users.length > 0)
          throw inUse(
            "kernel",
            k.name,
            "image",
            users.map((u) => u.name),
          );
        this.s.kernels.delete(id);
      },
    };
  }

  private imageRepo(): ImageRepo {
    const find = (name: string): Image | undefined =>
      structuredClone([...this.s.images.values()].find((i) => i.name === name));
    const getById = (id: string): Image => {
      const i = this.s.images.get(id);
      if (i === undefined) throw notFoundById("image", id);
      return structuredClone(i);
    };
    const list = (opts?: ListOptions) => listOf(this.s.images, opts);
    return {
      insert: (img) => {
        checkIdentity("image", img.id);
        if (img.kernelId !== null && !this.s.kernels.has(img.kernelId))
          throw notFoundById("kernel", img.kernelId);
        checkName(this.s.images, "image", img);
        this.s.images.set(img.id, structuredClone({ ...img, capabilities: img.capabilities ?? null }));
        return getById(img.id);
      },
      find,
      get: (name) => find(name) ?? throwError(notFound("image", name)),
      getById,
      setCapabilities: (id, caps) => {
        const img = this.s.images.get(id);
        if (img === undefined) throw notFoundById("image", id);
        img.capabilities = { agent: caps.agent, sshd: caps.sshd };
        return getById(id);
      },
      list: list as ImageRepo["list"],
      delete: (id) => {
        const img = getById(id);
        const users = [...this.s.vms.values()].filter((v) => v.imageId === id).sort(byName);
        if (users.length > 0)
          throw inUse(
            "image",
            img.name,
            "VM",
            users.map((u) => u.name),
          );
        this.s.images.delete(id);
      },
      imagesUsingKernel: (kernelId) =>
        [...this.s.images.values()]
          .filter((i) => i.kernelId === kernelId)
          .sort(byName)
          .map((i) => structuredClone(i)),
    };
  }

  private vmRepo(): VmRepo {
    const vms = () => [...this.s.vms.values()];
    const find = (key: string): Vm | undefined =>
      structuredClone(vms().find((v) => v.name === key) ?? this.s.vms.get(key));
    const list = (opts?: ListOptions) => listOf(this.s.vms, opts);
    return {
      insert: (vm) => this.insertVm(vm),
      find,
      get: (key) => find(key) ?? throwError(notFound("VM", key)),
      getById: (id) => structuredClone(this.s.vms.get(id) ?? throwError(notFoundById("VM", id))),
      list: list as VmRepo["list"],
      update: (id, patch) => this.transaction(() => this.updateVm(id, patch)),
      delete: (id) => {
        if (!this.s.vms.delete(id)) throw notFoundById("VM", id);
        this.s.leases = this.s.leases.filter((l) => l.vmId !== id);
      },
      vmsUsingImage: (imageId) =>
        vms()
          .filter((v) => v.imageId === imageId)
          .sort(byName)
          .map((v) => structuredClone(v)),
    };
  }

  private checkCid(cid: number, self: string): void {
    const holder = [...this.s.vms.values()].find((v) => v.cid === cid && v.id !== self);
    if (holder !== undefined) throw cidTaken(cid, holder.name);
  }

  private freeCid(): number {
    return smallestFreeCid([...this.s.vms.values()].map((v) => v.cid));
  }

  private insertVm(vm: NewVm): Vm {
    checkIdentity("VM", vm.id, vm.cid);
    if (!this.s.images.has(vm.imageId)) throw notFoundById("image", vm.imageId);
    const cid = vm.cid ?? this.freeCid();
    this.checkCid(cid, vm.id);
    checkName(this.s.vms, "VM", { ...vm, cid });
    this.s.vms.set(vm.id, structuredClone({ ...vm, cid }));
    return structuredClone(this.s.vms.get(vm.id)!);
  }

  private updateVm(id: string, patch: VmPatch): Vm {
    const current = this.s.vms.get(id);
    if (current === undefined) throw notFoundById("VM", id);
    const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as VmPatch;
    const next: Vm = structuredClone({
      ...current,
      ...defined,
      id: current.id,
      createdAt: current.createdAt,
    });
    if (patch.updatedAt === undefined) next.updatedAt = this.now();
    if (next.imageId !== current.imageId && !this.s.images.has(next.imageId)) {
      throw notFoundById("image", next.imageId);
    }
    if (next.cid !== current.cid) {
      checkIdentity("VM", id, next.cid);
      this.checkCid(next.cid, id);
    }
    if (vmsNamed(this.s.vms, next.name, id)) throw alreadyExists("VM", next.name);
    this.s.vms.set(id, next);
    return structuredClone(next);
  }

  allocateLease(vmId: string, candidates: Iterable<string>, opts: AllocateLeaseOptions = {}): string {
    if (!this.s.vms.has(vmId)) throw notFoundById("VM", vmId);
    const held = this.s.leases.find((l) => l.vmId === vmId);
    if (held !== undefined) return held.ip;
    const taken = new Set(this.s.leases.map((l) => l.ip));
    for (const ip of candidates) {
      if (taken.has(ip)) continue;
      this.s.leases.push({ ip, vmId, createdAt: this.now() });
      return ip;
    }
    throw noFreeAddress(opts.subnet);
  }

  releaseLease(vmId: string): void {
    this.s.leases = this.s.leases.filter((l) => l.vmId !== vmId);
  }

  listLeases(): Lease[] {
    return structuredClone(this.s.leases).sort(
      (a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0),
    );
  }

  allocateCid(vmId: string): number {
    const vm = this.s.vms.get(vmId);
    if (vm === undefined) throw notFoundById("VM", vmId);
    return vm.cid;
  }
}

function vmsNamed(m: Map<string, Vm>, name: string, except: string): boolean {
  return [...m.values()].some((v) => v.name === name && v.id !== except);
}

function throwError(e: Error): never {
  throw e;
}
