/**
 * Recipe "debian-bookworm": a Debian 12 root filesystem from packages
 * (mmdebstrap), made into a banger image: no SSH host keys (each VM gets its
 * own), root login with keys only, the guest agent as an early systemd unit,
 * slow and pointless units masked, /root's skeleton moved into the work seed.
 */
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import { INIT_SCRIPT } from "../../guest/initScript.js";
import type { CommandRunner } from "../../host/runner.js";
import { AGENT_GUEST_PATH, type AgentProvider } from "./agent.js";
import { buildCached, cacheKey, moduleTexts, removeBuildDir } from "./cache.js";
import { applySystemdConfig } from "./debianSystemd.js";
import { IMAGE_FILES, mkfsImageFiles, splitWorkSeed } from "./ext4Image.js";
import { DEFAULT_HOSTNAME, HOSTS, RESOLV_CONF, SSHD_SETTINGS } from "./guestConfig.js";
import type { RecipeContext, RecipeResult } from "./RecipeRunner.js";
import { Stages } from "./stages.js";
import { copyIntoTree, removeHostKeys, writeTreeFile } from "./treeFs.js";

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

export function mmdebstrapArgv(
  dir: string,
  packages: readonly string[],
  mirrors: readonly string[],
): string[] {
  return [
    "mmdebstrap",
    "--variant=apt",
    "--mode=root",
    "--format=directory",
    `--include=${packages.join(",")}`,
    DEBIAN_SUITE,
    dir,
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
  getuid: () => number | undefined;
}

/** The recipe's cache key: its modules, the initrd's init, the agent, packages and mirrors. */
export async function debianRecipeHash(agent: AgentProvider): Promise<string> {
  const sources = await moduleTexts(
    ["./debianBookworm.js", "./debianSystemd.js", "./guestConfig.js", "./ext4Image.js", "./treeFs.js"].map(
      (m) => new URL(m, import.meta.url),
    ),
  );
  return cacheKey({
    recipe: DEBIAN_BOOKWORM_RECIPE,
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
  requireRoot(DEBIAN_BOOKWORM_RECIPE, deps.getuid);
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
  const work = path.join(out, "work");
  const root = path.join(work, "rootfs");
  const seed = path.join(work, "work-seed");
  await mkdir(work, { recursive: true });
  try {
    await stages.run("mmdebstrap", `mmdebstrap ${DEBIAN_SUITE} (${DEBIAN_PACKAGES.length} packages)`, () =>
      runner.run(mmdebstrapArgv(root, DEBIAN_PACKAGES, DEBIAN_MIRRORS)),
    );
    const agentBin = await stages.run("agent", "build the guest agent", () =>
      deps.agent.build(path.join(work, "agent")),
    );
    await stages.run("customize", "configure the guest", async () => {
      await customizeDebianTree(root, agentBin);
      await splitWorkSeed(root, seed);
    });
    const version = debianImageVersion(
      await readFile(path.join(root, "etc/debian_version"), "utf8"),
      deps.now(),
    );
    await mkfsImageFiles(stages, { root, seed }, out, runner);
    return { files: { ...IMAGE_FILES }, artifactVersion: version, stages: stages.timings };
  } finally {
    await removeBuildDir(work);
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

/** The recipes that build root trees keep file ownership: they must run as root. */
export function requireRoot(recipe: string, getuid: () => number | undefined): void {
  if (getuid() === 0) return;
  throw new BangerError(ErrorCodes.PREFLIGHT_FAILED, `the ${recipe} recipe must run as root`, {
    hint: `building an image creates root-owned files and runs a package manager: run it as root (sudo), or pull a prebuilt bundle`,
  });
}
