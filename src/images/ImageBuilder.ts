/**
 * `image build NAME --from IMAGE [--install PKG...] [--script FILE] [--copy SRC:DEST...]`:
 * a new rootfs and work seed made from an existing image, without host root.
 * Both images are unpacked (debugfs, no mounting) into a scratch tree inside
 * the build user namespace (see userns.ts), the work seed at the tree's /root,
 * exactly as a VM sees them. Files are copied, packages installed (apt-get,
 * with the host's resolv.conf for the duration), the script run, each in a
 * chroot whose /dev holds only the build devices (chroot.ts); then /root is
 * split off and both images are made with `mkfs.ext4 -d` inside the
 * namespace, so owners and setuid bits stay the image's. Run as root, the
 * whole build is banger-vmm's. Every command's output goes to the build log;
 * a failure names its stage and the log, and leaves no output behind.
 */
import { chown, mkdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { ImageBuildParams } from "../api/methods.js";
import type { ProgressEvent } from "../api/protocol.js";
import { MiB } from "../config/sizes.js";
import { BangerError, ErrorCodes } from "../errors/index.js";
import { diskArgv } from "../host/disk.js";
import type { CommandRunner } from "../host/runner.js";
import { type BuildPlan, type ImageBuildSource, planBuild } from "./buildParams.js";
import { enterArgv, LoggingRunner } from "./chroot.js";
import { unpackImage } from "./ext4Tree.js";
import { ImageTree } from "./imageTree.js";
import { mkfsFromDir, ROOTFS_LABEL, WORK_SEED_LABEL, WORK_SEED_SIZE } from "./recipes/ext4Image.js";
import { Stages } from "./recipes/stages.js";
import {
  type BuildUser,
  buildScratch,
  handToBuildUser,
  NamespaceRunner,
  preparedBuildUser,
} from "./userns.js";

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
  /** Who builds (default: this user, or banger-vmm for root; checked). */
  buildUser?: () => Promise<BuildUser>;
  /** Copied into the image while packages install. Default /etc/resolv.conf. */
  hostResolvConf?: string;
  /** Free space the new rootfs has beyond its content's 30%. Default 256 MiB. */
  growBytes?: number;
}

/** One build's state. */
interface Build {
  run: LoggingRunner;
  ns: NamespaceRunner;
  user: BuildUser;
  stages: Stages;
  logFile: string;
  scratch: string;
}

export const OUTPUT_FILES = { rootfs: "rootfs.ext4", workSeed: "work-seed.ext4" } as const;

export class ImageBuilder {
  private readonly runner: CommandRunner;
  private readonly buildUser: () => Promise<BuildUser>;
  private readonly hostResolvConf: string;
  private readonly growBytes: number;

  constructor(deps: ImageBuilderDeps) {
    this.runner = deps.runner;
    this.buildUser = deps.buildUser ?? (() => preparedBuildUser(deps.runner, process.getuid?.()));
    this.hostResolvConf = deps.hostResolvConf ?? "/etc/resolv.conf";
    this.growBytes = deps.growBytes ?? 256 * MiB;
  }

  async build(
    params: ImageBuildParams,
    from: ImageBuildSource,
    ctx: ImageBuildContext,
  ): Promise<ImageBuildResult> {
    const plan = await planBuild(params, from);
    const user = await this.buildUser();
    await mkdir(ctx.workDir, { recursive: true });
    const out = {
      rootfs: path.join(ctx.workDir, OUTPUT_FILES.rootfs),
      workSeed: path.join(ctx.workDir, OUTPUT_FILES.workSeed),
    };
    const run = new LoggingRunner(this.runner, ctx.logFile);
    await run.log(
      `# banger image build ${params.name} (from ${from.rootfsPath}) as ${user.name} ${new Date().toISOString()}`,
    );
    const scratch = await buildScratch(user, ctx.workDir, ".build");
    const ns = new NamespaceRunner(run, user);
    const b: Build = {
      run,
      ns,
      user,
      stages: new Stages(ctx.onProgress, "build"),
      logFile: ctx.logFile,
      scratch,
    };
    let done = false;
    try {
      const tree = path.join(scratch, "tree");
      const seedTree = path.join(scratch, "work-seed");
      const src = await this.step(b, "stage", "give the build user the source images", () =>
        this.sources(b, from),
      );
      await this.step(b, "unpack", "unpack the root filesystem and the work seed", async () => {
        await unpackImage(src.rootfs, tree, ns);
        await unpackImage(src.workSeed, path.join(tree, "root"), ns);
        await ns.run(["chmod", "0700", "--", path.join(tree, "root")]);
      });
      await this.change(b, plan, new ImageTree(tree, run, ns, (d) => handToBuildUser(run, user, d)));
      await this.step(b, "save-work-seed", "split /root off as the work seed", async () => {
        await ns.run(["mv", "--", path.join(tree, "root"), seedTree]);
        await ns.run(["mkdir", "-m", "0700", "--", path.join(tree, "root")]);
      });
      await this.makeImages(b, { tree, seedTree, srcRootfs: from.rootfsPath }, out);
      done = true;
      return out;
    } finally {
      await ns.removeTree(scratch).catch((e: Error) => this.warnCleanup(b, e));
      if (!done) await Promise.all([rm(out.rootfs, { force: true }), rm(out.workSeed, { force: true })]);
    }
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

  /** The images as the build user can read them: as they are, or copied into banger-vmm's scratch. */
  private async sources(b: Build, from: ImageBuildSource): Promise<{ rootfs: string; workSeed: string }> {
    if (b.user.kind === "self") return { rootfs: from.rootfsPath, workSeed: from.workSeedPath };
    const copy = async (src: string, name: string) => {
      const dst = path.join(b.scratch, name);
      await b.run.run(diskArgv.sparseCopy(src, dst));
      await chown(dst, b.user.uid, b.user.gid);
      return dst;
    };
    return {
      rootfs: await copy(from.rootfsPath, "src-rootfs.ext4"),
      workSeed: await copy(from.workSeedPath, "src-seed.ext4"),
    };
  }

  /** mkfs.ext4 -d both trees (in the namespace) into the scratch dir, then move them to `out`. */
  private async makeImages(
    b: Build,
    dirs: { tree: string; seedTree: string; srcRootfs: string },
    out: ImageBuildResult,
  ): Promise<void> {
    const made = {
      rootfs: path.join(b.scratch, "rootfs.ext4"),
      workSeed: path.join(b.scratch, "work-seed.ext4"),
    };
    const srcBytes = (await stat(dirs.srcRootfs)).size;
    await this.step(b, "mkfs-rootfs", "make rootfs.ext4", () =>
      mkfsFromDir({
        dir: dirs.tree,
        out: made.rootfs,
        label: ROOTFS_LABEL,
        size: { minBytes: srcBytes, headroom: 0.3, overheadBytes: 96 * MiB + this.growBytes },
        runner: b.ns,
      }),
    );
    await this.step(b, "mkfs-work-seed", "make work-seed.ext4", () =>
      mkfsFromDir({
        dir: dirs.seedTree,
        out: made.workSeed,
        label: WORK_SEED_LABEL,
        size: WORK_SEED_SIZE,
        runner: b.ns,
      }),
    );
    for (const role of ["rootfs", "workSeed"] as const) {
      await moveFile(b.run, made[role], out[role]);
      if (b.user.kind === "vmm") await chown(out[role], process.getuid?.() ?? 0, process.getgid?.() ?? 0);
    }
  }

  private async warnCleanup(b: Build, e: Error): Promise<void> {
    const msg = `${b.scratch} could not be removed: ${e.message}`;
    await b.run.log(`! ${msg}`).catch(() => undefined);
    b.stages.warn("cleanup", msg);
  }

  private async change(b: Build, plan: BuildPlan, tree: ImageTree): Promise<void> {
    await this.step(b, "prepare", "check the image's /dev and /proc, make a staging dir", async () => {
      await tree.mountPoints(["dev", "proc"]);
      await tree.makeBuildDir();
    });
    try {
      await this.changeSteps(b, plan, tree);
    } finally {
      await tree.removeBuildDir().catch((e: Error) => b.run.log(`! ${e.message}`));
    }
  }

  private async changeSteps(b: Build, plan: BuildPlan, tree: ImageTree): Promise<void> {
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
    await b.ns.run(enterArgv(tree.root, ["apt-get", "update"]));
    await b.ns.run(
      enterArgv(tree.root, ["apt-get", "install", "-y", "--no-install-recommends", ...packages]),
    );
    await b.ns.run(enterArgv(tree.root, ["apt-get", "clean"]));
  }
}

/** rename, or a sparse copy where the scratch dir is on another filesystem (banger-vmm's /var/tmp). */
async function moveFile(run: CommandRunner, src: string, dst: string): Promise<void> {
  try {
    await rename(src, dst);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EXDEV") throw e;
    await run.run(diskArgv.sparseCopy(src, dst));
    await rm(src, { force: true });
  }
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
