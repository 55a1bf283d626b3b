/**
 * Firecracker run directly (no jailer) sees host paths. Two things make a
 * saved state portable to another VM directory anyway:
 *
 * - Firecracker runs with the VM directory as its working directory and is
 *   given each drive as the relative path `fc-drives/<drive id>`, a symlink
 *   to the drive. A snapshot records the paths Firecracker was given, so a
 *   clone restored in its own VM directory opens its own drives at the same
 *   relative paths: the jail's stable `/drives/<id>` without a chroot.
 * - Every other path it is given is absolute (resolved here), so the working
 *   directory changes nothing else.
 */
import { mkdir, rm, symlink } from "node:fs/promises";
import path from "node:path";
import type { BootSpec } from "../driver.js";
import { isResourceId } from "./bodies.js";

/** The directory of drive links inside the VM directory. */
export const DIRECT_DRIVE_DIR = "fc-drives";

/** A drive as a directly run Firecracker is given it (relative to the VM directory). */
export const directDrivePath = (driveId: string): string => `${DIRECT_DRIVE_DIR}/${driveId}`;

/** The spec with every file path absolute (Firecracker's working directory is the VM directory). */
export function absoluteSpec(spec: BootSpec): BootSpec {
  const abs = (p: string): string => path.resolve(p);
  return {
    ...spec,
    kernelPath: abs(spec.kernelPath),
    initrdPath: spec.initrdPath ? abs(spec.initrdPath) : null,
    drives: spec.drives.map((d) => ({ ...d, path: abs(d.path) })),
    vmDir: abs(spec.vmDir),
    consoleLog: abs(spec.consoleLog),
    vmmLog: abs(spec.vmmLog),
    memoryFile: abs(spec.memoryFile),
    ...(spec.restore
      ? { restore: { stateFile: abs(spec.restore.stateFile), memoryFile: abs(spec.restore.memoryFile) } }
      : {}),
  };
}

/** The spec as a directly run Firecracker must see it: drives through their links. */
export function directSpec(spec: BootSpec): BootSpec {
  return { ...spec, drives: spec.drives.map((d) => ({ ...d, path: directDrivePath(d.id) })) };
}

/**
 * Make `<vmDir>/fc-drives/<id>` -> the drive, for every drive (afresh). An id
 * that is not a valid Firecracker id gets no link: the "drives" step (or the
 * restore's check) refuses it with the reason, and no name with `/` or `..`
 * is ever made.
 */
export async function linkDrives(spec: BootSpec): Promise<void> {
  const dir = path.join(spec.vmDir, DIRECT_DRIVE_DIR);
  await unlinkDrives(spec.vmDir);
  await mkdir(dir, { mode: 0o700 });
  for (const d of spec.drives) {
    if (isResourceId(d.id)) await symlink(path.resolve(d.path), path.join(dir, d.id));
  }
}

/** Remove the drive links (only links live there; the drives are untouched). */
export async function unlinkDrives(vmDir: string): Promise<void> {
  await rm(path.join(vmDir, DIRECT_DRIVE_DIR), { recursive: true, force: true });
}
