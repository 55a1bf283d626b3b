/**
 * The persistence port of the daemon. Synchronous on purpose: the SQLite
 * driver is synchronous and a transaction must never span an `await`.
 * Every error is a BangerError: NOT_FOUND, ALREADY_EXISTS, CONFLICT,
 * INVALID_ARGUMENT, STORE_CORRUPT (a malformed row) or STORE (the database).
 */
import type { BangerError } from "../errors/index.js";
import type { Image, ImageCapabilities, Kernel, Vm } from "../model/index.js";

/** Rows that could be read, and one STORE_CORRUPT error per row that could not. */
export interface ListResult<T> {
  items: T[];
  problems: BangerError[];
}

export interface ListOptions {
  /** Skip malformed rows (reported in `problems`) instead of throwing. */
  skipCorrupt: true;
}

/** The listing methods: strict by default, forgiving with `{ skipCorrupt: true }`. */
export interface Listing<T> {
  list(): T[];
  list(opts: ListOptions): ListResult<T>;
}

export interface KernelRepo extends Listing<Kernel> {
  /** ALREADY_EXISTS when the name or id is taken. */
  insert(k: Kernel): Kernel;
  /** By name; NOT_FOUND when absent. */
  get(name: string): Kernel;
  getById(id: string): Kernel;
  find(name: string): Kernel | undefined;
  /** NOT_FOUND when absent; CONFLICT naming the images when images use it. */
  delete(id: string): void;
}

export interface ImageRepo extends Listing<Image> {
  /** ALREADY_EXISTS when the name or id is taken; NOT_FOUND when kernelId names no kernel. */
  insert(img: Image): Image;
  get(name: string): Image;
  getById(id: string): Image;
  find(name: string): Image | undefined;
  /** NOT_FOUND when absent; CONFLICT naming the VMs when VMs use it. */
  delete(id: string): void;
  imagesUsingKernel(kernelId: string): Image[];
  /** Record what the image's rootfs provides; NOT_FOUND when absent. */
  setCapabilities(id: string, caps: ImageCapabilities): Image;
}

/** A VM to insert: `cid` may be left out, then the smallest free one is taken in the same transaction. */
export type NewVm = Omit<Vm, "cid"> & { cid?: number };

/** Fields an update may change. `updatedAt` is set to now unless given. */
export type VmPatch = Partial<Omit<Vm, "id" | "createdAt">>;

export interface VmRepo extends Listing<Vm> {
  /** ALREADY_EXISTS (name or id), NOT_FOUND (imageId), CONFLICT (cid taken), INVALID_ARGUMENT (id, cid). */
  insert(vm: NewVm): Vm;
  /** By name, else by id; NOT_FOUND when neither matches. */
  get(nameOrId: string): Vm;
  /** By id only; NOT_FOUND when absent. */
  getById(id: string): Vm;
  find(nameOrId: string): Vm | undefined;
  /** Read, merge and write in one transaction; returns the stored VM. */
  update(id: string, patch: VmPatch): Vm;
  /** NOT_FOUND when absent. Its lease is released with it. */
  delete(id: string): void;
  vmsUsingImage(imageId: string): Vm[];
}

export interface Lease {
  ip: string;
  vmId: string;
  createdAt: Date;
}

export interface AllocateLeaseOptions {
  /** Named in the "no free address" error, for example 172.30.0.0/24. */
  subnet?: string;
}

export interface Store {
  /** Bring the schema up to date (idempotent). */
  migrate(): void;
  close(): void;
  readonly kernels: KernelRepo;
  readonly images: ImageRepo;
  readonly vms: VmRepo;
  /**
   * Lease an address to a VM, atomically: the first candidate nobody holds.
   * A VM holds at most one lease; when it already has one, that one is returned.
   * CONFLICT "no free address in SUBNET" when every candidate is taken; NOT_FOUND for an unknown VM.
   */
  allocateLease(vmId: string, candidates: Iterable<string>, opts?: AllocateLeaseOptions): string;
  /** Free the VM's lease (no-op when it has none). */
  releaseLease(vmId: string): void;
  listLeases(): Lease[];
  /** The VM's vsock CID, assigning the smallest free one (>= 3) when it has none. */
  allocateCid(vmId: string): number;
  /** Run `fn` in one write transaction (nested calls become savepoints). `fn` must be synchronous. */
  transaction<T>(fn: () => T): T;
}
