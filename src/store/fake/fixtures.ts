/** Valid domain objects for tests, with overrides. Ids are deterministic per name. */
import { createHash } from "node:crypto";
import type { Image, Kernel, Vm } from "../../model/index.js";
import type { NewVm } from "../Store.js";

export const FIXED_TIME = new Date("2025-01-02T03:04:05.678Z");

/** A stable 16-hex id derived from a label. */
export function idFor(label: string): string {
  return createHash("sha256").update(label).digest("hex").slice(0, 16);
}

export function makeKernel(name = "k6", over: Partial<Kernel> = {}): Kernel {
  return {
    id: idFor(`kernel:${name}`),
    name,
    version: "6.1.0",
    arch: "x86_64",
    vmlinuxPath: `/state/kernels/${name}/vmlinux`,
    initrdPath: null,
    modulesDir: null,
    source: "pull",
    createdAt: FIXED_TIME,
    ...over,
  };
}

export function makeImage(name = "debian", over: Partial<Image> = {}): Image {
  return {
    id: idFor(`image:${name}`),
    name,
    version: "12",
    arch: "x86_64",
    kernelId: null,
    kernelPath: null,
    initrdPath: null,
    rootfsPath: `/state/images/${name}/rootfs.ext4`,
    workSeedPath: `/state/images/${name}/work-seed.ext4`,
    sizeBytes: 2 * 1024 ** 3,
    source: "pull",
    description: `${name} image`,
    createdAt: FIXED_TIME,
    capabilities: null,
    ...over,
  };
}

/** A stopped VM without a CID (the store assigns one); pass `cid` to choose it. */
export function makeVm(name: string, imageId: string, over: Partial<Vm> = {}): NewVm {
  return {
    id: idFor(`vm:${name}`),
    name,
    state: "stopped",
    spec: { vcpu: 2, memoryMib: 1024, diskSizeBytes: 8 * 1024 ** 3 },
    imageId,
    driver: "firecracker",
    vmm: null,
    network: null,
    vmDir: `/state/vms/${name}`,
    createdAt: FIXED_TIME,
    updatedAt: FIXED_TIME,
    startedAt: null,
    stoppedAt: null,
    lastError: null,
    exit: null,
    bootTimings: null,
    driverReason: null,
    disks: null,
    ...over,
  };
}
