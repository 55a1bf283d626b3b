/** Kernel and image rows: model <-> column values. Timestamps are ISO-8601 text, enums text. */
import { ARCHES, ARTIFACT_SOURCES, type Image, isImageCapabilities, type Kernel } from "../../model/index.js";
import type { RowReader } from "./rowReader.js";

export type Params = Record<string, string | number | null>;

export const iso = (d: Date): string => d.toISOString();
export const isoOrNull = (d: Date | null): string | null => (d === null ? null : d.toISOString());

export function kernelToParams(k: Kernel): Params {
  return {
    id: k.id,
    name: k.name,
    version: k.version,
    arch: k.arch,
    vmlinux_path: k.vmlinuxPath,
    initrd_path: k.initrdPath,
    modules_dir: k.modulesDir,
    source: k.source,
    created_at: iso(k.createdAt),
  };
}

export function readKernel(r: RowReader): Kernel {
  return {
    id: r.text("id"),
    name: r.text("name"),
    version: r.text("version"),
    arch: r.oneOf("arch", ARCHES),
    vmlinuxPath: r.text("vmlinux_path"),
    initrdPath: r.textOrNull("initrd_path"),
    modulesDir: r.textOrNull("modules_dir"),
    source: r.oneOf("source", ARTIFACT_SOURCES),
    createdAt: r.date("created_at"),
  };
}

export function imageToParams(img: Image): Params {
  return {
    id: img.id,
    name: img.name,
    version: img.version,
    arch: img.arch,
    kernel_id: img.kernelId,
    kernel_path: img.kernelPath,
    initrd_path: img.initrdPath,
    rootfs_path: img.rootfsPath,
    work_seed_path: img.workSeedPath,
    size_bytes: img.sizeBytes,
    source: img.source,
    description: img.description,
    created_at: iso(img.createdAt),
    capabilities: img.capabilities ? JSON.stringify(img.capabilities) : null,
  };
}

export function readImage(r: RowReader): Image {
  return {
    id: r.text("id"),
    name: r.text("name"),
    version: r.text("version"),
    arch: r.oneOf("arch", ARCHES),
    kernelId: r.textOrNull("kernel_id"),
    kernelPath: r.textOrNull("kernel_path"),
    initrdPath: r.textOrNull("initrd_path"),
    rootfsPath: r.text("rootfs_path"),
    workSeedPath: r.text("work_seed_path"),
    sizeBytes: r.int("size_bytes"),
    source: r.oneOf("source", ARTIFACT_SOURCES),
    description: r.text("description"),
    createdAt: r.date("created_at"),
    capabilities: r.json("capabilities", isImageCapabilities, "{agent: boolean, sshd: boolean}"),
  };
}

/** `INSERT INTO table (a, b) VALUES (@a, @b)` for the keys of `p` (keys come from code, not users). */
export function insertSql(table: string, p: Params): string {
  const cols = Object.keys(p);
  return `INSERT INTO ${table} (${cols.join(", ")}) VALUES (${cols.map((c) => `@${c}`).join(", ")})`;
}

/** `UPDATE table SET a = @a, ... WHERE id = @id` for every key of `p` but id. */
export function updateSql(table: string, p: Params): string {
  const sets = Object.keys(p)
    .filter((c) => c !== "id")
    .map((c) => `${c} = @${c}`);
  return `UPDATE ${table} SET ${sets.join(", ")} WHERE id = @id`;
}
