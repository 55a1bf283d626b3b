/**
 * What `image build` needs to work inside an image: argv builders for loop
 * and bind mounts and for commands in a chroot, a stack of mounts that is
 * always released in reverse (loop devices detached), and a runner that
 * writes every command and its output to the build log.
 */
import { appendFile } from "node:fs/promises";
import { BangerError, ErrorCodes } from "../errors/index.js";
import { type CommandRunner, formatArgv, type RunOptions, type RunResult } from "../host/runner.js";

/** The environment of commands in the chroot: nothing from the host's. */
export const CHROOT_ENV: Readonly<Record<string, string>> = {
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  HOME: "/root",
  LC_ALL: "C",
  DEBIAN_FRONTEND: "noninteractive",
  TERM: "dumb",
};

export const mountArgv = {
  loop: (image: string, dir: string) => ["mount", "-o", "loop", image, dir],
  bind: (src: string, dir: string) => ["mount", "--bind", src, dir],
  umount: (dir: string) => ["umount", dir],
  /** Last resort when a plain umount fails (busy): detach now, free when unused. */
  umountLazy: (dir: string) => ["umount", "-l", dir],
  /** The loop devices backed by `image`, one name a line. */
  loopsOf: (image: string) => ["losetup", "-n", "-O", "NAME", "-j", image],
  detach: (dev: string) => ["losetup", "-d", dev],
} as const;

/** `env -i VARS chroot DIR ARGV...`: a command inside the image, with a clean environment. */
export function chrootArgv(dir: string, argv: readonly string[]): string[] {
  const env = Object.entries(CHROOT_ENV).map(([k, v]) => `${k}=${v}`);
  return ["env", "-i", ...env, "chroot", dir, ...argv];
}

/** Mounts made in order, released in reverse; loop devices of the loop-mounted images detached. */
export class MountStack {
  private readonly mounts: string[] = [];
  private readonly images: string[] = [];

  constructor(private readonly runner: CommandRunner) {}

  async loop(image: string, dir: string): Promise<void> {
    this.images.push(image); // before mounting: a failed mount may still leave a device behind
    await this.runner.run(mountArgv.loop(image, dir));
    this.mounts.push(dir);
  }

  async bind(src: string, dir: string): Promise<void> {
    await this.runner.run(mountArgv.bind(src, dir));
    this.mounts.push(dir);
  }

  get mounted(): readonly string[] {
    return this.mounts;
  }

  /**
   * Unmount everything (reverse order; a busy mount is detached lazily) and
   * detach every loop device still backed by the images. Never throws:
   * returns what could not be undone.
   */
  async releaseAll(): Promise<string[]> {
    const problems: string[] = [];
    while (this.mounts.length > 0) {
      const dir = this.mounts.pop()!;
      const r = await this.runner.run(mountArgv.umount(dir), { allowFailure: true }).catch(asResult);
      if (r.code === 0) continue;
      const lazy = await this.runner.run(mountArgv.umountLazy(dir), { allowFailure: true }).catch(asResult);
      if (lazy.code !== 0) problems.push(`cannot unmount ${dir}: ${(lazy.stderr || r.stderr).trim()}`);
    }
    while (this.images.length > 0) {
      const image = this.images.pop()!;
      const r = await this.runner.run(mountArgv.loopsOf(image), { allowFailure: true }).catch(asResult);
      const devs = r.stdout
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l.startsWith("/dev/"));
      for (const dev of devs) {
        const d = await this.runner.run(mountArgv.detach(dev), { allowFailure: true }).catch(asResult);
        if (d.code !== 0) problems.push(`cannot detach ${dev} (${image}): ${d.stderr.trim()}`);
      }
    }
    return problems;
  }
}

function asResult(e: unknown): RunResult {
  return { argv: [], code: 1, stdout: "", stderr: e instanceof Error ? e.message : String(e) };
}

/** Runs commands through `inner`, appending each argv, its output and exit code to a log file. */
export class LoggingRunner implements CommandRunner {
  constructor(
    private readonly inner: CommandRunner,
    private readonly logFile: string,
  ) {}

  async log(text: string): Promise<void> {
    await appendFile(this.logFile, text.endsWith("\n") ? text : `${text}\n`);
  }

  async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    await this.log(`$ ${formatArgv(argv)}`);
    const t0 = performance.now();
    let r: RunResult;
    try {
      r = await this.inner.run(argv, { ...opts, allowFailure: true });
    } catch (e) {
      await this.log(`! ${(e as Error).message}`);
      throw e;
    }
    const out = [r.stdout, r.stderr]
      .filter((s) => s.trim() !== "")
      .map((s) => (s.endsWith("\n") ? s : `${s}\n`))
      .join("");
    await this.log(`${out}[exit ${r.code}, ${((performance.now() - t0) / 1000).toFixed(1)} s]`);
    if (r.code !== 0 && !opts.allowFailure) {
      const tail = (r.stderr.trim() || r.stdout.trim()).split("\n").slice(-5).join("\n");
      throw new BangerError(
        ErrorCodes.COMMAND_FAILED,
        `${formatArgv(argv)} exited with code ${r.code}${tail ? `: ${tail}` : ""}`,
        { details: r },
      );
    }
    return r;
  }
}
