/** The file-level helpers of Ext4DiskManager: checks of its inputs, and the undo of a failed prepare. */
import { rm, rmdir, stat } from "node:fs/promises";
import path from "node:path";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import { imagePath } from "../../host/disk.js";
import type { WorkDiskFile } from "./DiskManager.js";
import { invalid } from "./diskErrors.js";

/** What a prepare has made so far (undone when a later step fails). */
export interface Prepared {
  created: string[];
  /** Known once probed. */
  mode?: "reflink" | "overlay";
  vmDir: string;
  /** The topmost directory that prepare made (mkdir -p), if any. */
  madeDir: string | undefined;
}

/** A path inside the work disk, checked. */
export function workTarget(rel: string): string {
  try {
    return imagePath(rel);
  } catch (e) {
    throw invalid(`invalid work disk path ${JSON.stringify(rel)}: ${(e as Error).message}`);
  }
}

/** A file's mode, uid and gid, checked. */
export function ownership(f: WorkDiskFile): { mode: number; uid: number; gid: number } {
  const { mode, uid = 0, gid = 0 } = f;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw invalid(`mode of ${f.path} must be permission bits (0 to 0o7777), not ${mode}`);
  }
  for (const [what, id] of [
    ["uid", uid],
    ["gid", gid],
  ] as const) {
    if (!Number.isSafeInteger(id) || id < 0 || id > 0xffffffff)
      throw invalid(`${what} of ${f.path} must be a non-negative integer, not ${id}`);
  }
  return { mode, uid, gid };
}

export async function exists(f: string): Promise<boolean> {
  return stat(f).then(
    () => true,
    () => false,
  );
}

export async function requireFile(f: string, what: string) {
  const st = await stat(f).catch((e: NodeJS.ErrnoException) => {
    throw new BangerError(
      e.code === "ENOENT" ? ErrorCodes.NOT_FOUND : ErrorCodes.COMMAND_FAILED,
      `${what} ${f} ${e.code === "ENOENT" ? "does not exist" : `cannot be read: ${e.message}`}`,
      { cause: e },
    );
  });
  if (!st.isFile()) throw invalid(`${what} ${f} is not a regular file`);
  return st;
}

/** Remove what a failed prepare created: its files, then the directories it made (only if empty). */
export async function undo(p: Prepared): Promise<void> {
  await Promise.all(p.created.map((f) => rm(f, { force: true }).catch(() => undefined)));
  if (p.madeDir === undefined) return;
  for (let d = p.vmDir; ; d = path.dirname(d)) {
    await rmdir(d).catch(() => undefined);
    if (d === p.madeDir || d === path.dirname(d)) break;
  }
}
