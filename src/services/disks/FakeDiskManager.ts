/**
 * Test double for DiskManager: records every call, creates small placeholder
 * files where the real one creates disks, keeps written work files in memory,
 * and fails on demand.
 */
import { mkdir, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import { imagePath } from "../../host/disk.js";
import type { DiskManager, PrepareDisksRequest, VmDisks, WorkDiskFile } from "./DiskManager.js";
import { DISK_FILES } from "./Ext4DiskManager.js";

export type DiskMethod = "prepare" | "writeWorkFiles" | "readWorkFile" | "remove" | "checkExt4";

export type FakeDiskCall =
  | { method: "prepare"; req: PrepareDisksRequest }
  | { method: "writeWorkFiles"; workDisk: string; files: WorkDiskFile[] }
  | { method: "readWorkFile"; workDisk: string; path: string }
  | { method: "remove"; disks: Pick<VmDisks, "cow" | "work" | "root" | "rootMode"> }
  | { method: "checkExt4"; path: string };

export interface FakeDiskManagerOptions {
  /** How prepare provides the root. Default "overlay". */
  rootMode?: VmDisks["rootMode"];
}

export const PLACEHOLDER = "banger fake disk\n";

export class FakeDiskManager implements DiskManager {
  readonly calls: FakeDiskCall[] = [];
  /** Files written per work disk: workDisk -> normalized path ("/.ssh/authorized_keys") -> file. */
  readonly workFiles = new Map<string, Map<string, WorkDiskFile>>();
  /** checkExt4 answers by path; paths not listed: null when the file exists, else "cannot read: ENOENT". */
  readonly ext4Verdicts = new Map<string, string | null>();
  rootMode: VmDisks["rootMode"];
  private readonly failures = new Map<DiskMethod, { error: Error; times: number }>();

  constructor(opts: FakeDiskManagerOptions = {}) {
    this.rootMode = opts.rootMode ?? "overlay";
  }

  /** Make `method` throw `error` on its next `times` calls (Infinity: until cleared). */
  failOn(
    method: DiskMethod,
    error: Error = new BangerError(ErrorCodes.COMMAND_FAILED, `fake ${method} failure`),
    times = 1,
  ): this {
    this.failures.set(method, { error, times });
    return this;
  }

  clearFailures(): void {
    this.failures.clear();
  }

  callsOf<M extends DiskMethod>(method: M): Extract<FakeDiskCall, { method: M }>[] {
    return this.calls.filter((c): c is Extract<FakeDiskCall, { method: M }> => c.method === method);
  }

  async prepare(req: PrepareDisksRequest): Promise<VmDisks> {
    this.record({ method: "prepare", req: { ...req } });
    await mkdir(req.vmDir, { recursive: true });
    const work = path.join(req.vmDir, DISK_FILES.work);
    const disks: VmDisks =
      this.rootMode === "reflink"
        ? {
            root: { path: path.join(req.vmDir, DISK_FILES.root), readOnly: false },
            cow: null,
            work,
            rootMode: "reflink",
          }
        : {
            root: { path: req.imageRootfs, readOnly: true },
            cow: path.join(req.vmDir, DISK_FILES.cow),
            work,
            rootMode: "overlay",
          };
    const own = [work, disks.cow, disks.rootMode === "reflink" ? disks.root.path : null];
    for (const f of own) if (f !== null) await writeFile(f, PLACEHOLDER);
    return disks;
  }

  async writeWorkFiles(workDisk: string, files: WorkDiskFile[]): Promise<void> {
    this.record({ method: "writeWorkFiles", workDisk, files: files.map((f) => ({ ...f })) });
    const disk = this.workFiles.get(workDisk) ?? new Map<string, WorkDiskFile>();
    for (const f of files) disk.set(normalize(f.path), { ...f, content: Buffer.from(f.content) });
    this.workFiles.set(workDisk, disk);
  }

  async writeRootFiles(disks: VmDisks, files: WorkDiskFile[]): Promise<void> {
    const target = disks.cow ?? disks.root.path;
    const prefix = disks.cow ? "upper/" : "";
    await this.writeWorkFiles(
      target,
      files.map((f) => ({ ...f, path: `${prefix}${f.path.replace(/^\/+/, "")}` })),
    );
  }

  async readWorkFile(workDisk: string, file: string): Promise<Buffer | null> {
    this.record({ method: "readWorkFile", workDisk, path: file });
    const f = this.workFiles.get(workDisk)?.get(normalize(file));
    return f ? Buffer.from(f.content) : null;
  }

  async remove(disks: Pick<VmDisks, "cow" | "work" | "root" | "rootMode">): Promise<void> {
    this.record({ method: "remove", disks: { ...disks, root: { ...disks.root } } });
    const doomed = [disks.work, disks.cow, disks.rootMode === "reflink" ? disks.root.path : null];
    for (const f of doomed) if (f !== null) await rm(f, { force: true });
    this.workFiles.delete(disks.work);
  }

  async checkExt4(file: string): Promise<string | null> {
    this.record({ method: "checkExt4", path: file });
    const verdict = this.ext4Verdicts.get(file);
    if (verdict !== undefined) return verdict;
    return stat(file).then(
      () => null,
      (e: NodeJS.ErrnoException) => `cannot read: ${e.code ?? e.message}`,
    );
  }

  /** Record the call, then throw when a failure is armed for its method. */
  private record(call: FakeDiskCall): void {
    this.calls.push(call);
    const f = this.failures.get(call.method);
    if (!f) return;
    if (--f.times <= 0) this.failures.delete(call.method);
    throw f.error;
  }
}

function normalize(p: string): string {
  try {
    return imagePath(p);
  } catch (e) {
    throw new BangerError(
      ErrorCodes.INVALID_ARGUMENT,
      `invalid work disk path ${JSON.stringify(p)}: ${(e as Error).message}`,
    );
  }
}
