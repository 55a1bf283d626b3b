import { lstat, readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { FileSyncEntry } from "../../config/types.js";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { WorkDiskFile } from "../disks/DiskManager.js";

export const DEFAULT_SYNC_MODE = 0o600;

export interface SyncPlan {
  files: WorkDiskFile[];
  /** One line per skipped entry or file (missing host path, symlink, special file). */
  warnings: string[];
}

/** /root/a/b -> a/b (validated config guarantees the /root/ prefix). */
function workPath(guest: string): string {
  return guest.replace(/^\/root\/+/, "");
}

/**
 * Read the host side of every [[file_sync]] entry into files for the work
 * disk: a file is installed root-owned with the entry's mode (default 0600);
 * a directory is copied recursively, each file keeping its own permissions.
 * A missing host path is a warning; any other read error aborts.
 */
export async function planFileSync(entries: readonly FileSyncEntry[]): Promise<SyncPlan> {
  const plan: SyncPlan = { files: [], warnings: [] };
  for (const [i, e] of entries.entries()) {
    const st = await lstat(e.host).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return null;
      throw readError(i, e.host, err);
    });
    if (st === null) {
      plan.warnings.push(`file_sync[${i}]: ${e.host} does not exist; skipped`);
    } else if (st.isDirectory()) {
      await walk(i, e.host, workPath(e.guest), plan);
    } else if (st.isFile()) {
      plan.files.push({
        path: workPath(e.guest),
        content: await read(i, e.host),
        mode: e.mode ?? DEFAULT_SYNC_MODE,
        uid: 0,
        gid: 0,
      });
    } else {
      plan.warnings.push(`file_sync[${i}]: ${e.host} is not a regular file or directory; skipped`);
    }
  }
  return plan;
}

async function walk(i: number, hostDir: string, guestDir: string, plan: SyncPlan): Promise<void> {
  const dirMode = (await lstat(hostDir)).mode & 0o7777;
  const names = await readdir(hostDir).catch((err: NodeJS.ErrnoException) => {
    throw readError(i, hostDir, err);
  });
  for (const n of names.sort()) {
    const host = path.join(hostDir, n);
    const guest = `${guestDir}/${n}`;
    const st = await lstat(host);
    if (st.isDirectory()) await walk(i, host, guest, plan);
    else if (st.isFile()) {
      plan.files.push({
        path: guest,
        content: await read(i, host),
        mode: st.mode & 0o7777,
        uid: 0,
        gid: 0,
        dirMode,
      });
    } else
      plan.warnings.push(
        `file_sync[${i}]: ${host} is a ${st.isSymbolicLink() ? "symbolic link" : "special file"}; skipped`,
      );
  }
}

async function read(i: number, file: string): Promise<Buffer> {
  return readFile(file).catch((err: NodeJS.ErrnoException) => {
    throw readError(i, file, err);
  });
}

function readError(i: number, file: string, err: NodeJS.ErrnoException): BangerError {
  return new BangerError(
    ErrorCodes.INVALID_ARGUMENT,
    `file_sync[${i}]: cannot read ${file}: ${err.code ?? err.message}`,
    {
      hint: "fix the file's permissions or remove the entry from [[file_sync]] in config.toml",
      cause: err,
    },
  );
}
