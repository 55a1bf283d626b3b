import { existsSync } from "node:fs";
import { mkdir, open, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { BangerError, ErrorCodes } from "../errors/index.js";
import type { CommandRunner } from "../host/runner.js";

/** The Debian meta package that depends on the current versioned kernel image. */
export const KERNEL_META_PACKAGE = "linux-image-amd64";

/** The xz stream header magic: FD 37 7A 58 5A 00. */
export const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

export interface PreparedKernel {
  /** Uncompressed ELF kernel, bootable directly by QEMU (PVH) and Firecracker. */
  vmlinux: string;
  /** e.g. 6.1.0-56-amd64 */
  kernelVersion: string;
  /** KERNEL_TREE/lib/modules/KVER */
  modulesDir: string;
  /** The root the kernel package was extracted into (what `depmod -b` takes). */
  kernelTree: string;
}

export interface PrepareKernelOptions {
  /** Scratch directory: downloads, the extracted package (~400 MB) and vmlinux go here. */
  workDir: string;
  runner: CommandRunner;
  onStage?: (stage: string) => void;
}

/**
 * `apt-get download PKG...` into `dir` (one call); returns the .deb paths in
 * the order asked. Needs no root, but the package lists must be current.
 */
export async function aptDownloadAll(
  pkgs: readonly string[],
  dir: string,
  runner: CommandRunner,
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const res = await runner.run(["apt-get", "download", ...pkgs], { cwd: dir, allowFailure: true });
  const files = await readdir(dir);
  const debs = pkgs.map((p) => files.filter((f) => f.startsWith(`${p}_`) && f.endsWith(".deb")).sort()[0]);
  const missing = pkgs.filter((_, i) => debs[i] === undefined);
  if (res.code !== 0 || missing.length > 0) {
    throw new BangerError(
      ErrorCodes.COMMAND_FAILED,
      `apt-get download ${pkgs.join(" ")} failed: ${lastLines(res.stderr)}`,
      { hint: "run `apt-get update` so the package lists are current", details: res },
    );
  }
  return debs.map((d) => path.join(dir, d!));
}

/** `apt-get download PKG` into `dir`; returns the path of the .deb. */
export async function aptDownload(pkg: string, dir: string, runner: CommandRunner): Promise<string> {
  const [deb] = await aptDownloadAll([pkg], dir, runner);
  return deb!;
}

/** `dpkg -x DEB DEST`: unpack a package's files without installing it. */
export async function extractDeb(deb: string, dest: string, runner: CommandRunner): Promise<string> {
  await mkdir(dest, { recursive: true });
  await runner.run(["dpkg", "-x", deb, dest]);
  return dest;
}

/** Download and unpack one package into DIR/debs and DIR/NAME; returns the unpacked root. */
export async function fetchDeb(pkg: string, dir: string, runner: CommandRunner): Promise<string> {
  const deb = await aptDownload(pkg, path.join(dir, "debs"), runner);
  return extractDeb(deb, path.join(dir, pkg), runner);
}

/**
 * The versioned kernel image package out of the meta package's Depends field,
 * e.g. "linux-image-6.1.0-56-amd64 (= 6.1.192-2)" -> "linux-image-6.1.0-56-amd64".
 */
export function versionedImagePackage(depends: string): string | undefined {
  for (const alt of depends.split(/[,|]/)) {
    const name = alt.trim().split(/[\s(]/)[0] ?? "";
    if (/^linux-image-\d/.test(name)) return name;
  }
  return undefined;
}

/** Every offset where the xz magic occurs in `buf`, in order. */
export function findXzOffsets(buf: Buffer): number[] {
  const out: number[] = [];
  for (let i = buf.indexOf(XZ_MAGIC); i !== -1; i = buf.indexOf(XZ_MAGIC, i + 1)) out.push(i);
  return out;
}

export function isElf(head: Buffer): boolean {
  return head.length >= 4 && head.subarray(0, 4).equals(ELF_MAGIC);
}

async function readHead(file: string, n: number): Promise<Buffer> {
  const fh = await open(file, "r");
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/**
 * Extract the uncompressed ELF kernel from an xz-compressed bzImage: find the
 * xz stream, decompress it with `xz` (trailing data after the stream is
 * ignored), check the ELF magic. Tries each magic occurrence in turn.
 */
export async function extractVmlinux(vmlinuz: string, out: string, runner: CommandRunner): Promise<void> {
  const image = await readFile(vmlinuz);
  const offsets = findXzOffsets(image);
  const packed = `${out}.xz`;
  await rm(out, { force: true });
  for (const off of offsets) {
    await writeFile(packed, image.subarray(off));
    const res = await runner.run(["xz", "-d", "-k", "-f", "--single-stream", packed], { allowFailure: true });
    const ok = existsSync(out) && isElf(await readHead(out, 4));
    await rm(packed, { force: true });
    if (ok) return;
    if (res.code === 0) await rm(out, { force: true });
  }
  throw new BangerError(
    ErrorCodes.COMMAND_FAILED,
    `no xz-compressed ELF kernel found in ${vmlinuz} (${offsets.length} xz magic occurrences tried)`,
    { hint: "the kernel must be built with CONFIG_KERNEL_XZ=y" },
  );
}

/** The single vmlinuz-KVER in TREE/boot: its path and KVER. */
async function findVmlinuz(tree: string): Promise<{ vmlinuz: string; kernelVersion: string }> {
  const boot = path.join(tree, "boot");
  const names = existsSync(boot) ? (await readdir(boot)).filter((f) => f.startsWith("vmlinuz-")) : [];
  const name = names[0];
  if (name === undefined || names.length > 1) {
    throw new BangerError(ErrorCodes.INTERNAL, `expected one vmlinuz-* in ${boot}, found ${names.length}`);
  }
  return { vmlinuz: path.join(boot, name), kernelVersion: name.slice("vmlinuz-".length) };
}

/** Debian kernels put modules in lib/modules (bookworm) or usr/lib/modules (later). */
async function modulesDirOf(tree: string, kver: string): Promise<string> {
  const classic = path.join(tree, "lib", "modules", kver);
  if (existsSync(classic)) return classic;
  const merged = path.join(tree, "usr", "lib", "modules", kver);
  if (!existsSync(merged)) throw new BangerError(ErrorCodes.INTERNAL, `no modules for ${kver} in ${tree}`);
  // depmod -b and modprobe -d look in ROOT/lib/modules.
  await mkdir(path.join(tree, "lib"), { recursive: true });
  await symlink(path.join("..", "usr", "lib", "modules"), path.join(tree, "lib", "modules"));
  return classic;
}

/**
 * Fetch Debian's current amd64 kernel (the meta package and the versioned
 * image it depends on), unpack it into WORKDIR/kernel and extract vmlinux.
 */
export async function prepareKernel(opts: PrepareKernelOptions): Promise<PreparedKernel> {
  const { workDir, runner } = opts;
  const stage = opts.onStage ?? (() => {});
  const debs = path.join(workDir, "debs");
  stage(`download ${KERNEL_META_PACKAGE}`);
  const meta = await aptDownload(KERNEL_META_PACKAGE, debs, runner);
  const depends = (await runner.run(["dpkg-deb", "-f", meta, "Depends"])).stdout;
  const image = versionedImagePackage(depends);
  if (image === undefined) {
    throw new BangerError(
      ErrorCodes.INTERNAL,
      `${KERNEL_META_PACKAGE} depends on no linux-image: ${depends.trim()}`,
    );
  }
  stage(`download ${image}`);
  const imageDeb = await aptDownload(image, debs, runner);
  stage(`extract ${image}`);
  const kernelTree = path.join(workDir, "kernel");
  await extractDeb(imageDeb, kernelTree, runner);
  const { vmlinuz, kernelVersion } = await findVmlinuz(kernelTree);
  const modulesDir = await modulesDirOf(kernelTree, kernelVersion);
  stage("extract vmlinux");
  const vmlinux = path.join(workDir, "vmlinux");
  await extractVmlinux(vmlinuz, vmlinux, runner);
  return { vmlinux, kernelVersion, modulesDir, kernelTree };
}

function lastLines(s: string, n = 3): string {
  return s.trim().split("\n").slice(-n).join("; ");
}
