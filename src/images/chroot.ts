/**
 * What `image build` needs to work inside an image tree: commands in a chroot
 * whose /dev and /proc are the build namespace's own, and a runner that
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

/** `env -i VARS chroot DIR ARGV...`: a command inside the image, with a clean environment. */
export function chrootArgv(dir: string, argv: readonly string[]): string[] {
  const env = Object.entries(CHROOT_ENV).map(([k, v]) => `${k}=${v}`);
  return ["env", "-i", ...env, "chroot", dir, ...argv];
}

/** The device nodes a build step sees in /dev: bound from the host one by one; no block device, no host /dev. */
export const BUILD_DEVICES: readonly string[] = ["null", "zero", "full", "random", "urandom", "tty"];

/**
 * Run inside the build namespace (its own mount and PID namespaces, the
 * builder as root of a user namespace): give ROOT a private /dev (tmpfs with
 * only BUILD_DEVICES bound in, plus the usual fd links) and its own /proc,
 * then exec the rest of the argv. Every mount lives and dies with the
 * namespace; nothing is mounted on the host. A constant script: ROOT and the
 * command are positional arguments, never spliced into shell text.
 */
export const ENTER_SCRIPT = `set -eu
root=$1
shift
mount -t tmpfs -o mode=0755,nosuid,noexec,size=1m banger-dev "$root/dev"
for n in ${BUILD_DEVICES.join(" ")}; do
  : > "$root/dev/$n"
  mount --bind "/dev/$n" "$root/dev/$n"
done
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
mkdir "$root/dev/pts" "$root/dev/shm"
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
exec "$@"
`;

/** ARGV run in the image at ROOT (chrootArgv) after ENTER_SCRIPT set up its /dev and /proc; run it in the namespace. */
export function enterArgv(root: string, argv: readonly string[]): string[] {
  return ["sh", "-c", ENTER_SCRIPT, "banger-enter", root, ...chrootArgv(root, argv)];
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
