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
  symlink,
  writeFile,
} from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { gzip } from "node:zlib";
import { BangerError, ErrorCodes } from "../errors/index.js";
import type { CommandRunner } from "../host/runner.js";
import { INIT_SCRIPT } from "./initScript.js";
import { fetchDeb } from "./kernel.js";

/**
 * Modules the initrd loads, in this order (each after its dependencies):
 * virtio over PCI (QEMU pc) and MMIO (QEMU microvm, Firecracker), block, net,
 * console (virtio-serial agent channel), ext4, overlay, vsock. virtio_ring
 * comes first: virtio needs it, which modinfo does not say.
 */
export const INITRD_MODULES: readonly string[] = [
  "virtio_ring",
  "virtio",
  "virtio_pci",
  "virtio_mmio",
  "virtio_blk",
  "virtio_net",
  "virtio_console",
  "crc32c_generic",
  "ext4",
  "overlay",
  "vsock",
  "vmw_vsock_virtio_transport_common",
  "vmw_vsock_virtio_transport",
];

/** The Debian package busybox comes from (a static build: no libraries needed). */
export const BUSYBOX_PACKAGE = "busybox-static";

export interface BuildInitrdOptions {
  /** Root the kernel package was unpacked into (`depmod -b` root). */
  kernelTree: string;
  kernelVersion: string;
  /** The gzip-compressed cpio archive to write. */
  out: string;
  runner: CommandRunner;
  /** Modules loaded after INITRD_MODULES (with their dependencies). */
  extraModules?: string[];
  /** A busybox binary to use; by default busybox-static is downloaded into workDir. */
  busybox?: string;
  /** Scratch directory; by default a temp dir that is removed afterwards. */
  workDir?: string;
  onStage?: (stage: string) => void;
  /**
   * Runs the downloaded busybox (to list its applets). Default: `runner`.
   * A root build passes one that runs it as the unprivileged build user.
   */
  binaryRunner?: CommandRunner;
}

export interface ShowDepends {
  /** Module files, dependencies first, as modprobe printed them. */
  files: string[];
  /** Modules built into the kernel (nothing to load). */
  builtin: string[];
}

/** Parse `modprobe --show-depends` output: `insmod FILE [OPTS]` and `builtin NAME` lines. */
export function parseShowDepends(output: string): ShowDepends {
  const files: string[] = [];
  const builtin: string[] = [];
  for (const line of output.split("\n")) {
    const [verb, arg] = line.trim().split(/\s+/);
    if (arg === undefined) continue;
    if (verb === "insmod") files.push(arg);
    else if (verb === "builtin") builtin.push(arg);
  }
  return { files, builtin };
}

/** Load order from one or more show-depends outputs: first occurrence wins, order kept. */
export function moduleLoadOrder(outputs: readonly string[]): string[] {
  const seen = new Set<string>();
  const order: string[] = [];
  for (const out of outputs) {
    for (const f of parseShowDepends(out).files) {
      if (seen.has(f)) continue;
      seen.add(f);
      order.push(f);
    }
  }
  return order;
}

/** Run depmod on the unpacked tree, then resolve the modules' files in load order. */
export async function resolveModules(
  kernelTree: string,
  kernelVersion: string,
  modules: readonly string[],
  runner: CommandRunner,
): Promise<string[]> {
  const tree = path.resolve(kernelTree);
  await runner.run(["depmod", "-b", tree, kernelVersion]);
  const res = await runner.run([
    "modprobe",
    "-d",
    tree,
    "-S",
    kernelVersion,
    "--show-depends",
    "-a",
    ...modules,
  ]);
  return moduleLoadOrder([res.stdout]);
}

/**
 * Copy busybox to ROOT/bin/busybox and link every applet it lists
 * (`--list-full`, run through `runner`: the one command that executes it) to it.
 */
export async function installBusybox(root: string, busybox: string, runner: CommandRunner): Promise<void> {
  await mkdir(path.join(root, "bin"), { recursive: true });
  const dest = path.join(root, "bin", "busybox");
  await copyFile(busybox, dest);
  await chmod(dest, 0o755);
  const applets = (await runner.run([dest, "--list-full"])).stdout.split("\n").filter((l) => l.trim() !== "");
  for (const rel of applets) {
    const link = path.join(root, rel.trim());
    if (existsSync(link)) continue;
    await mkdir(path.dirname(link), { recursive: true });
    await symlink("/bin/busybox", link);
  }
}

/** Copy module files into ROOT at their path relative to the kernel tree; returns those paths. */
async function copyModules(tree: string, files: readonly string[], root: string, runner: CommandRunner) {
  const rels: string[] = [];
  for (const file of files) {
    let rel = path.relative(path.resolve(tree), file);
    if (rel.startsWith("..")) throw new BangerError(ErrorCodes.INTERNAL, `module ${file} is outside ${tree}`);
    const dest = path.join(root, rel);
    await mkdir(path.dirname(dest), { recursive: true });
    await copyFile(file, dest);
    if (rel.endsWith(".ko.xz")) {
      await runner.run(["xz", "-d", "-f", dest]);
      rel = rel.slice(0, -3);
    } else if (rel.endsWith(".ko.zst")) {
      await runner.run(["zstd", "-d", "-q", "-f", "--rm", dest]);
      rel = rel.slice(0, -4);
    }
    rels.push(rel);
  }
  return rels;
}

/** Every path under DIR (directories before their contents), relative, "." first. */
export async function listTree(dir: string): Promise<string[]> {
  const out: string[] = ["."];
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(path.join(dir, rel), { withFileTypes: true })) {
      const p = rel === "" ? e.name : `${rel}/${e.name}`;
      out.push(p);
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk("");
  return [out[0]!, ...out.slice(1).sort()];
}

/** Pack DIR as a gzip-compressed newc cpio archive (owner root) at OUT, atomically. */
export async function packCpio(dir: string, out: string, runner: CommandRunner): Promise<void> {
  const cpio = `${out}.cpio.tmp`;
  const names = `${(await listTree(dir)).join("\n")}\n`;
  await runner.run(["cpio", "-o", "-H", "newc", "-R", "0:0", "--reproducible", "--quiet", "-O", cpio], {
    cwd: dir,
    input: names,
  });
  const packed = await promisify(gzip)(await readFile(cpio), { level: 9 });
  await rm(cpio, { force: true });
  await writeFile(`${out}.tmp`, packed);
  await rename(`${out}.tmp`, out);
}

/**
 * Build the initrd: busybox, the virtio/ext4/overlay/vsock modules (with
 * their dependencies, in load order) and /init (INIT_SCRIPT), packed with cpio.
 */
export async function buildInitrd(opts: BuildInitrdOptions): Promise<void> {
  const { runner } = opts;
  const stage = opts.onStage ?? (() => {});
  const workDir = opts.workDir ?? (await mkdtemp(path.join(os.tmpdir(), "banger-initrd-")));
  const root = path.join(workDir, "initrd-root");
  try {
    await rm(root, { recursive: true, force: true });
    await mkdir(root, { recursive: true });
    let busybox = opts.busybox;
    if (busybox === undefined) {
      stage(`download ${BUSYBOX_PACKAGE}`);
      busybox = path.join(await fetchDeb(BUSYBOX_PACKAGE, workDir, runner), "bin", "busybox");
    }
    await installBusybox(root, busybox, opts.binaryRunner ?? runner);
    stage("resolve modules");
    const modules = [...INITRD_MODULES, ...(opts.extraModules ?? [])];
    const files = await resolveModules(opts.kernelTree, opts.kernelVersion, modules, runner);
    const rels = await copyModules(opts.kernelTree, files, root, runner);
    for (const d of ["dev", "proc", "sys", "newroot", "etc"])
      await mkdir(path.join(root, d), { recursive: true });
    await writeFile(path.join(root, "etc", "banger-modules"), `${rels.join("\n")}\n`);
    await writeFile(path.join(root, "init"), INIT_SCRIPT, { mode: 0o755 });
    await chmod(path.join(root, "init"), 0o755);
    stage("pack initrd");
    await packCpio(root, opts.out, runner);
  } finally {
    if (opts.workDir === undefined) await rm(workDir, { recursive: true, force: true });
    else await rm(root, { recursive: true, force: true });
  }
}
