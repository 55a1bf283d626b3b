/**
 * ext4 images from directory trees (`mkfs.ext4 -d`), sized to their content,
 * and the split of a root tree into the rootfs (empty /root mount point) and
 * the work seed (the skeleton of /root, mounted over it in every VM).
 */

import { chmod, lstat, mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { GiB, MiB } from "../../config/sizes.js";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import { DEBUGFS_ENV, debugfsErrors } from "../../host/disk.js";
import type { CommandRunner } from "../../host/runner.js";
import type { Stages } from "./stages.js";

export const ROOTFS_LABEL = "bangerroot";
export const WORK_SEED_LABEL = "bangerwork";
export const BLOCK_SIZE = 4096;

/** How big an image made from a tree is: content plus headroom, at least minBytes, whole MiB. */
export interface SizePolicy {
  minBytes: number;
  /** Fraction of the content added as free space, e.g. 0.3. */
  headroom: number;
  /** Fixed extra bytes (journal, inode tables), added before rounding. */
  overheadBytes: number;
}

export const ROOTFS_SIZE: SizePolicy = { minBytes: GiB, headroom: 0.3, overheadBytes: 96 * MiB };
export const WORK_SEED_SIZE: SizePolicy = { minBytes: 64 * MiB, headroom: 0.3, overheadBytes: 16 * MiB };

/** The image size for `contentBytes` of files under a policy, rounded up to whole MiB. */
export function imageSizeFor(contentBytes: number, policy: SizePolicy): number {
  const want = Math.ceil(contentBytes * (1 + policy.headroom)) + policy.overheadBytes;
  const bytes = Math.max(policy.minBytes, want);
  return Math.ceil(bytes / MiB) * MiB;
}

/** Parse `du -s -B1 DIR` output ("12345\tDIR") into bytes. */
export function parseDuBytes(stdout: string): number {
  const n = Number(stdout.trim().split(/\s+/)[0]);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new BangerError(ErrorCodes.INTERNAL, `cannot parse du output: ${JSON.stringify(stdout.trim())}`);
  }
  return n;
}

/** Bytes allocated by the files under `dir` (`du -s -B1`, one filesystem). */
export async function treeBytes(dir: string, runner: CommandRunner): Promise<number> {
  return parseDuBytes((await runner.run(["du", "-s", "-x", "-B1", dir])).stdout);
}

/** The argv of `mkfs.ext4` that builds `file` (created, `bytes` long) from `dir`. */
export function mkfsFromDirArgv(dir: string, file: string, label: string, bytes: number): string[] {
  return [
    "mkfs.ext4",
    "-F",
    "-q",
    "-b",
    String(BLOCK_SIZE),
    "-L",
    label,
    "-E",
    "root_owner=0:0",
    "-d",
    dir,
    file,
    `${Math.floor(bytes / 1024)}k`,
  ];
}

export interface MkfsFromDirOptions {
  dir: string;
  out: string;
  label: string;
  size: SizePolicy;
  runner: CommandRunner;
}

/**
 * Build an ext4 image at `out` from `dir` (ownership and modes kept: run as
 * root), sized by the policy; the image's root directory gets `dir`'s mode
 * (mkfs leaves it 0755). Returns the image's size in bytes.
 */
export async function mkfsFromDir(opts: MkfsFromDirOptions): Promise<number> {
  const { dir, out, label, runner } = opts;
  const bytes = imageSizeFor(await treeBytes(dir, runner), opts.size);
  await rm(out, { force: true });
  await runner.run(mkfsFromDirArgv(dir, out, label, bytes));
  const rootMode = (await stat(dir)).mode & 0o7777;
  await debugfsFix(out, [`sif / mode 0${(0o40000 | rootMode).toString(8)}`], runner);
  return bytes;
}

/** Run debugfs requests read-write on an image; debugfs exits 0 on errors, so stderr is checked. */
export async function debugfsFix(image: string, requests: string[], runner: CommandRunner): Promise<void> {
  const res = await runner.run(["debugfs", "-w", "-f", "-", image], {
    input: `${requests.join("\n")}\n`,
    env: { ...DEBUGFS_ENV },
  });
  const errors = debugfsErrors(res.stderr);
  if (errors.length > 0) {
    throw new BangerError(
      ErrorCodes.COMMAND_FAILED,
      `debugfs could not fix up ${image}: ${errors.slice(0, 3).join("; ")}`,
      { details: res },
    );
  }
}

/**
 * Move the contents of ROOT/root into `seedDir` (mode 0700, with .ssh 0700),
 * leaving ROOT/root an empty 0700 mount point. Both are on one filesystem.
 */
export async function splitWorkSeed(root: string, seedDir: string): Promise<void> {
  const home = path.join(root, "root");
  const st = await lstat(home).catch(() => undefined);
  if (st !== undefined && !st.isDirectory()) {
    throw new BangerError(ErrorCodes.INTERNAL, `${home} is not a directory`);
  }
  await mkdir(home, { recursive: true });
  await mkdir(seedDir, { recursive: true });
  for (const name of await readdir(home)) {
    await rename(path.join(home, name), path.join(seedDir, name));
  }
  await mkdir(path.join(seedDir, ".ssh"), { recursive: true });
  await chmod(path.join(seedDir, ".ssh"), 0o700);
  await chmod(seedDir, 0o700);
  await chmod(home, 0o700);
}

/** The file names a built image has in its cache entry. */
export const IMAGE_FILES = { rootfs: "rootfs.ext4", workSeed: "work-seed.ext4" } as const;

/** The two ext4 images of a built tree, as timed stages: rootfs.ext4 from `root`, work-seed.ext4 from `seed`. */
export async function mkfsImageFiles(
  stages: Stages,
  dirs: { root: string; seed: string },
  out: string,
  runner: CommandRunner,
): Promise<void> {
  await stages.run("mkfs-rootfs", "make rootfs.ext4", () =>
    mkfsFromDir({
      dir: dirs.root,
      out: path.join(out, IMAGE_FILES.rootfs),
      label: ROOTFS_LABEL,
      size: ROOTFS_SIZE,
      runner,
    }),
  );
  await stages.run("mkfs-work-seed", "make work-seed.ext4", () =>
    mkfsFromDir({
      dir: dirs.seed,
      out: path.join(out, IMAGE_FILES.workSeed),
      label: WORK_SEED_LABEL,
      size: WORK_SEED_SIZE,
      runner,
    }),
  );
}
