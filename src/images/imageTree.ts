/**
 * Work inside an unpacked image tree. Commands in the image run in the build
 * namespace (`ns`), chrooted with only the build devices in /dev (enterArgv);
 * the host side only stages files. The image may hold absolute symlinks that
 * would lead the host to its OWN files: every host side path used here is
 * checked to be a real directory first, and copies to image paths happen
 * inside the chroot, where symlinks resolve in the image.
 */
import { randomBytes } from "node:crypto";
import { chmod, copyFile, lstat, mkdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { BangerError, ErrorCodes } from "../errors/index.js";
import type { CommandRunner } from "../host/runner.js";
import type { CopySpec } from "./buildParams.js";
import { enterArgv } from "./chroot.js";

/** Keeps services from starting while packages install in the chroot. */
export const POLICY_RC_D = "#!/bin/sh\n# banger image build: no service starts in the chroot\nexit 101\n";

export class ImageTree {
  private buildDir: string | undefined;

  constructor(
    /** The host directory the image is unpacked in. */
    readonly root: string,
    /** Host commands (staging copies). */
    private readonly runner: CommandRunner,
    /** Commands in the build namespace. */
    private readonly ns: CommandRunner,
    /** Makes what the host staged the build user's (root -> banger-vmm). */
    private readonly handOver: (dir: string) => Promise<void> = async () => {},
  ) {}

  /** ARGV in the image: chrooted, in the build namespace. */
  inImage(argv: readonly string[]) {
    return this.ns.run(enterArgv(this.root, argv));
  }

  /** ROOT/REL when every component is a real directory (missing ones made, 0755; /root 0700). */
  async realDir(rel: string): Promise<string> {
    let dir = this.root;
    for (const part of rel.split("/").filter((p) => p !== "")) {
      dir = path.join(dir, part);
      const st = await lstat(dir).catch(() => undefined);
      if (st === undefined) await mkdir(dir, { mode: rel === "root" ? 0o700 : 0o755 });
      else if (!st.isDirectory()) {
        throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `/${rel} in the image is not a directory`);
      }
    }
    return dir;
  }

  /** The mount points (real directories) for `names`, by name. */
  async mountPoints(names: readonly string[]): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const n of names) out[n] = await this.realDir(n);
    return out;
  }

  async has(rel: string): Promise<boolean> {
    return (await lstat(path.join(this.root, rel)).catch(() => undefined)) !== undefined;
  }

  /** A private directory at the image's root for staging files: /.banger-build-RANDOM. */
  async makeBuildDir(): Promise<string> {
    const name = `.banger-build-${randomBytes(4).toString("hex")}`;
    await mkdir(path.join(this.root, name), { mode: 0o700 });
    await this.handOver(path.join(this.root, name));
    this.buildDir = name;
    return name;
  }

  async removeBuildDir(): Promise<void> {
    if (this.buildDir === undefined) return;
    await rm(path.join(this.root, this.buildDir), { recursive: true, force: true });
    this.buildDir = undefined;
  }

  private staging(): string {
    if (this.buildDir === undefined) throw new BangerError(ErrorCodes.INTERNAL, "no build dir in the image");
    return this.buildDir;
  }

  /**
   * Like `cp -a SRC DEST` run in the image (root-owned): staged under the
   * build dir by the host (owned by the builder, root in the namespace), then
   * copied to DEST inside the chroot.
   */
  async copyIn(c: CopySpec, i: number): Promise<void> {
    const base = path.basename(c.src);
    const stageRel = `/${this.staging()}/copy-${i}`;
    const hostStage = path.join(this.root, stageRel);
    await mkdir(hostStage, { mode: 0o700 });
    await this.runner.run(["cp", "-a", "--no-preserve=ownership", "--", c.src, path.join(hostStage, base)]);
    await this.handOver(hostStage);
    await this.inImage(["mkdir", "-p", path.posix.dirname(c.dest)]);
    await this.inImage(["cp", "-a", `${stageRel}/${base}`, c.dest]);
    await rm(hostStage, { recursive: true, force: true });
  }

  /** Run a host script inside the image with /bin/sh, as root, from the build dir. */
  async runScript(script: string): Promise<void> {
    if (!(await this.has("bin/sh"))) {
      throw new BangerError(
        ErrorCodes.INVALID_ARGUMENT,
        "--script needs /bin/sh in the image, and it has none",
      );
    }
    const rel = `/${this.staging()}/${path.basename(script)}`;
    await copyFile(script, path.join(this.root, rel));
    await chmod(path.join(this.root, rel), 0o700);
    await this.handOver(path.join(this.root, rel));
    await this.inImage(["/bin/sh", rel]);
  }

  /**
   * Run fn with the host's resolv.conf in the image and service starts
   * blocked (policy-rc.d); both undone afterwards, also on failure.
   */
  async withNetworkConfig<T>(hostResolvConf: string, fn: () => Promise<T>): Promise<T> {
    const etc = await this.realDir("etc");
    const resolv = path.join(etc, "resolv.conf");
    const saved = path.join(etc, "resolv.conf.banger-saved");
    const hadResolv = (await lstat(resolv).catch(() => undefined)) !== undefined;
    if (hadResolv) await rename(resolv, saved); // a symlink is moved, never followed
    const policy = await this.policyPath();
    try {
      await copyFile(hostResolvConf, resolv);
      if (policy) await writeFile(policy, POLICY_RC_D, { mode: 0o755, flag: "wx" });
      return await fn();
    } finally {
      if (policy) await rm(policy, { force: true });
      await rm(resolv, { force: true });
      if (hadResolv) await rename(saved, resolv);
    }
  }

  /** usr/sbin/policy-rc.d when usr/sbin is a real directory and the image has none. */
  private async policyPath(): Promise<string | undefined> {
    for (const rel of ["usr", "usr/sbin"]) {
      const st = await lstat(path.join(this.root, rel)).catch(() => undefined);
      if (!st?.isDirectory()) return undefined;
    }
    return (await this.has("usr/sbin/policy-rc.d"))
      ? undefined
      : path.join(this.root, "usr/sbin/policy-rc.d");
  }
}
