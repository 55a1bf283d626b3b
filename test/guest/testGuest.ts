/**
 * A tiny bootable test guest built from Debian packages and cached outside the
 * repository: Debian's kernel (vmlinux), banger's initrd, a busybox + dropbear
 * root filesystem with banger's guest agent (/usr/sbin/banger-agent, compiled
 * with the host's gcc, started by init before dropbear) and a work-disk seed.
 * The end-to-end tests boot it.
 *
 * CLI: `node dist/test/guest/testGuest.js` builds (or reuses) it and prints the JSON result.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import {
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { BangerError, ErrorCodes } from "../../src/errors/index.js";
import { AGENT_SOURCE_FILES, buildAgent } from "../../src/guest/agent/buildAgent.js";
import { BUSYBOX_PACKAGE, buildInitrd, installBusybox, listTree } from "../../src/guest/initrd.js";
import { INIT_SCRIPT } from "../../src/guest/initScript.js";
import {
  aptDownload,
  extractDeb,
  fetchDeb,
  KERNEL_META_PACKAGE,
  prepareKernel,
} from "../../src/guest/kernel.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import type { CommandRunner } from "../../src/host/runner.js";
import { pruneSuperseded } from "../../src/images/recipes/cache.js";
import { repoRoot } from "../helpers/repoRoot.js";

/** Host packages needed to BUILD the guest (booting it also needs qemu-system-x86). */
export const TEST_GUEST_APT_PACKAGES: readonly string[] = [
  "dpkg",
  "kmod",
  "cpio",
  "xz-utils",
  "e2fsprogs",
  "gcc",
  "libc6-dev",
];

/** dropbear and the libraries it needs that a Debian host may lack (libc, libz, libcrypt come from the host). */
const DROPBEAR_PACKAGES: readonly string[] = ["dropbear-bin", "libtomcrypt1", "libtommath1"];

/** Debian packages downloaded (never installed) into the guest. */
export const TEST_GUEST_DEB_PACKAGES: readonly string[] = [
  KERNEL_META_PACKAGE,
  BUSYBOX_PACKAGE,
  ...DROPBEAR_PACKAGES,
];

/** The source files whose text is the recipe: a change to any of them rebuilds the guest. */
export const RECIPE_SOURCES: readonly string[] = [
  "src/guest/kernel.ts",
  "src/guest/initrd.ts",
  "src/guest/initScript.ts",
  "src/guest/agent/buildAgent.ts",
  ...AGENT_SOURCE_FILES.map((f) => path.relative(repoRoot(), f)),
  "test/guest/testGuest.ts",
];

const FILES = { vmlinux: "vmlinux", initrd: "initrd.img", rootfs: "rootfs.ext4", workSeed: "work-seed.ext4" };

export interface TestGuest {
  dir: string;
  vmlinux: string;
  initrd: string;
  rootfs: string;
  workSeed: string;
  kernelVersion: string;
}

export interface EnsureTestGuestOptions {
  /** Default: $BANGER_TEST_CACHE, else /var/cache/banger-test. */
  cacheDir?: string;
  onStage?: (stage: string) => void;
  runner?: CommandRunner;
}

interface Manifest {
  version: 1;
  hash: string;
  kernelVersion: string;
  files: typeof FILES;
  debs: string[];
  builtAt: string;
  buildSeconds: number;
}

export interface RecipeSource {
  name: string;
  text: string;
}

/** The cache key: sha256 of the recipe sources, the init script and the package names. */
export function recipeHash(
  sources: readonly RecipeSource[],
  initScript: string,
  packages: readonly string[],
): string {
  const h = createHash("sha256");
  h.update(JSON.stringify({ sources: sources.map((s) => [s.name, s.text]), initScript, packages }));
  return h.digest("hex");
}

export async function readRecipeSources(root = repoRoot()): Promise<RecipeSource[]> {
  return Promise.all(
    RECIPE_SOURCES.map(async (name) => ({ name, text: await readFile(path.join(root, name), "utf8") })),
  );
}

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.BANGER_TEST_CACHE || "/var/cache/banger-test";
}

/** Parse `ldd` output: resolved library paths (loader included) and sonames not found. */
export function parseLdd(output: string): { paths: string[]; missing: string[] } {
  const paths: string[] = [];
  const missing: string[] = [];
  for (const raw of output.split("\n")) {
    const line = raw.trim();
    const found = /^(\S+) => (\/\S+) \(0x[0-9a-f]+\)$/.exec(line);
    const loader = /^(\/\S+) \(0x[0-9a-f]+\)$/.exec(line);
    if (found?.[2]) paths.push(found[2]);
    else if (loader?.[1]) paths.push(loader[1]);
    else if (/=> not found$/.test(line)) missing.push(line.split(/\s/)[0] ?? line);
  }
  return { paths, missing };
}

/** The guest if DIR holds a complete build (manifest.json is written last). */
async function readComplete(dir: string): Promise<TestGuest | undefined> {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(path.join(dir, "manifest.json"), "utf8")) as Manifest;
  } catch {
    return undefined;
  }
  const guest = guestPaths(dir, manifest.kernelVersion);
  const complete = [guest.vmlinux, guest.initrd, guest.rootfs, guest.workSeed].every((f) => existsSync(f));
  return complete ? guest : undefined;
}

function guestPaths(dir: string, kernelVersion: string): TestGuest {
  const f = (n: string) => path.join(dir, n);
  return {
    dir,
    vmlinux: f(FILES.vmlinux),
    initrd: f(FILES.initrd),
    rootfs: f(FILES.rootfs),
    workSeed: f(FILES.workSeed),
    kernelVersion,
  };
}

/**
 * Build the test guest, or reuse the cached one for this recipe. Builds into a
 * temp dir beside the cache entry and renames it into place.
 */
export async function ensureTestGuest(opts: EnsureTestGuestOptions = {}): Promise<TestGuest> {
  const cacheDir = path.resolve(opts.cacheDir ?? defaultCacheDir());
  const runner = opts.runner ?? new NodeCommandRunner();
  const stage = opts.onStage ?? (() => {});
  const hash = recipeHash(await readRecipeSources(), INIT_SCRIPT, TEST_GUEST_DEB_PACKAGES);
  const dir = path.join(cacheDir, `guest-${hash.slice(0, 16)}`);
  const cached = await readComplete(dir);
  if (cached) return cached;
  await mkdir(cacheDir, { recursive: true }).catch((e: unknown) => {
    throw new BangerError(ErrorCodes.PREFLIGHT_FAILED, `cannot create the test guest cache ${cacheDir}`, {
      cause: e,
      hint: "set BANGER_TEST_CACHE to a writable directory",
    });
  });
  await removeStaleTemps(cacheDir);
  const tmp = await mkdtemp(path.join(cacheDir, `.guest-${hash.slice(0, 16)}.tmp-`));
  try {
    await chmod(tmp, 0o755);
    await buildTestGuest(tmp, hash, runner, stage);
    await moveIntoPlace(tmp, dir);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  const built = await readComplete(dir);
  if (!built) throw new BangerError(ErrorCodes.INTERNAL, `test guest in ${dir} is incomplete after building`);
  await pruneSuperseded(cacheDir, path.basename(dir));
  return built;
}

/** Rename the finished build into place; a complete entry made meanwhile by another process wins. */
async function moveIntoPlace(tmp: string, dir: string): Promise<void> {
  try {
    await rename(tmp, dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ENOTEMPTY" && code !== "EEXIST") throw e;
    if (await readComplete(dir)) return;
    await rm(dir, { recursive: true, force: true }); // a damaged entry (manifest or a file deleted)
    await rename(tmp, dir);
  }
}

/** Remove build dirs left by killed builds (older than an hour; a build takes seconds). */
async function removeStaleTemps(cacheDir: string): Promise<void> {
  for (const name of await readdir(cacheDir)) {
    if (!/^\.guest-[0-9a-f]+\.tmp-/.test(name)) continue;
    const p = path.join(cacheDir, name);
    const st = await stat(p).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > 3600_000) await rm(p, { recursive: true, force: true });
  }
}

async function buildTestGuest(out: string, hash: string, runner: CommandRunner, stage: (s: string) => void) {
  const started = Date.now();
  const work = path.join(out, "work");
  const kernel = await prepareKernel({ workDir: work, runner, onStage: stage });
  await rename(kernel.vmlinux, path.join(out, FILES.vmlinux));
  stage(`download ${BUSYBOX_PACKAGE}`);
  const busybox = path.join(await fetchDeb(BUSYBOX_PACKAGE, work, runner), "bin", "busybox");
  await buildInitrd({
    kernelTree: kernel.kernelTree,
    kernelVersion: kernel.kernelVersion,
    out: path.join(out, FILES.initrd),
    runner,
    busybox,
    workDir: work,
    onStage: stage,
  });
  stage("build rootfs");
  const rootDir = path.join(work, "rootfs");
  await buildRootTree(rootDir, busybox, work, hash, runner);
  await mkfsExt4(rootDir, "bangerroot", path.join(out, FILES.rootfs), runner);
  stage("build work seed");
  const seedDir = path.join(work, "work-seed");
  await mkdir(path.join(seedDir, ".ssh"), { recursive: true, mode: 0o700 });
  await chmod(seedDir, 0o700);
  await chmod(path.join(seedDir, ".ssh"), 0o700);
  await mkfsExt4(seedDir, "bangerwork", path.join(out, FILES.workSeed), runner);
  const debs = (await readdir(path.join(work, "debs"))).sort();
  await rm(work, { recursive: true, force: true });
  const manifest: Manifest = {
    version: 1,
    hash,
    kernelVersion: kernel.kernelVersion,
    files: FILES,
    debs,
    builtAt: new Date().toISOString(),
    buildSeconds: (Date.now() - started) / 1000,
  };
  await writeFile(path.join(out, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
}

const INITTAB = `::sysinit:/etc/init.d/rcS
::respawn:/usr/sbin/banger-agent
::respawn:/usr/sbin/banger-sshd
::ctrlaltdel:/sbin/poweroff
::shutdown:/bin/sync
::shutdown:/bin/umount -a -r
`;

/**
 * sshd for the test guest: dropbear with the per-VM host key banger writes
 * at /etc/ssh/ssh_host_ed25519_key (OpenSSH format, converted once), so the
 * key banger pins is the key the guest shows; a generated key otherwise.
 */
const SSHD = `#!/bin/sh
K=/etc/ssh/ssh_host_ed25519_key
D=/etc/dropbear/dropbear_ed25519_host_key
if [ -f "$K" ]; then
  [ -s "$D" ] || /usr/lib/dropbear/dropbearconvert openssh dropbear "$K" "$D" >/dev/null 2>&1
  exec /usr/sbin/dropbear -F -E -p 22 -r "$D"
fi
exec /usr/sbin/dropbear -F -E -R -p 22
`;

const RCS = `#!/bin/sh
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
grep -q " /proc " /proc/mounts 2>/dev/null || mount -t proc proc /proc
grep -q " /sys " /proc/mounts || mount -t sysfs sysfs /sys
grep -q " /dev " /proc/mounts || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
ip link set lo up
# No udev: link the virtio-serial ports by name (/dev/virtio-ports/banger.agent).
for p in /sys/class/virtio-ports/*; do
  [ -r "$p/name" ] || continue
  n=$(cat "$p/name")
  [ -n "$n" ] || continue
  mkdir -p /dev/virtio-ports
  ln -sf "../$(basename "$p")" "/dev/virtio-ports/$n"
done
echo "banger-guest: up after $(cut -d' ' -f1 /proc/uptime)s"
`;

const ETC_FILES: ReadonlyArray<[string, string, number]> = [
  ["etc/inittab", INITTAB, 0o644],
  ["etc/init.d/rcS", RCS, 0o755],
  ["usr/sbin/banger-sshd", SSHD, 0o755],
  ["etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0o644],
  ["etc/group", "root:x:0:\n", 0o644],
  ["etc/shadow", "root:*:19000:0:99999:7:::\n", 0o600],
  ["etc/shells", "/bin/sh\n/bin/ash\n", 0o644],
];

/** The root filesystem tree: busybox, banger's guest agent, dropbear and its libraries, init config. */
async function buildRootTree(
  root: string,
  busybox: string,
  work: string,
  hash: string,
  runner: CommandRunner,
) {
  const dirs: Array<[string, number]> = [
    ["", 0o755],
    ["root", 0o700],
    ["tmp", 0o1777],
    ...["dev", "proc", "sys", "run", "etc/init.d", "etc/dropbear", "var/log", "usr/sbin"].map(
      (d): [string, number] => [d, 0o755],
    ),
  ];
  for (const [d, mode] of dirs) {
    await mkdir(path.join(root, d), { recursive: true });
    await chmod(path.join(root, d), mode);
  }
  await installBusybox(root, busybox, runner);
  const agent = await buildAgent({ runner, outDir: path.join(work, "agent") });
  await copyFile(agent, path.join(root, "usr/sbin/banger-agent"));
  await chmod(path.join(root, "usr/sbin/banger-agent"), 0o755);
  await installDropbear(root, work, runner);
  for (const [rel, text, mode] of ETC_FILES) {
    await writeFile(path.join(root, rel), text);
    await chmod(path.join(root, rel), mode);
  }
  await writeFile(path.join(root, "etc/banger-guest"), `banger test guest\nrecipe=${hash}\n`);
}

/** dropbear plus every library `ldd` lists for it, at the same paths in the guest. */
async function installDropbear(root: string, work: string, runner: CommandRunner): Promise<void> {
  const pkgRoot = path.join(work, "dropbear-root");
  for (const pkg of DROPBEAR_PACKAGES)
    await extractDeb(await aptDownload(pkg, path.join(work, "debs"), runner), pkgRoot, runner);
  const bin = path.join(pkgRoot, "usr/sbin/dropbear");
  const convert = path.join(pkgRoot, "usr/lib/dropbear/dropbearconvert");
  const libDirs = ["usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu"].map((d) => path.join(pkgRoot, d));
  const ldd = await runner.run(["ldd", bin], { env: { LD_LIBRARY_PATH: libDirs.join(":") } });
  const { paths, missing } = parseLdd(ldd.stdout);
  if (missing.length > 0) {
    throw new BangerError(
      ErrorCodes.PREFLIGHT_FAILED,
      `dropbear needs libraries not found: ${missing.join(", ")}`,
      {
        hint: "add the Debian package that ships them to DROPBEAR_PACKAGES in test/guest/testGuest.ts",
      },
    );
  }
  for (const lib of [bin, convert, ...paths]) {
    const rel = lib.startsWith(`${pkgRoot}/`) ? path.relative(pkgRoot, lib) : lib.replace(/^\/+/, "");
    const dest = path.join(root, rel);
    await mkdir(path.dirname(dest), { recursive: true });
    await copyFile(lib, dest); // follows symlinks: the guest gets the real file under the soname
    await chmod(dest, 0o755);
  }
}

/**
 * mkfs.ext4 -d DIR into a new 64 MiB image, then with debugfs: the image's root
 * directory gets DIR's mode (mkfs leaves it 0755) and, when built as non-root,
 * every file is made root-owned.
 */
async function mkfsExt4(dir: string, label: string, file: string, runner: CommandRunner): Promise<void> {
  await runner.run(["mkfs.ext4", "-F", "-q", "-d", dir, "-L", label, "-E", "root_owner=0:0", file, "64M"]);
  const rootMode = (await stat(dir)).mode & 0o7777;
  const cmds = [`sif / mode 0${(0o40000 | rootMode).toString(8)}`];
  if (process.getuid?.() !== 0) {
    for (const rel of await listTree(dir)) {
      const p = rel === "." ? "/" : `/${rel}`;
      cmds.push(`sif ${p} uid 0`, `sif ${p} gid 0`);
    }
  }
  const res = await runner.run(["debugfs", "-w", "-f", "-", file], { input: `${cmds.join("\n")}\n` });
  // debugfs exits 0 even when a command fails: its complaints are on stderr.
  const errors = res.stderr.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("debugfs "));
  if (errors.length > 0) {
    throw new BangerError(
      ErrorCodes.COMMAND_FAILED,
      `debugfs could not fix up ${file}: ${errors.slice(0, 3).join("; ")}`,
    );
  }
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const stamp = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
  const guest = await ensureTestGuest({ onStage: (s) => process.stderr.write(`[${stamp()}] ${s}\n`) });
  process.stderr.write(`[${stamp()}] ready\n`);
  process.stdout.write(`${JSON.stringify(guest, null, 2)}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    const err = e as { message?: string; hint?: string };
    process.stderr.write(`error: ${err.message ?? String(e)}\n${err.hint ? `hint: ${err.hint}\n` : ""}`);
    process.exit(1);
  });
}
