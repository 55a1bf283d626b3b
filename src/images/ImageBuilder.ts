/**
 * `image build NAME --from IMAGE [--install PKG...] [--script FILE] [--copy SRC:DEST...]`:
 * a new rootfs and work seed made from an existing image. The rootfs is
 * copied sparsely and grown, loop-mounted in a private temp dir with the
 * work seed (also grown) mounted at its /root, exactly as a VM sees them,
 * and /proc, /sys, /dev bound in for the chroot. Files are copied, packages
 * installed (apt-get, with the host's resolv.conf for the duration), the
 * script run; then everything is unmounted and detached (always, also on
 * failure) and the work seed rebuilt compactly from the image's /root.
 * Every command's output goes to the build log; a failure names its stage
 * and the log, and leaves no output behind.
 */
import { chmod, mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { ImageBuildParams } from "../api/methods.js";
import type { ProgressEvent } from "../api/protocol.js";
import { GiB } from "../config/sizes.js";
import { BangerError, ErrorCodes } from "../errors/index.js";
import { diskArgv, E2FSCK_OK_CODES } from "../host/disk.js";
import type { CommandRunner } from "../host/runner.js";
import { type BuildPlan, type ImageBuildSource, planBuild } from "./buildParams.js";
import { chrootArgv, LoggingRunner, MountStack } from "./chroot.js";
import { ImageTree } from "./imageTree.js";
import { removeUnlessMounted } from "./mounts.js";
import { mkfsFromDir, WORK_SEED_LABEL, WORK_SEED_SIZE } from "./recipes/ext4Image.js";
import { Stages } from "./recipes/stages.js";

export type { ImageBuildSource } from "./buildParams.js";

export interface ImageBuildContext {
  /** Where the new rootfs.ext4 and work-seed.ext4 go (and private scratch space). */
  workDir: string;
  onProgress: (e: ProgressEvent) => void;
  /** Every command and its output is appended here. */
  logFile: string;
}

export interface ImageBuildResult {
  rootfs: string;
  workSeed: string;
}

export interface ImageBuilderDeps {
  runner: CommandRunner;
  /** Default: process.getuid. */
  getuid?: () => number | undefined;
  /** Copied into the image while packages install. Default /etc/resolv.conf. */
  hostResolvConf?: string;
  /** Free space added to the rootfs and to the work seed while building. Default 1 GiB. */
  growBytes?: number;
}

/** One build's state. */
interface Build {
  run: LoggingRunner;
  stages: Stages;
  logFile: string;
  scratch: string;
}

export const OUTPUT_FILES = { rootfs: "rootfs.ext4", workSeed: "work-seed.ext4" } as const;

export class ImageBuilder {
  private readonly runner: CommandRunner;
  private readonly getuid: () => number | undefined;
  private readonly hostResolvConf: string;
  private readonly growBytes: number;

  constructor(deps: ImageBuilderDeps) {
    this.runner = deps.runner;
    this.getuid = deps.getuid ?? (() => process.getuid?.());
    this.hostResolvConf = deps.hostResolvConf ?? "/etc/resolv.conf";
    this.growBytes = deps.growBytes ?? GiB;
  }

  async build(
    params: ImageBuildParams,
    from: ImageBuildSource,
    ctx: ImageBuildContext,
  ): Promise<ImageBuildResult> {
    this.preflight(params.name);
    const plan = await planBuild(params, from);
    await mkdir(ctx.workDir, { recursive: true });
    const out = {
      rootfs: path.join(ctx.workDir, OUTPUT_FILES.rootfs),
      workSeed: path.join(ctx.workDir, OUTPUT_FILES.workSeed),
    };
    const scratch = await mkdtemp(path.join(ctx.workDir, ".build-"));
    await chmod(scratch, 0o700);
    const run = new LoggingRunner(this.runner, ctx.logFile);
    await run.log(
      `# banger image build ${params.name} (from ${from.rootfsPath}) ${new Date().toISOString()}`,
    );
    const b: Build = { run, stages: new Stages(ctx.onProgress, "build"), logFile: ctx.logFile, scratch };
    let done = false;
    try {
      const seedImage = path.join(scratch, "work-seed.img");
      await this.step(b, "copy-rootfs", "copy and grow the root filesystem", () =>
        this.copyAndGrow(b, from.rootfsPath, out.rootfs),
      );
      await this.step(b, "copy-work-seed", "copy and grow the work seed", () =>
        this.copyAndGrow(b, from.workSeedPath, seedImage),
      );
      const seedTree = await this.inImage(b, plan, out.rootfs, seedImage);
      await this.step(b, "check-rootfs", "check the root filesystem", () => this.fsck(b, out.rootfs));
      await this.step(b, "work-seed", "rebuild the work seed from /root", () =>
        mkfsFromDir({
          dir: seedTree,
          out: out.workSeed,
          label: WORK_SEED_LABEL,
          size: WORK_SEED_SIZE,
          runner: b.run,
        }),
      );
      done = true;
      return out;
    } finally {
      await removeScratch(b);
      if (!done) await Promise.all([rm(out.rootfs, { force: true }), rm(out.workSeed, { force: true })]);
    }
  }

  private preflight(name: string): void {
    if (this.getuid() === 0) return;
    throw new BangerError(ErrorCodes.PREFLIGHT_FAILED, `building image "${name}" needs root`, {
      hint: "image build loop-mounts the image and runs apt-get and your script in a chroot: run bangerd as root (sudo), or build the image elsewhere and `banger image register` it",
    });
  }

  /** Run a named stage; a failure becomes an error that names the stage and the build log. */
  private async step<T>(b: Build, name: string, message: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await b.stages.run(name, message, fn);
    } catch (e) {
      await b.run.log(`! stage ${name} failed: ${(e as Error).message}`).catch(() => undefined);
      throw stageError(name, e, b.logFile);
    }
  }

  private async copyAndGrow(b: Build, src: string, dst: string): Promise<void> {
    await b.run.run(diskArgv.sparseCopy(src, dst));
    await chmod(dst, 0o600);
    await this.fsck(b, dst);
    await b.run.run(diskArgv.truncate(dst, (await stat(dst)).size + this.growBytes));
    await b.run.run(diskArgv.resize2fs(dst));
  }

  private async fsck(b: Build, image: string): Promise<void> {
    const r = await b.run.run(diskArgv.e2fsckForce(image), { allowFailure: true });
    if (!E2FSCK_OK_CODES.has(r.code)) {
      throw new BangerError(ErrorCodes.COMMAND_FAILED, `e2fsck ${image} exited with code ${r.code}`, {
        details: r,
      });
    }
  }

  /**
   * Mount, change, copy /root out, and ALWAYS unmount and detach. Returns the
   * directory holding a copy of the image's /root (the new work seed's content).
   */
  private async inImage(b: Build, plan: BuildPlan, rootfs: string, seedImage: string): Promise<string> {
    const mnt = path.join(b.scratch, "mnt");
    const seedTree = path.join(b.scratch, "work-seed");
    await mkdir(mnt, { mode: 0o700 });
    const mounts = new MountStack(b.run);
    const tree = new ImageTree(mnt, b.run);
    let error: unknown;
    try {
      await this.step(b, "mount", "mount the image", () => this.mountAll(mounts, tree, rootfs, seedImage));
      await tree.makeBuildDir();
      await this.change(b, plan, tree);
      await this.step(b, "save-work-seed", "copy /root out of the image", () => tree.copyRootTo(seedTree));
    } catch (e) {
      error = e;
    }
    // Always: whatever happened above, nothing stays mounted or attached.
    await tree.removeBuildDir().catch((e: Error) => b.run.log(`! ${e.message}`));
    const problems = await mounts.releaseAll();
    if (problems.length > 0) {
      await b.run.log(`! unmount: ${problems.join("; ")}`);
      b.stages.warn("unmount", problems.join("; "));
      // A build that already failed keeps its own error; the log has these too.
      error ??= stageError("unmount", new Error(problems.join("; ")), b.logFile);
    }
    if (error !== undefined) throw error;
    return seedTree;
  }

  private async mountAll(
    mounts: MountStack,
    tree: ImageTree,
    rootfs: string,
    seedImage: string,
  ): Promise<void> {
    await mounts.loop(rootfs, tree.root);
    const dirs = await tree.mountPoints(["root", "proc", "sys", "dev"]);
    await mounts.loop(seedImage, dirs.root!);
    await mounts.bind("/proc", dirs.proc!);
    await mounts.bind("/sys", dirs.sys!);
    await mounts.bind("/dev", dirs.dev!);
    await mounts.bind("/dev/pts", path.join(dirs.dev!, "pts"));
  }

  private async change(b: Build, plan: BuildPlan, tree: ImageTree): Promise<void> {
    if (plan.copies.length > 0) {
      await this.step(b, "copy-files", `copy ${plan.copies.length} file(s) into the image`, async () => {
        for (const [i, c] of plan.copies.entries()) await tree.copyIn(c, i);
      });
    }
    if (plan.packages.length > 0) {
      await this.step(b, "install-packages", `apt-get install ${plan.packages.join(" ")}`, () =>
        tree.withNetworkConfig(this.hostResolvConf, () => this.aptInstall(b, tree, plan.packages)),
      );
    }
    if (plan.script !== undefined) {
      const script = plan.script;
      await this.step(b, "run-script", `run ${path.basename(script)} in the image`, () =>
        tree.runScript(script),
      );
    }
  }

  private async aptInstall(b: Build, tree: ImageTree, packages: string[]): Promise<void> {
    if (!(await tree.has("usr/bin/apt-get"))) {
      throw new BangerError(
        ErrorCodes.INVALID_ARGUMENT,
        "--install needs apt-get in the image, and it has none",
        {
          hint: "install software with --script (using the image's own package manager) instead",
        },
      );
    }
    await b.run.run(chrootArgv(tree.root, ["apt-get", "update"]));
    await b.run.run(
      chrootArgv(tree.root, ["apt-get", "install", "-y", "--no-install-recommends", ...packages]),
    );
    await b.run.run(chrootArgv(tree.root, ["apt-get", "clean"]));
  }
}

/** Remove the scratch dir, unless something is still mounted below it (then it stays, logged). */
async function removeScratch(b: Build): Promise<void> {
  const mounted = await removeUnlessMounted(b.scratch);
  if (mounted.length === 0) return;
  const msg = `${b.scratch} kept: still mounted there: ${mounted.join(", ")}`;
  await b.run.log(`! ${msg}`).catch(() => undefined);
  b.stages.warn("cleanup", msg);
}

/** An error naming the failed stage, keeping the cause's code, pointing at the build log. */
export function stageError(stage: string, e: unknown, logFile: string): BangerError {
  const message = e instanceof Error ? e.message : String(e);
  const code = e instanceof BangerError ? e.code : ErrorCodes.COMMAND_FAILED;
  const own = e instanceof BangerError && e.hint ? `${e.hint}; ` : "";
  return new BangerError(code, `image build failed at stage "${stage}": ${message}`, {
    cause: e,
    hint: `${own}the build log is ${logFile}`,
    details: { stage, logFile },
  });
}
