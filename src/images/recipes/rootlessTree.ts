/**
 * The rootless life of a recipe's root tree: a scratch dir the build user
 * owns, the tree unpacked from a tarball inside the build namespace (owners,
 * setuid bits and xattrs kept as in-namespace ids), customized from the host
 * (the builder owns what is root's in the tree; files root writes for
 * banger-vmm are handed over), then made into ext4 images with `mkfs.ext4 -d`
 * inside the namespace and moved into the cache entry.
 */
import { chown, mkdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { diskArgv } from "../../host/disk.js";
import type { CommandRunner } from "../../host/runner.js";
import {
  asBuildUserArgv,
  type BuildUser,
  buildScratch,
  handToBuildUser,
  NamespaceRunner,
  UNSHARE_ARGV,
} from "../userns.js";
import { IMAGE_FILES, mkfsImageFiles } from "./ext4Image.js";
import type { Stages } from "./stages.js";

export interface TreeBuild {
  runner: CommandRunner;
  user: BuildUser;
  ns: NamespaceRunner;
  scratch: string;
  /** The image's root tree and, after splitWorkSeed, the work seed's tree. */
  root: string;
  seed: string;
}

/** The build user (checked: see preparedBuildUser) and a scratch dir of theirs (under `parent` for a normal user). */
export async function startTreeBuild(
  runner: CommandRunner,
  buildUser: () => Promise<BuildUser>,
  parent: string,
): Promise<TreeBuild> {
  const user = await buildUser();
  await mkdir(parent, { recursive: true });
  const scratch = await buildScratch(user, parent, ".tree");
  const ns = new NamespaceRunner(runner, user);
  return {
    runner,
    user,
    ns,
    scratch,
    root: path.join(scratch, "rootfs"),
    seed: path.join(scratch, "work-seed"),
  };
}

/** tar -x keeping owners, modes and xattrs as in-namespace ids; device nodes skipped (the guest has devtmpfs). */
const EXTRACT_ARGV = [
  "tar",
  "-x",
  "-p",
  "--numeric-owner",
  "--xattrs",
  "--xattrs-include=*",
  "--exclude=./dev/*",
];

/** Unpack a tarball into the tree, inside the namespace. */
export async function extractIntoTree(tb: TreeBuild, tarball: string): Promise<void> {
  await tb.ns.run(["mkdir", "-p", "--", tb.root]);
  await tb.ns.run([...EXTRACT_ARGV, "-f", tarball, "-C", tb.root]);
}

/**
 * Run the build user's tar producer (argv writing a tarball to stdout, e.g.
 * `mmdebstrap ... -`) piped straight into the namespace's tar -x: no tarball
 * on disk, and both run at once. A constant script: the tree and the argv
 * are positional arguments.
 */
export const PIPE_SCRIPT = `set -euo pipefail
root=$1
shift
"$@" | ${[...UNSHARE_ARGV, ...EXTRACT_ARGV].map((a) => `'${a}'`).join(" ")} -f - -C "$root"
`;

export async function streamIntoTree(
  tb: TreeBuild,
  producer: readonly string[],
  onStderr?: (chunk: string) => void,
): Promise<void> {
  await tb.ns.run(["mkdir", "-p", "--", tb.root]);
  await tb.runner.run(
    asBuildUserArgv(tb.user, ["bash", "-c", PIPE_SCRIPT, "banger-stream", tb.root, ...producer]),
    { cwd: "/", ...(onStderr ? { onStderr } : {}) },
  );
}

/** After the host wrote into the tree: what root wrote becomes banger-vmm's (nothing for a normal user). */
export function handOverTree(tb: TreeBuild): Promise<void> {
  return handToBuildUser(tb.runner, tb.user, tb.scratch);
}

/** rootfs.ext4 and work-seed.ext4 made inside the namespace, then moved into `out` (owned by this process). */
export async function makeTreeImages(tb: TreeBuild, stages: Stages, out: string): Promise<void> {
  const made = path.join(tb.scratch, "images");
  await tb.ns.run(["mkdir", "--", made]);
  await mkfsImageFiles(stages, { root: tb.root, seed: tb.seed }, made, tb.ns);
  for (const name of Object.values(IMAGE_FILES)) {
    const src = path.join(made, name);
    const dst = path.join(out, name);
    try {
      await rename(src, dst);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EXDEV") throw e;
      await tb.runner.run(diskArgv.sparseCopy(src, dst));
      await rm(src, { force: true });
    }
    if (tb.user.kind === "vmm") await chown(dst, process.getuid?.() ?? 0, process.getgid?.() ?? 0);
  }
}

/** Remove the scratch dir (from inside the namespace: it holds files of subordinate ids). */
export function endTreeBuild(tb: TreeBuild): Promise<void> {
  return tb.ns.removeTree(tb.scratch);
}
