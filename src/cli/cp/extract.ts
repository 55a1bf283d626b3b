/**
 * The client's side of `vm cp NAME:SRC DEST`: write the entries a guest sends
 * under one root directory, treating them as hostile. Refused: absolute paths
 * and `..` or `.` components (the copy stops), parents that are symlinks (the
 * copy stops), symlinks whose targets are absolute or climb out of the copy
 * (skipped with a warning). setuid, setgid and sticky bits are stripped.
 * Files are opened with O_NOFOLLOW and never written through an existing link.
 */
import { constants } from "node:fs";
import {
  chmod,
  type FileHandle,
  lstat,
  lutimes,
  mkdir,
  open,
  symlink,
  unlink,
  utimes,
} from "node:fs/promises";
import path from "node:path";
import type { FileEntry } from "../../api/files.js";
import { BangerError, ErrorCodes } from "../../errors/index.js";

/** Why a relative entry path is unsafe, or null ("" is the copy's root). */
export function entryPathProblem(rel: string): string | null {
  if (rel === "") return null;
  if (rel.includes("\0")) return "holds a NUL byte";
  if (rel.startsWith("/")) return "is absolute";
  for (const c of rel.split("/")) {
    if (c === "") return "has an empty component";
    if (c === "." || c === "..") return `has a "${c}" component`;
  }
  return null;
}

/** Why a symlink at `rel` with `target` would point outside the copy, or null. */
export function linkTargetProblem(rel: string, target: string): string | null {
  if (target === "") return "has an empty target";
  if (target.startsWith("/")) return "points to an absolute path";
  let depth = rel === "" ? 0 : rel.split("/").length - 1;
  for (const c of target.split("/")) {
    if (c === "..") depth--;
    else if (c !== "" && c !== ".") depth++;
    if (depth < 0) return "climbs out of the copy";
  }
  return null;
}

const FILE_MODE_MASK = 0o0777; // no setuid, setgid or sticky from a guest

function unsafe(rel: string, why: string): BangerError {
  return new BangerError(ErrorCodes.PROTOCOL, `refused the guest's entry ${JSON.stringify(rel)}: it ${why}`, {
    hint: "the guest sent a path that leaves the destination; nothing outside it was written",
  });
}

export class Extractor {
  private file: { fh: FileHandle; entry: FileEntry } | null = null;
  private readonly dirs: Array<{ abs: string; entry: FileEntry }> = [];
  entries = 0;
  bytes = 0;
  /** Symlinks refused (warned). */
  skipped = 0;

  /** `root`: where the copy's root goes (DEST itself, or DEST/NAME for an existing directory DEST). */
  constructor(
    private readonly root: string,
    private readonly onWarning: (message: string) => void,
  ) {}

  async entry(e: FileEntry): Promise<void> {
    await this.closeFile();
    const why = entryPathProblem(e.path);
    if (why) throw unsafe(e.path, why);
    const abs = e.path === "" ? this.root : path.join(this.root, e.path);
    await this.checkParents(e.path);
    this.entries++;
    if (e.type === "dir") return this.dir(abs, e);
    if (e.type === "symlink") return this.link(abs, e);
    this.file = { fh: await openNoFollow(abs), entry: e };
  }

  async data(chunk: Buffer): Promise<void> {
    if (!this.file) throw new BangerError(ErrorCodes.PROTOCOL, "the guest sent file data outside a file");
    await this.file.fh.write(chunk);
    this.bytes += chunk.length;
  }

  /** Close the last file, then set directories' modes and times, deepest first. */
  async finish(): Promise<void> {
    await this.closeFile();
    for (const d of this.dirs.reverse()) {
      await chmod(d.abs, d.entry.mode & FILE_MODE_MASK);
      await utimes(d.abs, new Date(), mtime(d.entry));
    }
  }

  async abort(): Promise<void> {
    await this.file?.fh.close().catch(() => undefined);
    this.file = null;
  }

  /** Every existing component between the root and the entry must be a real directory. */
  private async checkParents(rel: string): Promise<void> {
    if (rel === "") return;
    const parts = rel.split("/");
    let dir = this.root;
    for (let i = 0; i < parts.length; i++) {
      const st = await lstat(dir).catch(() => null);
      if (!st?.isDirectory()) throw unsafe(rel, `goes through ${dir}, which is not a directory (a symlink?)`);
      dir = path.join(dir, parts[i]!);
    }
  }

  private async dir(abs: string, e: FileEntry): Promise<void> {
    try {
      await mkdir(abs, { mode: 0o700 });
    } catch (err) {
      const st = await lstat(abs).catch(() => null);
      if (!st?.isDirectory())
        throw new BangerError(ErrorCodes.CONFLICT, `${abs} exists and is not a directory`);
      void err;
    }
    this.dirs.push({ abs, entry: e });
  }

  private async link(abs: string, e: FileEntry): Promise<void> {
    const why = linkTargetProblem(e.path, e.target ?? "");
    if (why) {
      this.skipped++;
      this.onWarning(`skipped the symlink ${e.path || "."} -> ${e.target}: it ${why}`);
      return;
    }
    const st = await lstat(abs).catch(() => null);
    if (st?.isDirectory()) throw new BangerError(ErrorCodes.CONFLICT, `${abs} exists and is a directory`);
    if (st) await unlink(abs);
    await symlink(e.target!, abs);
    await lutimes(abs, new Date(), mtime(e));
  }

  private async closeFile(): Promise<void> {
    const f = this.file;
    if (!f) return;
    this.file = null;
    try {
      await f.fh.chmod(f.entry.mode & FILE_MODE_MASK);
      await f.fh.utimes(new Date(), mtime(f.entry));
    } finally {
      await f.fh.close();
    }
  }
}

function mtime(e: FileEntry): number {
  return e.mtimeSec + e.mtimeNsec / 1e9;
}

/** Open for writing, never through a symlink (an existing link is replaced). */
async function openNoFollow(abs: string): Promise<FileHandle> {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;
  try {
    return await open(abs, flags, 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ELOOP") throw e;
    await unlink(abs);
    return open(abs, flags | constants.O_EXCL, 0o600);
  }
}
