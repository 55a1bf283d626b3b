/**
 * Recipe "debian-bookworm": a Debian 12 root filesystem from packages
 * (mmdebstrap), made into a banger image: no SSH host keys (each VM gets its
 * own), root login with keys only, the guest agent as an early systemd unit,
 * slow and pointless units masked, /root's skeleton moved into the work seed.
 * Built without root: `mmdebstrap --mode=unshare` streams a tarball that is
 * unpacked, and later made into ext4, inside the build user namespace
 * (rootlessTree.ts); as root, the build is banger-vmm's.
 */
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { INIT_SCRIPT } from "../../guest/initScript.js";
import type { CommandRunner } from "../../host/runner.js";
import type { BuildUser } from "../userns.js";
import { AGENT_GUEST_PATH, type AgentProvider } from "./agent.js";
import { buildCached, cacheKey, moduleTexts } from "./cache.js";
import { applySystemdConfig } from "./debianSystemd.js";
import { IMAGE_FILES, splitWorkSeed } from "./ext4Image.js";
import { DEFAULT_HOSTNAME, HOSTS, RESOLV_CONF, SSHD_SETTINGS } from "./guestConfig.js";
import { MmdebstrapProgress } from "./mmdebstrapProgress.js";
import {
  endTreeBuild,
  handOverTree,
  makeTreeImages,
  startTreeBuild,
  streamIntoTree,
} from "./rootlessTree.js";
import { Stages } from "./stages.js";
import { copyIntoTree, removeHostKeys, writeTreeFile } from "./treeFs.js";
import type { RecipeContext, RecipeResult } from "./types.js";

export const DEBIAN_BOOKWORM_RECIPE = "debian-bookworm";
export const DEBIAN_SUITE = "bookworm";

/** Installed on top of the apt variant (Essential packages + apt); no Recommends. */
export const DEBIAN_PACKAGES: readonly string[] = [
  "systemd-sysv",
  "udev",
  "openssh-server",
  "iproute2",
  "ca-certificates",
  "curl",
  "git",
  "procps",
  "less",
  "vim-tiny",
  "iputils-ping",
  "netbase",
  "kmod",
  "xz-utils",
];

/** apt sources of the image (also what `image build --install` uses). */
export const DEBIAN_MIRRORS: readonly string[] = [
  "deb http://deb.debian.org/debian bookworm main",
  "deb http://deb.debian.org/debian bookworm-updates main",
  "deb http://deb.debian.org/debian-security bookworm-security main",
];

/** The files of a built image inside its cache entry. */
export { IMAGE_FILES };

/** mmdebstrap without root: its own user namespace, the tree written as a tarball (owners kept); "-" is stdout. */
export function mmdebstrapArgv(
  tarball: string,
  packages: readonly string[],
  mirrors: readonly string[],
): string[] {
  return [
    "mmdebstrap",
    "--variant=apt",
    "--mode=unshare",
    "--format=tar",
    `--include=${packages.join(",")}`,
    DEBIAN_SUITE,
    tarball,
    ...mirrors,
  ];
}

/** "12.15" -> "12-20250520" (the Debian major version and the build day, UTC). */
export function debianImageVersion(debianVersion: string, now: Date): string {
  const major = debianVersion.trim().split(".")[0] || "12";
  const day = now.toISOString().slice(0, 10).replaceAll("-", "");
  return `${major}-${day}`;
}

export interface DebianRecipeDeps {
  runner: CommandRunner;
  agent: AgentProvider;
  now: () => Date;
  /** Who builds (checked); see preparedBuildUser. */
  buildUser: () => Promise<BuildUser>;
}

/** The recipe's cache key: its modules (the rootless build path included), the initrd's init, the agent, packages and mirrors. */
export async function debianRecipeHash(agent: AgentProvider): Promise<string> {
  const sources = await moduleTexts(
    [
      "./debianBookworm.js",
      "./debianSystemd.js",
      "./guestConfig.js",
      "./ext4Image.js",
      "./treeFs.js",
      "./rootlessTree.js",
      "../userns.js",
    ].map((m) => new URL(m, import.meta.url)),
  );
  return cacheKey({
    recipe: DEBIAN_BOOKWORM_RECIPE,
    build: "rootless",
    sources,
    initScript: INIT_SCRIPT,
    agent: await agent.sourceKey(),
    packages: DEBIAN_PACKAGES,
    mirrors: DEBIAN_MIRRORS,
  });
}

/** Build (or reuse from the cache under cacheRoot) the image; returns its files and version. */
export async function runDebianBookworm(
  deps: DebianRecipeDeps,
  cacheRoot: string,
  ctx: RecipeContext,
): Promise<RecipeResult> {
  const hash = await debianRecipeHash(deps.agent);
  const stages = new Stages(ctx.onProgress, "recipe");
  const entry = await buildCached({
    root: cacheRoot,
    recipe: DEBIAN_BOOKWORM_RECIPE,
    hash,
    name: `image-${DEBIAN_BOOKWORM_RECIPE}-${hash.slice(0, 16)}`,
    build: (tmp) => buildDebianImage(deps, tmp, stages),
  });
  if (entry.cached) stages.info("cache", `reusing the image built ${entry.manifest.builtAt} (${entry.dir})`);
  return { files: entry.files, version: entry.manifest.artifactVersion };
}

async function buildDebianImage(deps: DebianRecipeDeps, out: string, stages: Stages) {
  const { runner } = deps;
  const tb = await startTreeBuild(runner, deps.buildUser, out);
  try {
    await stages.run(
      "mmdebstrap",
      `mmdebstrap ${DEBIAN_SUITE} (${DEBIAN_PACKAGES.length} packages, as ${tb.user.name}), unpacked as it streams`,
      async () => {
        // mmdebstrap's phases and a "still running" line every 2 s, as progress.
        const progress = new MmdebstrapProgress((m) => stages.info("mmdebstrap", m));
        try {
          await streamIntoTree(tb, mmdebstrapArgv("-", DEBIAN_PACKAGES, DEBIAN_MIRRORS), progress.feed);
        } finally {
          progress.stop();
        }
      },
    );
    const agentBin = await stages.run("agent", "build the guest agent", () =>
      deps.agent.build(path.join(out, "agent")),
    );
    await stages.run("customize", "configure the guest", async () => {
      await customizeDebianTree(tb.root, agentBin);
      await splitWorkSeed(tb.root, tb.seed);
      await handOverTree(tb);
    });
    const version = debianImageVersion(
      await readFile(path.join(tb.root, "etc/debian_version"), "utf8"),
      deps.now(),
    );
    await makeTreeImages(tb, stages, out);
    return { files: { ...IMAGE_FILES }, artifactVersion: version, stages: stages.timings };
  } finally {
    await rm(path.join(out, "agent"), { recursive: true, force: true });
    await endTreeBuild(tb);
  }
}

/** Everything the image needs beyond its packages (see the module comment). */
export async function customizeDebianTree(root: string, agentBinary: string): Promise<void> {
  await removeHostKeys(root);
  await writeTreeFile(root, "etc/ssh/sshd_config.d/banger.conf", SSHD_SETTINGS);
  await copyIntoTree(root, AGENT_GUEST_PATH, agentBinary, 0o755);
  await applySystemdConfig(root);
  await writeTreeFile(root, "etc/hostname", `${DEFAULT_HOSTNAME}\n`);
  await writeTreeFile(root, "etc/hosts", HOSTS);
  await writeTreeFile(root, "etc/resolv.conf", RESOLV_CONF);
  await writeTreeFile(root, "etc/fstab", "# banger: the initrd mounts / (overlay) and /root (work disk)\n");
  await writeTreeFile(root, "etc/machine-id", ""); // empty: each VM makes its own at first boot
}
