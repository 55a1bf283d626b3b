/**
 * DiskManager on e2fsprogs and coreutils, without mounting anything: the root
 * is a reflink clone where the state directory's filesystem can do that, else
 * the image's rootfs shared read-only plus a sparse, lazily formatted cow
 * disk; the work disk is a sparse copy of the seed grown with resize2fs; files
 * go into the work disk through debugfs.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { formatSize, GiB } from "../../config/sizes.js";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import {
  DEBUGFS_ENV,
  DEBUGFS_NOT_A_DIR,
  DEBUGFS_NOT_FOUND,
  type DebugfsWrite,
  debugfsErrors,
  debugfsErrorsByFile,
  debugfsMarker,
  debugfsQuote,
  debugfsSections,
  debugfsStatType,
  debugfsWriteRequests,
  diskArgv,
  E2FSCK_OK_CODES,
  imageParents,
} from "../../host/disk.js";
import type { CommandRunner } from "../../host/runner.js";
import { isNoSpace, noSpaceError } from "../../host/space.js";
import type { DiskManager, PrepareDisksRequest, VmDisks, WorkDiskFile } from "./DiskManager.js";
import { invalid, stepError } from "./diskErrors.js";
import { exists, ownership, type Prepared, requireFile, undo, workTarget } from "./diskFiles.js";
import { ext4Problem, vmDisksNeedBytes } from "./ext4.js";
import { ReflinkProbe } from "./reflink.js";

export { stepError } from "./diskErrors.js";

/** debugfs messages meaning "no such file" (the path or one of its parents is missing or not a directory). */
const ABSENT = [DEBUGFS_NOT_FOUND, DEBUGFS_NOT_A_DIR];

/** File names of a VM's disks inside its directory. */
export const DISK_FILES = { root: "root.ext4", cow: "cow.ext4", work: "work.ext4" } as const;
export const DEFAULT_COW_SIZE_BYTES = 4 * GiB;
export const COW_LABEL = "bangercow";

export interface Ext4DiskManagerOptions {
  runner: CommandRunner;
  /** Apparent size of the overlay's cow disk (sparse). Default 4 GiB. */
  cowSizeBytes?: number;
  /** "auto": reflink clone when the state directory supports it; "never": always the overlay. */
  reflink?: "auto" | "never";
  /** Reflink answers cached per directory; share one between managers if you like. */
  reflinkProbe?: ReflinkProbe;
  /** Where private temp dirs for debugfs go. Default os.tmpdir(). */
  tmpDir?: string;
}

export class Ext4DiskManager implements DiskManager {
  private readonly runner: CommandRunner;
  private readonly cowSizeBytes: number;
  private readonly reflink: "auto" | "never";
  private readonly probe: ReflinkProbe;
  private readonly tmpDir: string;

  constructor(opts: Ext4DiskManagerOptions) {
    this.runner = opts.runner;
    this.cowSizeBytes = opts.cowSizeBytes ?? DEFAULT_COW_SIZE_BYTES;
    this.reflink = opts.reflink ?? "auto";
    this.probe = opts.reflinkProbe ?? new ReflinkProbe(opts.runner);
    this.tmpDir = opts.tmpDir ?? os.tmpdir();
  }

  async prepare(req: PrepareDisksRequest): Promise<VmDisks> {
    await this.validate(req);
    const vmDir = path.resolve(req.vmDir);
    const p: Prepared = { created: [], vmDir, madeDir: undefined };
    try {
      p.madeDir = await this.step(p, "create the VM directory", () =>
        mkdir(vmDir, { recursive: true, mode: 0o700 }),
      );
      const work = path.join(vmDir, DISK_FILES.work);
      const mode = await this.step(p, "probe reflink support", () => this.rootMode(req.imageRootfs, vmDir));
      p.mode = mode;
      const disks: VmDisks =
        mode === "reflink"
          ? { root: await this.cloneRoot(p, req.imageRootfs), cow: null, work, rootMode: mode }
          : {
              root: { path: req.imageRootfs, readOnly: true },
              cow: await this.makeCow(p),
              work,
              rootMode: mode,
            };
      await this.makeWork(p, req.imageWorkSeed, work, req.diskSizeBytes);
      return disks;
    } catch (e) {
      await undo(p);
      if (!isNoSpace(e)) throw e;
      const step = ((e as BangerError).details as { step?: string } | undefined)?.step ?? "prepare";
      throw await noSpaceError({
        dir: path.dirname(vmDir),
        doing: `creating the disks in ${vmDir} failed at step "${step}"`,
        needBytes: await stat(req.imageWorkSeed)
          .then((seed) =>
            vmDisksNeedBytes(
              seed.blocks * 512,
              req.diskSizeBytes,
              p.mode !== "reflink" ? this.cowSizeBytes : 0,
            ),
          )
          .catch(() => null),
        cause: e,
        details: (e as BangerError).details,
      });
    }
  }

  async writeWorkFiles(workDisk: string, files: WorkDiskFile[]): Promise<void> {
    const entries = files.map((f) => ({ file: f, target: workTarget(f.path), ...ownership(f) }));
    if (entries.length === 0) return;
    await requireFile(workDisk, "work disk");
    await this.withTemp(async (tmp) => {
      const lookup = [...new Set(entries.flatMap((e) => [...imageParents(e.target), e.target]))];
      const types = await this.statTypes(workDisk, tmp, lookup);
      const writes: DebugfsWrite[] = [];
      for (const [i, e] of entries.entries()) {
        const hostFile = path.join(tmp, `content-${i}`);
        await writeFile(hostFile, e.file.content, { mode: 0o600 });
        writes.push({
          target: e.target,
          hostFile,
          mode: e.mode,
          uid: e.uid,
          gid: e.gid,
          dirMode: e.file.dirMode ?? 0o700,
        });
      }
      const nonce = randomBytes(6).toString("hex");
      let requests: string[];
      try {
        requests = debugfsWriteRequests(writes, types, (i) => debugfsMarker(nonce, i));
      } catch (e) {
        throw invalid(`cannot write into work disk ${workDisk}: ${(e as Error).message}`);
      }
      const script = path.join(tmp, "requests");
      await writeFile(script, `${requests.join("\n")}\n`, { mode: 0o600 });
      const r = await this.runner.run(diskArgv.debugfsScript(workDisk, script), { env: { ...DEBUGFS_ENV } });
      const problems = debugfsErrorsByFile(
        r.stderr,
        nonce,
        entries.map((e) => e.file.path),
      );
      if (problems.length > 0) {
        throw new BangerError(
          ErrorCodes.COMMAND_FAILED,
          `writing files into work disk ${workDisk} failed: ${problems.join("; ")}`,
          { details: r },
        );
      }
    });
  }

  async writeRootFiles(disks: VmDisks, files: WorkDiskFile[]): Promise<void> {
    const target = disks.cow ?? disks.root.path;
    const prefix = disks.cow ? "upper/" : "";
    if (!disks.cow && disks.root.readOnly) {
      throw invalid(`the root ${disks.root.path} is read-only and there is no copy-on-write disk`);
    }
    await this.writeWorkFiles(
      target,
      files.map((f) => ({
        ...f,
        path: `${prefix}${f.path.replace(/^\/+/, "")}`,
        dirMode: f.dirMode ?? 0o755,
      })),
    );
  }

  async readWorkFile(workDisk: string, file: string): Promise<Buffer | null> {
    const target = workTarget(file);
    await requireFile(workDisk, "work disk");
    return this.withTemp(async (tmp) => {
      const out = path.join(tmp, "out");
      const r = await this.debugfsQuery(workDisk, tmp, [
        `stat ${debugfsQuote(target)}`,
        `dump ${debugfsQuote(target)} ${debugfsQuote(out)}`,
      ]);
      if (ABSENT.some((re) => re.test(r.stderr))) return null;
      const type = debugfsStatType(debugfsSections(r.stdout)[0]?.output ?? "");
      if (type !== "regular")
        throw invalid(`${file} on work disk ${workDisk} is a ${type}, not a regular file`);
      return readFile(out);
    });
  }

  async remove(disks: Pick<VmDisks, "cow" | "work" | "root" | "rootMode">): Promise<void> {
    const [work, root] = [path.resolve(disks.work), path.resolve(disks.root.path)];
    const doomed = new Set<string>([work]);
    if (disks.cow !== null) doomed.add(path.resolve(disks.cow));
    // Only a writable reflink clone beside the work disk is the VM's own; an
    // overlay root is the image's rootfs and must survive.
    const ownRoot =
      disks.rootMode === "reflink" && !disks.root.readOnly && path.dirname(root) === path.dirname(work);
    if (ownRoot) doomed.add(root);
    else doomed.delete(root);
    await Promise.all(
      [...doomed].map((f) =>
        rm(f, { force: true }).catch((e: Error) => {
          throw new BangerError(ErrorCodes.COMMAND_FAILED, `cannot remove ${f}: ${e.message}`, { cause: e });
        }),
      ),
    );
  }

  checkExt4(file: string): Promise<string | null> {
    return ext4Problem(file);
  }

  /** Every refusal happens here, before anything is created. */
  private async validate(req: PrepareDisksRequest): Promise<void> {
    const size = req.diskSizeBytes;
    if (!Number.isSafeInteger(size) || size <= 0)
      throw invalid(`disk size must be a positive number of bytes, not ${size}`);
    await requireFile(req.imageRootfs, "image root filesystem");
    const seed = await requireFile(req.imageWorkSeed, "image work seed");
    const problem = await ext4Problem(req.imageWorkSeed);
    if (problem) throw invalid(`image work seed ${req.imageWorkSeed} is unusable: ${problem}`);
    if (seed.size > size) {
      throw invalid(
        `disk size ${formatSize(size)} (${size} bytes) is smaller than the image's work seed ${formatSize(seed.size)} (${seed.size} bytes)`,
        `choose a disk size of at least ${formatSize(seed.size)}`,
      );
    }
    const vmDir = path.resolve(req.vmDir);
    for (const name of Object.values(DISK_FILES)) {
      const f = path.join(vmDir, name);
      if (await exists(f)) {
        throw new BangerError(
          ErrorCodes.ALREADY_EXISTS,
          `${f} already exists: refusing to overwrite a VM's disk`,
        );
      }
    }
  }

  /** Reflink when allowed, the image is on the VM directory's filesystem, and that filesystem clones. */
  private async rootMode(imageRootfs: string, vmDir: string): Promise<VmDisks["rootMode"]> {
    if (this.reflink === "never") return "overlay";
    const parent = path.dirname(vmDir);
    const [img, dir, up] = await Promise.all([stat(imageRootfs), stat(vmDir), stat(parent)]);
    if (img.dev !== dir.dev) return "overlay";
    // Probing the parent lets every VM directory under it share one answer.
    const ok = await this.probe.supports(up.dev === dir.dev ? parent : vmDir);
    return ok ? "reflink" : "overlay";
  }

  private async cloneRoot(p: Prepared, imageRootfs: string): Promise<VmDisks["root"]> {
    const root = path.join(p.vmDir, DISK_FILES.root);
    p.created.push(root);
    await this.step(p, "clone the root filesystem (reflink)", async () => {
      await this.runner.run(diskArgv.reflinkCopy(imageRootfs, root));
      await chmod(root, 0o600);
    });
    return { path: root, readOnly: false };
  }

  private async makeCow(p: Prepared): Promise<string> {
    const cow = path.join(p.vmDir, DISK_FILES.cow);
    p.created.push(cow);
    await this.step(p, "create the cow disk", async () => {
      await this.runner.run(diskArgv.truncate(cow, this.cowSizeBytes));
      await chmod(cow, 0o600);
    });
    await this.step(p, "format the cow disk", () => this.runner.run(diskArgv.mkfsExt4(cow, COW_LABEL)));
    return cow;
  }

  private async makeWork(p: Prepared, seed: string, work: string, size: number): Promise<void> {
    p.created.push(work);
    await this.step(p, "copy the work seed", async () => {
      await this.runner.run(diskArgv.sparseCopy(seed, work));
      await chmod(work, 0o600);
    });
    await this.step(p, "grow the work disk file", () => this.runner.run(diskArgv.truncate(work, size)));
    await this.step(p, "check the work filesystem", async () => {
      const r = await this.runner.run(diskArgv.e2fsckForce(work), { allowFailure: true });
      if (!E2FSCK_OK_CODES.has(r.code)) {
        throw new BangerError(ErrorCodes.COMMAND_FAILED, `e2fsck exited with code ${r.code}`, { details: r });
      }
    });
    await this.step(p, "grow the work filesystem", () => this.runner.run(diskArgv.resize2fs(work)));
  }

  private async step<T>(p: Prepared, name: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw stepError(p.vmDir, name, e);
    }
  }

  /** Inode type of every path that exists (parents and targets), from one read-only debugfs run. */
  private async statTypes(img: string, tmp: string, paths: string[]): Promise<Map<string, string>> {
    const r = await this.debugfsQuery(
      img,
      tmp,
      paths.map((q) => `stat ${debugfsQuote(q)}`),
    );
    const sections = debugfsSections(r.stdout);
    const types = new Map<string, string>();
    paths.forEach((q, i) => {
      const t = debugfsStatType(sections[i]?.output ?? "");
      if (t !== null) types.set(q, t);
    });
    return types;
  }

  /** Run read-only debugfs requests; throws on any error other than "absent". */
  private async debugfsQuery(img: string, tmp: string, requests: string[]) {
    const script = path.join(tmp, `query-${randomBytes(4).toString("hex")}`);
    await writeFile(script, `${requests.join("\n")}\n`, { mode: 0o600 });
    const r = await this.runner.run(diskArgv.debugfsQuery(img, script), { env: { ...DEBUGFS_ENV } });
    const errors = debugfsErrors(r.stderr, ABSENT);
    if (errors.length > 0) {
      throw new BangerError(
        ErrorCodes.COMMAND_FAILED,
        `debugfs could not read ${img}: ${errors.join("; ")}`,
        {
          details: r,
        },
      );
    }
    return r;
  }

  private async withTemp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
    const dir = await mkdtemp(path.join(this.tmpDir, "banger-debugfs-"));
    try {
      await chmod(dir, 0o700);
      return await fn(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
