import { mkdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { ImageBuildParams } from "../../api/methods.js";
import type { ImageRegisterParams, ImageView } from "../../api/vms.js";
import { IMAGE_NAME_RE } from "../../config/checks.js";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import { diskArgv } from "../../host/disk.js";
import type { CommandRunner } from "../../host/runner.js";
import { isNoSpace, noSpaceError } from "../../host/space.js";
import { newId } from "../../model/ids.js";
import { type Image, type ImageCapabilities, imageKernelRef, readinessOf } from "../../model/image.js";
import type { Store } from "../../store/Store.js";
import { checkKernelImage } from "../../vmm/firecracker/kernelImage.js";
import type { DiskManager } from "../disks/DiskManager.js";
import type { Progress, ServiceLog } from "../vms/deps.js";
import { detectCapabilities } from "./capabilities.js";

/** Derives a new rootfs and work seed from an image (real: images/ImageBuilder). */
export interface ImageBuilderPort {
  build(
    params: ImageBuildParams,
    from: {
      rootfsPath: string;
      workSeedPath: string;
      kernelPath?: string | null;
      initrdPath?: string | null;
    },
    ctx: { workDir: string; onProgress: Progress; logFile: string },
  ): Promise<{ rootfs: string; workSeed: string }>;
}

export interface ImageServiceDeps {
  store: Store;
  builder?: ImageBuilderPort;
  /** Where build logs are kept. */
  logsDir?: string;
  disks: DiskManager;
  runner: CommandRunner;
  imagesDir: string;
  log: ServiceLog;
  now?: () => Date;
}

function invalid(field: string, message: string, hint?: string): BangerError {
  return new BangerError(ErrorCodes.INVALID_ARGUMENT, `${field}: ${message}`, hint ? { hint } : {});
}

/** Local images: register files, list, show, delete. */
export class ImageService {
  constructor(private readonly deps: ImageServiceDeps) {}

  view(img: Image): ImageView {
    const { store } = this.deps;
    const ref = imageKernelRef(img);
    const kernel = ref.kind === "managed" ? store.kernels.find(ref.kernelId) : undefined;
    return {
      id: img.id,
      name: img.name,
      version: img.version,
      arch: img.arch,
      kernel: {
        kind: ref.kind,
        path: ref.kind === "own" ? ref.path : (kernel?.vmlinuxPath ?? null),
        name: kernel?.name ?? null,
      },
      initrdPath: img.initrdPath,
      rootfsPath: img.rootfsPath,
      workSeedPath: img.workSeedPath,
      sizeBytes: img.sizeBytes,
      source: img.source,
      description: img.description,
      createdAt: img.createdAt.toISOString(),
      usedBy: store.vms.vmsUsingImage(img.id).map((v) => v.name),
      capabilities: img.capabilities ?? null,
      readiness: img.capabilities ? readinessOf(img.capabilities) : null,
    };
  }

  /**
   * What the image's rootfs provides: recorded at register/pull/build time;
   * detected now (and recorded) for images from before that.
   */
  async capabilities(img: Image): Promise<ImageCapabilities> {
    if (img.capabilities) return img.capabilities;
    let caps: ImageCapabilities;
    try {
      caps = await detectCapabilities(this.deps.runner, img.rootfsPath);
    } catch (e) {
      // Not recorded, so it is tried again; meanwhile the image is taken to be one of banger's own.
      this.deps.log.warn({ image: img.name, err: (e as Error).message }, "cannot detect image capabilities");
      return { agent: true, sshd: true };
    }
    this.deps.store.images.setCapabilities(img.id, caps);
    this.deps.log.info({ image: img.name, ...caps }, "image capabilities detected");
    return caps;
  }

  /** Detect and record the capabilities of a just-installed image; returns the updated row. */
  async record(img: Image): Promise<Image> {
    await this.capabilities(img);
    return this.deps.store.images.getById(img.id);
  }

  list(): { images: ImageView[] } {
    return { images: this.deps.store.images.list({ skipCorrupt: true }).items.map((i) => this.view(i)) };
  }

  show(name: string): ImageView {
    return this.view(this.deps.store.images.get(name));
  }

  /** Check every input before copying anything. */
  private async validate(p: ImageRegisterParams): Promise<void> {
    if (!IMAGE_NAME_RE.test(p.name)) {
      throw invalid(
        "name",
        `"${p.name}" is not a valid image name`,
        "use lowercase letters, digits, '.' and '-' (1-63 characters)",
      );
    }
    if (this.deps.store.images.find(p.name)) {
      throw new BangerError(ErrorCodes.ALREADY_EXISTS, `an image named "${p.name}" already exists`, {
        hint: `choose another name, or delete it first with \`banger image delete ${p.name}\``,
      });
    }
    const files: Array<[string, string | undefined]> = [
      ["--kernel", p.kernel],
      ["--initrd", p.initrd],
      ["--rootfs", p.rootfs],
      ["--work-seed", p.workSeed],
    ];
    for (const [flag, f] of files) {
      if (f === undefined) continue;
      if (!path.isAbsolute(f)) throw invalid(flag, `"${f}" is not an absolute path`);
      const s = await stat(f).catch((e: NodeJS.ErrnoException) => {
        throw invalid(flag, `cannot read ${f}: ${e.code ?? e.message}`);
      });
      if (!s.isFile()) throw invalid(flag, `${f} is not a regular file`);
    }
    await checkKernelImage(p.kernel).catch((e: Error) => {
      throw invalid(
        "--kernel",
        e.message,
        "banger boots an uncompressed ELF vmlinux (see docs on extracting it from vmlinuz)",
      );
    });
    for (const [flag, f] of [
      ["--rootfs", p.rootfs],
      ["--work-seed", p.workSeed],
    ] as const) {
      const why = await this.deps.disks.checkExt4(f);
      if (why)
        throw invalid(
          flag,
          `${f}: ${why}`,
          "banger images are raw ext4 filesystem images (mkfs.ext4 -d DIR FILE SIZE)",
        );
    }
  }

  /** Copy the files into StateDir/images/<id>/ (reflink or sparse copy) and record the image. */
  async register(p: ImageRegisterParams, progress: Progress = () => {}): Promise<ImageView> {
    await this.validate(p);
    const id = newId();
    const dir = path.join(this.deps.imagesDir, id);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    try {
      const dest = (n: string) => path.join(dir, n);
      const copies: Array<[string, string]> = [
        [p.kernel, dest("vmlinux")],
        ...(p.initrd ? ([[p.initrd, dest("initrd.img")]] as Array<[string, string]>) : []),
        [p.rootfs, dest("rootfs.ext4")],
        [p.workSeed, dest("work-seed.ext4")],
      ];
      let size = 0;
      for (const [src, dst] of copies) {
        progress({ kind: "progress", stage: "image:copy", phase: "info", message: `copying ${src}` });
        await this.deps.runner.run(diskArgv.cloneOrCopy(src, dst));
        size += (await stat(dst)).size;
      }
      const img = this.deps.store.images.insert({
        id,
        name: p.name,
        version: p.version ?? "local",
        arch: "x86_64",
        kernelId: null,
        kernelPath: dest("vmlinux"),
        initrdPath: p.initrd ? dest("initrd.img") : null,
        rootfsPath: dest("rootfs.ext4"),
        workSeedPath: dest("work-seed.ext4"),
        sizeBytes: size,
        source: "register",
        description: p.description ?? "",
        createdAt: (this.deps.now ?? (() => new Date()))(),
      });
      this.deps.log.info({ image: img.name, id }, "image registered");
      return this.view(await this.record(img));
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      if (!isNoSpace(e)) throw e;
      const files = [p.kernel, p.initrd, p.rootfs, p.workSeed].filter((f): f is string => !!f);
      const sizes = await Promise.all(files.map((f) => stat(f).then((s) => s.blocks * 512)));
      throw await noSpaceError({
        dir: this.deps.imagesDir,
        doing: `registering image "${p.name}" failed`,
        needBytes: sizes.reduce((a, b) => a + b, 0),
        cause: e,
      });
    }
  }

  /**
   * `image build NAME --from IMAGE ...`: the builder applies the changes to a
   * copy; the new image shares the source's kernel (its own kernel files are
   * copied along). The build log is kept; a failed build leaves no image.
   */
  async build(p: ImageBuildParams, progress: Progress = () => {}): Promise<ImageView> {
    const { store, builder } = this.deps;
    if (!builder) throw new BangerError(ErrorCodes.INTERNAL, "image builds are not available in this daemon");
    if (!IMAGE_NAME_RE.test(p.name)) {
      throw invalid(
        "name",
        `"${p.name}" is not a valid image name`,
        "use lowercase letters, digits, '.' and '-' (1-63 characters)",
      );
    }
    if (store.images.find(p.name)) {
      throw new BangerError(ErrorCodes.ALREADY_EXISTS, `an image named "${p.name}" already exists`, {
        hint: `choose another name, or delete it first with \`banger image delete ${p.name}\``,
      });
    }
    const from = store.images.get(p.from);
    const id = newId();
    const dir = path.join(this.deps.imagesDir, id);
    const logsDir = this.deps.logsDir ?? this.deps.imagesDir;
    await mkdir(logsDir, { recursive: true });
    const logFile = path.join(logsDir, `image-build-${p.name}-${Date.now()}.log`);
    progress({ kind: "progress", stage: "build", phase: "info", message: `build log: ${logFile}` });
    try {
      const out = await builder.build(p, from, { workDir: dir, onProgress: progress, logFile });
      const own = async (f: string | null, name: string) => {
        if (f === null || from.kernelId) return f;
        await this.deps.runner.run([
          "cp",
          "--reflink=auto",
          "--sparse=always",
          "--",
          f,
          path.join(dir, name),
        ]);
        return path.join(dir, name);
      };
      const img = store.images.insert({
        id,
        name: p.name,
        version: `${from.version}+build`,
        arch: from.arch,
        kernelId: from.kernelId,
        kernelPath: await own(from.kernelPath, "vmlinux"),
        initrdPath: await own(from.initrdPath, "initrd.img"),
        rootfsPath: out.rootfs,
        workSeedPath: out.workSeed,
        sizeBytes: (await stat(out.rootfs)).size + (await stat(out.workSeed)).size,
        source: "recipe",
        description: `built from ${from.name}`,
        createdAt: (this.deps.now ?? (() => new Date()))(),
      });
      this.deps.log.info({ image: img.name, from: from.name, logFile }, "image built");
      return this.view(await this.record(img));
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** Refused while a VM uses it (the store names them); then its files go. */
  async delete(name: string): Promise<{ deleted: string }> {
    const img = this.deps.store.images.get(name);
    this.deps.store.images.delete(img.id);
    const owned = path.join(this.deps.imagesDir, img.id);
    if (path.dirname(img.rootfsPath) === owned) await rm(owned, { recursive: true, force: true });
    this.deps.log.info({ image: img.name, id: img.id }, "image deleted");
    return { deleted: img.name };
  }
}
