/**
 * Recipe "void": Void Linux's official x86_64 glibc ROOTFS tarball made into a
 * banger image: the agent as a runit service, sshd enabled (keys only, no
 * host keys in the image: Void's sshd service makes them at first start),
 * no DHCP client (the initrd configures eth0), gettys on ttyS0 only. It boots
 * with the debian-kernel kernel (the catalog entry names it).
 */
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { chown, copyFile, lstat, mkdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import { INIT_SCRIPT } from "../../guest/initScript.js";
import type { CommandRunner } from "../../host/runner.js";
import type { BuildUser } from "../userns.js";
import { AGENT_GUEST_PATH, type AgentProvider } from "./agent.js";
import { buildCached, cacheKey, moduleTexts } from "./cache.js";
import { IMAGE_FILES, splitWorkSeed } from "./ext4Image.js";
import {
  DEFAULT_HOSTNAME,
  RESOLV_CONF,
  SSHD_SETTINGS,
  UPDATE_HOSTS_SH,
  withSshdSettings,
} from "./guestConfig.js";
import {
  endTreeBuild,
  extractIntoTree,
  handOverTree,
  makeTreeImages,
  startTreeBuild,
  type TreeBuild,
} from "./rootlessTree.js";
import { Stages } from "./stages.js";
import {
  copyIntoTree,
  existsInTree,
  linkInTree,
  removeHostKeys,
  removeInTree,
  treePath,
  writeTreeFile,
} from "./treeFs.js";
import type { RecipeContext, RecipeResult } from "./types.js";

export const VOID_RECIPE = "void";
export const VOID_DEFAULT_URL =
  "https://repo-default.voidlinux.org/live/20250202/void-x86_64-ROOTFS-20250202.tar.xz";
/**
 * The sha256 of VOID_DEFAULT_URL (Void's published sha256sum.txt): pinned, so
 * the default tarball is checked even if the mirror or its TLS is not.
 */
export const VOID_DEFAULT_SHA256 = "3f48e6673ac5907a897d913c97eb96edbfb230162731b4016562c51b3b8f1876";
const RUNSVDIR = "etc/runit/runsvdir/default";

export interface VoidSource {
  url: string;
  /** Lowercase hex, checked when given. */
  sha256: string | undefined;
  version: string;
}

/**
 * What the recipe reads from its catalog entry: source.url, source.sha256 (both
 * optional), version (when the tarball's name carries no date). The default
 * URL has its pinned sha256; any other download needs a sha256 or https.
 */
export function voidSource(entry: unknown): VoidSource {
  const e = (typeof entry === "object" && entry !== null ? entry : {}) as Record<string, unknown>;
  const src = (typeof e.source === "object" && e.source !== null ? e.source : {}) as Record<string, unknown>;
  const url = typeof src.url === "string" && src.url !== "" ? src.url : VOID_DEFAULT_URL;
  const sha = typeof src.sha256 === "string" && src.sha256 !== "" ? src.sha256.toLowerCase() : undefined;
  if (sha !== undefined && !/^[0-9a-f]{64}$/.test(sha)) {
    throw new BangerError(
      ErrorCodes.INVALID_ARGUMENT,
      `catalog entry: source.sha256 is not a sha256: ${sha}`,
    );
  }
  const sha256 = sha ?? (url === VOID_DEFAULT_URL ? VOID_DEFAULT_SHA256 : undefined);
  if (sha256 === undefined && new URL(url).protocol !== "https:") {
    throw new BangerError(
      ErrorCodes.INVALID_ARGUMENT,
      `catalog entry: source.url ${url} is neither https nor pinned by a source.sha256`,
      { hint: "use an https URL, or add the tarball's sha256 as source.sha256" },
    );
  }
  const fromName = /(\d{8})/.exec(path.posix.basename(new URL(url).pathname))?.[1];
  const version = fromName ?? (typeof e.version === "string" && e.version !== "" ? e.version : "unknown");
  return { url, sha256, version };
}

/** The runit service that keeps the agent up. */
export const AGENT_RUN = `#!/bin/sh
exec 2>&1
exec ${AGENT_GUEST_PATH}
`;

export interface VoidRecipeDeps {
  runner: CommandRunner;
  agent: AgentProvider;
  fetch: typeof fetch;
  /** Who builds (checked); see preparedBuildUser. */
  buildUser: () => Promise<BuildUser>;
}

export async function runVoid(
  deps: VoidRecipeDeps,
  cacheRoot: string,
  ctx: RecipeContext,
): Promise<RecipeResult> {
  const source = voidSource(ctx.catalogEntry);
  const sources = await moduleTexts(
    [
      "./void.js",
      "./guestConfig.js",
      "./ext4Image.js",
      "./treeFs.js",
      "./rootlessTree.js",
      "../userns.js",
    ].map((m) => new URL(m, import.meta.url)),
  );
  const hash = cacheKey({
    recipe: VOID_RECIPE,
    sources,
    initScript: INIT_SCRIPT,
    agent: await deps.agent.sourceKey(),
    source,
  });
  const stages = new Stages(ctx.onProgress, "recipe");
  const entry = await buildCached({
    root: cacheRoot,
    recipe: VOID_RECIPE,
    hash,
    name: `image-void-${hash.slice(0, 16)}`,
    build: (tmp) => buildVoidImage(deps, source, tmp, stages),
  });
  if (entry.cached) stages.info("cache", `reusing the image built ${entry.manifest.builtAt} (${entry.dir})`);
  return { files: entry.files, version: entry.manifest.artifactVersion };
}

async function buildVoidImage(deps: VoidRecipeDeps, source: VoidSource, out: string, stages: Stages) {
  const { runner } = deps;
  const work = path.join(out, "work");
  const tarball = path.join(work, "rootfs.tar");
  await mkdir(work, { recursive: true });
  const tb = await startTreeBuild(runner, deps.buildUser, out);
  try {
    await stages.run("download", `download ${source.url}`, () =>
      download(deps.fetch, source, tarball, (current, total) =>
        stages.info("download", "downloading", { current, ...(total ? { total } : {}) }),
      ),
    );
    await stages.run("extract", "extract the rootfs tarball in the build namespace", async () => {
      const readable = await tarballForBuildUser(tb, tarball);
      await extractIntoTree(tb, readable);
      await rm(tarball, { force: true });
    });
    const agentBin = await stages.run("agent", "build the guest agent", () =>
      deps.agent.build(path.join(work, "agent")),
    );
    await stages.run("customize", "configure the guest", async () => {
      await customizeVoidTree(tb.root, agentBin);
      await splitWorkSeed(tb.root, tb.seed);
      await handOverTree(tb);
    });
    await makeTreeImages(tb, stages, out);
    return { files: { ...IMAGE_FILES }, artifactVersion: source.version, stages: stages.timings };
  } finally {
    await rm(work, { recursive: true, force: true });
    await endTreeBuild(tb);
  }
}

/** The tarball where the build user can read it: banger-vmm cannot enter root's cache, so it gets a copy. */
async function tarballForBuildUser(tb: TreeBuild, tarball: string): Promise<string> {
  if (tb.user.kind === "self") return tarball;
  const copy = path.join(tb.scratch, "rootfs.tar");
  await copyFile(tarball, copy);
  await chown(copy, tb.user.uid, tb.user.gid);
  return copy;
}

/** Stream URL into FILE, checking the sha256 when known. */
export async function download(
  fetchFn: typeof fetch,
  source: Pick<VoidSource, "url" | "sha256">,
  file: string,
  onBytes: (current: number, total: number | undefined) => void = () => {},
): Promise<void> {
  const res = await fetchFn(source.url).catch((e: unknown) => {
    throw new BangerError(
      ErrorCodes.COMMAND_FAILED,
      `cannot download ${source.url}: ${(e as Error).message}`,
      {
        cause: e,
        hint: "check the network, or set the catalog entry's source.url to a reachable mirror",
      },
    );
  });
  if (!res.ok || res.body === null) {
    throw new BangerError(ErrorCodes.COMMAND_FAILED, `cannot download ${source.url}: HTTP ${res.status}`);
  }
  const total = Number(res.headers.get("content-length")) || undefined;
  const hash = createHash("sha256");
  let current = 0;
  let reported = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      current += chunk.length;
      if (current - reported >= 8 * 1024 * 1024) {
        reported = current;
        onBytes(current, total);
      }
      cb(null, chunk);
    },
  });
  await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), count, createWriteStream(file));
  onBytes(current, total);
  const got = hash.digest("hex");
  if (source.sha256 !== undefined && got !== source.sha256) {
    await rm(file, { force: true });
    throw new BangerError(
      ErrorCodes.COMMAND_FAILED,
      `${source.url}: sha256 mismatch (expected ${source.sha256}, got ${got})`,
      { hint: "the download is corrupt or the catalog entry is out of date" },
    );
  }
}

/** Everything the image needs beyond Void's rootfs (see the module comment). */
export async function customizeVoidTree(root: string, agentBinary: string): Promise<void> {
  for (const [rel, what] of [
    [RUNSVDIR, "runit default runsvdir"],
    ["etc/sv/sshd/run", "sshd runit service"],
  ] as const) {
    if (!(await existsInTree(root, rel))) {
      throw new BangerError(
        ErrorCodes.COMMAND_FAILED,
        `not a usable Void Linux rootfs: it has no ${what} (/${rel})`,
      );
    }
  }
  await copyIntoTree(root, AGENT_GUEST_PATH, agentBinary, 0o755);
  await writeTreeFile(root, "etc/sv/banger-agent/run", AGENT_RUN, 0o755);
  await linkInTree(root, `${RUNSVDIR}/banger-agent`, "/etc/sv/banger-agent");
  await linkInTree(root, `${RUNSVDIR}/sshd`, "/etc/sv/sshd");
  for (const svc of ["dhcpcd", ...[1, 2, 3, 4, 5, 6].map((n) => `agetty-tty${n}`)]) {
    await removeInTree(root, `${RUNSVDIR}/${svc}`);
  }
  if (await existsInTree(root, "etc/sv/agetty-ttyS0")) {
    await linkInTree(root, `${RUNSVDIR}/agetty-ttyS0`, "/etc/sv/agetty-ttyS0");
  }
  await removeHostKeys(root);
  const sshdConfig = await readTreeText(root, "etc/ssh/sshd_config");
  await writeTreeFile(
    root,
    "etc/ssh/sshd_config",
    sshdConfig === undefined ? SSHD_SETTINGS : withSshdSettings(sshdConfig),
  );
  await writeTreeFile(root, "etc/runit/core-services/90-banger-hosts.sh", UPDATE_HOSTS_SH);
  await writeTreeFile(root, "etc/hostname", `${DEFAULT_HOSTNAME}\n`);
  await writeTreeFile(root, "etc/resolv.conf", RESOLV_CONF);
  await lockRootPassword(root);
}

/** A regular file's text, or undefined when absent; refuses symlinks (they may point at the host). */
async function readTreeText(root: string, rel: string): Promise<string | undefined> {
  const p = await treePath(root, rel);
  const st = await lstat(p).catch(() => undefined);
  if (st === undefined) return undefined;
  if (!st.isFile())
    throw new BangerError(ErrorCodes.COMMAND_FAILED, `/${rel} in the rootfs is not a regular file`);
  return readFile(p, "utf8");
}

/** No password for root ("*": keys only; the tarball's root password is public). */
async function lockRootPassword(root: string): Promise<void> {
  const shadow = await readTreeText(root, "etc/shadow");
  if (shadow === undefined) return;
  const text = shadow.replace(/^root:[^:\n]*:/m, "root:*:");
  const mode = (await lstat(await treePath(root, "etc/shadow"))).mode & 0o7777;
  await writeTreeFile(root, "etc/shadow", text, mode);
}
