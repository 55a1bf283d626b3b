/**
 * Recipe "debian-kernel": Debian's current amd64 kernel as an uncompressed ELF
 * vmlinux, and banger's busybox initrd with the virtio modules for both
 * virtio-mmio (Firecracker, QEMU microvm) and virtio-pci (QEMU pc), ext4,
 * overlay and vsock. Version: the Debian kernel version (e.g. 6.1.0-56-amd64).
 */
import { mkdir, rename } from "node:fs/promises";
import path from "node:path";
import { buildInitrd, INITRD_MODULES } from "../../guest/initrd.js";
import { INIT_SCRIPT } from "../../guest/initScript.js";
import { KERNEL_META_PACKAGE, prepareKernel } from "../../guest/kernel.js";
import type { CommandRunner } from "../../host/runner.js";
import { BinaryRunner, type BuildUser } from "../userns.js";
import { buildCached, cacheKey, moduleTexts, removeBuildDir } from "./cache.js";
import { Stages } from "./stages.js";
import type { RecipeContext, RecipeResult } from "./types.js";

export const DEBIAN_KERNEL_RECIPE = "debian-kernel";
export const KERNEL_FILES = { vmlinux: "vmlinux", initrd: "initrd.img" } as const;

export async function debianKernelHash(): Promise<string> {
  const sources = await moduleTexts(
    ["../../guest/kernel.js", "../../guest/initrd.js", "./debianKernel.js", "../userns.js"].map(
      (m) => new URL(m, import.meta.url),
    ),
  );
  return cacheKey({
    recipe: DEBIAN_KERNEL_RECIPE,
    sources,
    initScript: INIT_SCRIPT,
    modules: INITRD_MODULES,
    package: KERNEL_META_PACKAGE,
  });
}

export async function runDebianKernel(
  deps: { runner: CommandRunner; buildUser: () => Promise<BuildUser> },
  cacheRoot: string,
  ctx: RecipeContext,
): Promise<RecipeResult> {
  const hash = await debianKernelHash();
  const stages = new Stages(ctx.onProgress, "recipe");
  const entry = await buildCached({
    root: cacheRoot,
    recipe: DEBIAN_KERNEL_RECIPE,
    hash,
    name: `kernel-debian-${hash.slice(0, 16)}`,
    build: async (tmp) =>
      buildDebianKernel(deps.runner, new BinaryRunner(deps.runner, await deps.buildUser()), tmp, stages),
  });
  if (entry.cached) stages.info("cache", `reusing the kernel built ${entry.manifest.builtAt} (${entry.dir})`);
  return { files: entry.files, version: entry.manifest.artifactVersion };
}

/** `binaries` runs what the kernel build executes of the downloaded packages (busybox): never as host root. */
async function buildDebianKernel(
  runner: CommandRunner,
  binaries: CommandRunner,
  out: string,
  stages: Stages,
) {
  const work = path.join(out, "work");
  await mkdir(work, { recursive: true });
  try {
    const onStage = (s: string) => stages.info("kernel", s);
    const kernel = await stages.run("kernel", `fetch ${KERNEL_META_PACKAGE} and extract vmlinux`, () =>
      prepareKernel({ workDir: work, runner, onStage }),
    );
    await rename(kernel.vmlinux, path.join(out, KERNEL_FILES.vmlinux));
    await stages.run("initrd", `build the initrd for ${kernel.kernelVersion}`, () =>
      buildInitrd({
        kernelTree: kernel.kernelTree,
        kernelVersion: kernel.kernelVersion,
        out: path.join(out, KERNEL_FILES.initrd),
        runner,
        binaryRunner: binaries,
        workDir: work,
        onStage,
      }),
    );
    return { files: { ...KERNEL_FILES }, artifactVersion: kernel.kernelVersion, stages: stages.timings };
  } finally {
    await removeBuildDir(work);
  }
}
