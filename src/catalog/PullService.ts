/**
 * Pulling images and kernels from the catalogs: download + verify + extract
 * + register, or build from the recipe when there is no bundle or the
 * network fails. All or nothing: on failure no directory and no row remain
 * (a kernel pulled for the image is removed again). Also exports an image as
 * a bundle with its catalog entry, so users can host their own catalog.
 */
import { mkdir, mkdtemp, readdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import type { ProgressEvent } from "../api/protocol.js";
import { BangerError, ErrorCodes, isBangerError } from "../errors/index.js";
import { isNoSpace, noSpaceError } from "../host/space.js";
import { newId as defaultNewId } from "../model/ids.js";
import type { Image } from "../model/image.js";
import type { Kernel } from "../model/kernel.js";
import { KeyedLock } from "../services/keyedLock.js";
import type { Store } from "../store/Store.js";
import { checkKernelImage } from "../vmm/firecracker/kernelImage.js";
import { extractBundle } from "./bundle.js";
import type { Catalog } from "./catalog.js";
import { type DownloadOptions, download, isNetworkFailure } from "./download.js";
import { exportImage } from "./export.js";
import { checkInstalled, describeDownload, humanBytes, installedSize, stageRecipeFiles } from "./install.js";
import type { CatalogKind, ProgressFn, RecipeRunner, ResolvedEntry, Role } from "./types.js";

export interface PullLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface PullServiceDeps {
  store: Store;
  /** Loads the merged catalogs (CatalogLoader). */
  catalogs: { load(kind: CatalogKind): Promise<Catalog> };
  recipes: RecipeRunner;
  /** StateDir/images: pulled images go to IMAGES_DIR/<id>/. */
  imagesDir: string;
  /** StateDir/kernels: pulled kernels go to KERNELS_DIR/<id>/. */
  kernelsDir: string;
  /** DiskManager.checkExt4: a reason when the file is not an ext4 image. */
  checkExt4: (file: string) => Promise<string | null>;
  /** Throws when the file is not a bootable ELF vmlinux. Default checkKernelImage. */
  checkKernel?: (file: string) => Promise<void>;
  log: PullLog;
  /** Download tuning (tests make retries fast). */
  download?: Pick<
    DownloadOptions,
    "retries" | "backoffMs" | "idleTimeoutMs" | "progressIntervalMs" | "sleep"
  >;
  now?: () => Date;
  newId?: () => string;
}

export interface PullOptions {
  /** Build from the recipe even when a bundle could be downloaded. */
  fromRecipe?: boolean;
  onProgress?: ProgressFn;
}

/** Where the files came from and where they are now (absolute, under the final directory). */
interface Obtained {
  files: Partial<Record<Role, string>>;
  version: string;
  source: "pull" | "recipe";
}

const noop: ProgressFn = () => {};

function event(
  stage: string,
  phase: ProgressEvent["phase"],
  message: string,
  extra: Partial<ProgressEvent> = {},
) {
  return { kind: "progress" as const, stage, phase, message, ...extra };
}

export class PullService {
  private readonly lock = new KeyedLock();

  constructor(private readonly deps: PullServiceDeps) {}

  private newId(): string {
    return (this.deps.newId ?? defaultNewId)();
  }

  private now(): Date {
    return (this.deps.now ?? (() => new Date()))();
  }

  /**
   * Remove what an interrupted pull left behind (`.pull-*` work dirs,
   * `*.extract-*` temp dirs). Call when no pull runs (daemon start-up).
   */
  async sweep(): Promise<string[]> {
    const removed: string[] = [];
    for (const dir of [this.deps.imagesDir, this.deps.kernelsDir]) {
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const n of names.filter((x) => x.startsWith(".pull-") || /\.extract-[0-9a-f]{8}$/.test(x))) {
        await rm(path.join(dir, n), { recursive: true, force: true });
        removed.push(path.join(dir, n));
      }
    }
    if (removed.length > 0) this.deps.log.info({ removed }, "removed leftovers of interrupted pulls");
    return removed;
  }

  private refuseExisting(kind: CatalogKind, name: string): void {
    const exists = kind === "image" ? this.deps.store.images.find(name) : this.deps.store.kernels.find(name);
    if (!exists) return;
    throw new BangerError(ErrorCodes.ALREADY_EXISTS, `a ${kind} named "${name}" already exists`, {
      hint: `delete it first with \`banger ${kind} delete ${name}\`, then pull again`,
    });
  }

  /** Download the bundle and extract it into `dir`. */
  private async fromBundle(entry: ResolvedEntry, work: string, dir: string, progress: ProgressFn) {
    const bundle = entry.bundle!;
    progress(event("pull:download", "start", `downloading ${entry.name} from ${bundle.url}`));
    const started = Date.now();
    const file = path.join(work, "bundle.tar.gz");
    await download(bundle.url, file, {
      ...this.deps.download,
      sha256: bundle.sha256,
      sizeBytes: bundle.sizeBytes,
      onProgress: (p) =>
        progress(
          event("pull:download", "info", describeDownload(entry.name, p), {
            current: p.current,
            total: p.total ?? undefined,
          }),
        ),
      onRetry: (r) =>
        progress(
          event(
            "pull:download",
            "warn",
            `${r.reason}: retrying in ${r.delayMs} ms${r.resumeFrom > 0 ? ` from byte ${r.resumeFrom}` : ""}`,
          ),
        ),
    });
    progress(
      event(
        "pull:download",
        "done",
        `downloaded and verified ${entry.name} (${humanBytes(bundle.sizeBytes)})`,
        { ms: Date.now() - started },
      ),
    );
    const t = Date.now();
    progress(event("pull:extract", "start", `extracting ${entry.name}`));
    const got = await extractBundle(file, dir, entry.kind, (p) =>
      progress(
        event("pull:extract", "info", `extracting ${p.entry}`, { current: p.current, total: p.total }),
      ),
    );
    await rm(file, { force: true });
    progress(event("pull:extract", "done", `extracted ${entry.name}`, { ms: Date.now() - t }));
    return got.files;
  }

  /** Run the recipe in `work` and move its files into `dir`. */
  private async fromRecipe(entry: ResolvedEntry, work: string, dir: string, progress: ProgressFn) {
    const recipe = entry.recipe!;
    const workDir = path.join(work, "recipe");
    await mkdir(workDir, { mode: 0o700 });
    const t = Date.now();
    progress(event("pull:recipe", "start", `building ${entry.name} with recipe "${recipe}"`));
    const result = await this.deps.recipes
      .run(recipe, { workDir, onProgress: progress, catalogEntry: entry })
      .catch((e: unknown) => {
        if (isBangerError(e)) throw e;
        const msg = e instanceof Error ? e.message : String(e);
        throw new BangerError(ErrorCodes.INTERNAL, `recipe "${recipe}" for ${entry.name} failed: ${msg}`, {
          cause: e,
        });
      });
    const staging = path.join(work, "install");
    const names = await stageRecipeFiles(recipe, entry.kind, result, workDir, staging);
    await rename(staging, dir);
    progress(event("pull:recipe", "done", `built ${entry.name}`, { ms: Date.now() - t }));
    const files: Partial<Record<Role, string>> = {};
    for (const [role, name] of Object.entries(names)) files[role as Role] = path.join(dir, name);
    return { files, version: result.version };
  }

  /** Bundle first; the recipe when there is none, when asked, or when the network fails. */
  private async obtain(entry: ResolvedEntry, dir: string, opts: PullOptions): Promise<Obtained> {
    const progress = opts.onProgress ?? noop;
    const base = path.dirname(dir);
    await mkdir(base, { recursive: true, mode: 0o700 });
    const work = await mkdtemp(path.join(base, `.pull-${entry.name}-`));
    try {
      if (entry.bundle && !opts.fromRecipe) {
        try {
          return {
            files: await this.fromBundle(entry, work, dir, progress),
            version: entry.version,
            source: "pull",
          };
        } catch (e) {
          if (!entry.recipe || !isNetworkFailure(e)) throw e;
          const why = isBangerError(e) ? e.message : String(e);
          progress(event("pull:recipe", "warn", `${why}: building ${entry.name} from its recipe instead`));
          this.deps.log.warn({ name: entry.name, err: why }, "bundle download failed, using the recipe");
        }
      } else if (!entry.recipe) {
        throw new BangerError(
          ErrorCodes.INVALID_ARGUMENT,
          `${entry.kind} "${entry.name}" has no recipe to build from`,
          {
            hint: "pull it without --from-recipe to download its bundle",
          },
        );
      } else {
        const msg = entry.bundle
          ? `skipping the bundle of ${entry.name}: building it from its recipe as asked`
          : `no prebuilt bundle for ${entry.name}: building it from its recipe`;
        progress(event("pull:recipe", "info", msg));
      }
      return { ...(await this.fromRecipe(entry, work, dir, progress)), source: "recipe" };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  private checks() {
    return { checkExt4: this.deps.checkExt4, checkKernel: this.deps.checkKernel ?? checkKernelImage };
  }

  /** Pull a kernel by catalog name; ALREADY_EXISTS when one with that name is installed. */
  pullKernel(name: string, opts: PullOptions = {}): Promise<Kernel> {
    return this.lock.run(`kernel:${name}`, async () => {
      const entry = (await this.deps.catalogs.load("kernel")).get(name);
      this.refuseExisting("kernel", name);
      return this.installKernel(entry, opts);
    });
  }

  private async installKernel(entry: ResolvedEntry, opts: PullOptions): Promise<Kernel> {
    const id = this.newId();
    const dir = path.join(this.deps.kernelsDir, id);
    try {
      const got = await this.obtain(entry, dir, opts);
      await checkInstalled("kernel", entry.name, got.files, this.checks());
      const k = this.deps.store.kernels.insert({
        id,
        name: entry.name,
        version: got.version,
        arch: entry.arch,
        vmlinuxPath: got.files.vmlinux!,
        initrdPath: got.files.initrd ?? null,
        modulesDir: got.files.modules ?? null,
        source: got.source,
        createdAt: this.now(),
      });
      (opts.onProgress ?? noop)(event("pull:register", "done", `kernel ${k.name} ${k.version} installed`));
      this.deps.log.info({ kernel: k.name, id, source: k.source }, "kernel pulled");
      return k;
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw await this.noSpace(e, entry, this.deps.kernelsDir, opts);
    }
  }

  /** A full disk said plainly (after the undo): where, about how much the pull needs, what is free; other errors as they are. */
  private async noSpace(e: unknown, entry: ResolvedEntry, dir: string, opts: PullOptions): Promise<unknown> {
    if (!isNoSpace(e) || (isBangerError(e) && /no space left on device in /.test(e.message))) return e;
    const bundle = entry.bundle && !opts.fromRecipe ? entry.bundle.sizeBytes : 0;
    return noSpaceError({
      dir,
      doing: `pulling ${entry.kind} "${entry.name}" failed`,
      // The bundle file and its unpacked files are both on disk while it extracts.
      needBytes: entry.sizeBytes + bundle,
      cause: e,
    });
  }

  /** The image's kernel: installed already, or pulled now (`pulled` says which). */
  private async ensureKernel(
    image: ResolvedEntry,
    opts: PullOptions,
  ): Promise<{ kernel: Kernel; pulled: boolean }> {
    const name = image.kernel!;
    return this.lock.run(`kernel:${name}`, async () => {
      const have = this.deps.store.kernels.find(name);
      if (have) return { kernel: have, pulled: false };
      const catalog = await this.deps.catalogs.load("kernel");
      if (!catalog.find(name)) {
        throw new BangerError(
          ErrorCodes.NOT_FOUND,
          `image "${image.name}" boots with kernel "${name}", which is neither installed nor in the kernel catalog (available: ${catalog.names().join(", ") || "none"})`,
          { hint: "fix the image catalog entry's kernel, or add the kernel to kernel_catalog_url" },
        );
      }
      const progress = opts.onProgress ?? noop;
      progress(
        event("pull:kernel", "info", `image ${image.name} boots with kernel ${name}: pulling it first`),
      );
      return { kernel: await this.installKernel(catalog.get(name), { onProgress: progress }), pulled: true };
    });
  }

  /** Undo a kernel pulled for an image that then failed (kept if another image uses it by now). */
  private async dropKernel(k: Kernel): Promise<void> {
    try {
      this.deps.store.kernels.delete(k.id);
      await rm(path.join(this.deps.kernelsDir, k.id), { recursive: true, force: true });
    } catch (e) {
      this.deps.log.warn(
        { kernel: k.name, err: String(e) },
        "kept the kernel pulled for a failed image pull",
      );
    }
  }

  /** Pull an image by catalog name (its kernel first when missing); ALREADY_EXISTS when installed. */
  pullImage(name: string, opts: PullOptions = {}): Promise<Image> {
    return this.lock.run(`image:${name}`, async () => {
      const entry = (await this.deps.catalogs.load("image")).get(name);
      this.refuseExisting("image", name);
      const dep = entry.kernel ? await this.ensureKernel(entry, opts) : null;
      const id = this.newId();
      const dir = path.join(this.deps.imagesDir, id);
      try {
        return await this.installImage(entry, id, dir, dep?.kernel ?? null, opts);
      } catch (e) {
        await rm(dir, { recursive: true, force: true });
        if (dep?.pulled) await this.dropKernel(dep.kernel);
        throw await this.noSpace(e, entry, this.deps.imagesDir, opts);
      }
    });
  }

  private async installImage(
    entry: ResolvedEntry,
    id: string,
    dir: string,
    kernel: Kernel | null,
    opts: PullOptions,
  ) {
    const got = await this.obtain(entry, dir, opts);
    await checkInstalled("image", entry.name, got.files, this.checks());
    const img = this.deps.store.images.insert({
      id,
      name: entry.name,
      version: got.version,
      arch: entry.arch,
      kernelId: kernel?.id ?? null,
      kernelPath: got.files.kernel ?? null,
      initrdPath: got.files.initrd ?? null,
      rootfsPath: got.files.rootfs!,
      workSeedPath: got.files.workSeed!,
      sizeBytes: await installedSize(got.files),
      source: got.source,
      description: entry.description,
      createdAt: this.now(),
    });
    (opts.onProgress ?? noop)(event("pull:register", "done", `image ${img.name} ${img.version} installed`));
    this.deps.log.info({ image: img.name, id, source: img.source }, "image pulled");
    return img;
  }

  /**
   * Write IMAGE as a bundle to `outFile` (its kernel files included) and its
   * catalog entry to `outFile.json` (bundle url: a file:// URL of outFile).
   */
  async exportImage(
    name: string,
    outFile: string,
    onProgress: ProgressFn = noop,
  ): Promise<{ bundle: string; entry: string }> {
    const r = await exportImage(this.deps.store, name, outFile, onProgress);
    this.deps.log.info({ image: name, bundle: outFile }, "image exported");
    return r;
  }
}
