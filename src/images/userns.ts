/**
 * Who builds images, and how commands run in the build's user namespace.
 *
 * A normal user builds as themself. When banger runs as root, builds run as
 * the unprivileged system user banger-vmm (VMM_SYSTEM_USER): host root never
 * runs an image's binaries, nor the package manager that fills a tree.
 *
 * In the namespace (`unshare --map-auto --map-root-user`), the builder is
 * root and its subordinate ids are 1..65535: the builder's own files are
 * root's files, the files of package users get their own ids, and
 * `mkfs.ext4 -d` run inside records the in-namespace owners. Such a tree
 * holds files the builder cannot delete from outside: removeTree removes it
 * from inside.
 */
import { existsSync } from "node:fs";
import { chmod, chown, copyFile, mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { BangerError, ErrorCodes } from "../errors/index.js";
import { VMM_SYSTEM_USER } from "../helper/protocol.js";
import { type CommandRunner, formatArgv, type RunOptions, type RunResult } from "../host/runner.js";
import { ENTER_SCRIPT } from "./chroot.js";
import { subidStatus } from "./subids.js";

export interface BuildUser {
  /** "self": the calling (non-root) user; "vmm": root hands the build to VMM_SYSTEM_USER. */
  kind: "self" | "vmm";
  name: string;
  uid: number;
  gid: number;
}

/** Enter the build namespace: user (builder = root, subordinate ids = 1..65535), mount and PID. */
export const UNSHARE_ARGV: readonly string[] = [
  "unshare",
  "--user",
  "--map-auto",
  "--map-root-user",
  "--mount",
  "--pid",
  "--fork",
  "--kill-child",
  "--",
];

/** Run a command as `user` (root -> banger-vmm, with its HOME and names); nothing for "self". */
export function asBuildUserArgv(user: BuildUser, argv: readonly string[]): string[] {
  if (user.kind === "self") return [...argv];
  return [
    "setpriv",
    `--reuid=${user.uid}`,
    `--regid=${user.gid}`,
    "--init-groups",
    "--",
    "env",
    `HOME=/nonexistent`,
    `USER=${user.name}`,
    `LOGNAME=${user.name}`,
    ...argv,
  ];
}

/** The argv of a command run by the build user inside the build namespace. */
export function inNamespaceArgv(user: BuildUser, argv: readonly string[]): string[] {
  return asBuildUserArgv(user, [...UNSHARE_ARGV, ...argv]);
}

/** A passwd line's uid and gid, by name (the output of `getent passwd NAME`). */
export function parsePasswd(line: string, name: string): { uid: number; gid: number } | undefined {
  const f = line.trim().split(":");
  if (f[0] !== name || f.length < 4) return undefined;
  const uid = Number(f[2]);
  const gid = Number(f[3]);
  return Number.isSafeInteger(uid) && Number.isSafeInteger(gid) ? { uid, gid } : undefined;
}

/** A command for messages: a chroot entry shows as `chroot ROOT CMD...`, without the setup script and env. */
export function describeNsCommand(argv: readonly string[]): string {
  if (argv[0] === "sh" && argv[2] === ENTER_SCRIPT) {
    const at = argv.indexOf("chroot", 5);
    if (at !== -1) return formatArgv(argv.slice(at));
  }
  return formatArgv(argv);
}

/** The build user for this process: itself, or banger-vmm when root. */
export async function resolveBuildUser(runner: CommandRunner, uid: number | undefined): Promise<BuildUser> {
  if (uid !== 0) {
    const me = os.userInfo();
    return { kind: "self", name: me.username, uid: me.uid, gid: me.gid };
  }
  const r = await runner.run(["getent", "passwd", VMM_SYSTEM_USER], { allowFailure: true });
  const ids = r.code === 0 ? parsePasswd(r.stdout, VMM_SYSTEM_USER) : undefined;
  if (ids === undefined) {
    throw new BangerError(
      ErrorCodes.PREFLIGHT_FAILED,
      `image builds run as the unprivileged user ${VMM_SYSTEM_USER} when banger runs as root, and there is no such user`,
      {
        hint: `run scripts/install as root (it creates ${VMM_SYSTEM_USER}), or: useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ${VMM_SYSTEM_USER} && usermod --add-subuids 2000000000-2000065535 --add-subgids 2000000000-2000065535 ${VMM_SYSTEM_USER}`,
      },
    );
  }
  return { kind: "vmm", name: VMM_SYSTEM_USER, ...ids };
}

/** Fail early, with the fix, when the build user cannot enter the namespace. */
export async function checkUserNamespace(user: BuildUser): Promise<void> {
  const missing = ["/usr/bin/newuidmap", "/usr/bin/newgidmap"].filter((p) => !existsSync(p));
  if (missing.length > 0) {
    throw new BangerError(
      ErrorCodes.PREFLIGHT_FAILED,
      `${missing.join(" and ")} not found: rootless image builds need them`,
      {
        hint: "sudo apt-get install uidmap",
      },
    );
  }
  const read = (p: string) => readFile(p, "utf8").catch(() => null);
  const s = subidStatus(user, await read("/etc/subuid"), await read("/etc/subgid"));
  if (!s.ok) {
    throw new BangerError(
      ErrorCodes.PREFLIGHT_FAILED,
      `rootless image builds need subordinate ids: ${s.detail}`,
      {
        hint: `add them with: ${s.fix}`,
      },
    );
  }
}

/** The build user, checked: resolveBuildUser then checkUserNamespace. */
export async function preparedBuildUser(runner: CommandRunner, uid: number | undefined): Promise<BuildUser> {
  const user = await resolveBuildUser(runner, uid);
  await checkUserNamespace(user);
  return user;
}

/** Runs every command as the build user inside the build namespace. */
export class NamespaceRunner implements CommandRunner {
  constructor(
    private readonly inner: CommandRunner,
    readonly user: BuildUser,
  ) {}

  /** A failure names the command as the build ran it (not the namespace plumbing around it). */
  async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const r = await this.inner.run(inNamespaceArgv(this.user, argv), { ...opts, allowFailure: true });
    if (r.code === 0 || opts.allowFailure) return r;
    const tail = (r.stderr.trim() || r.stdout.trim()).split("\n").slice(-5).join("\n");
    throw new BangerError(
      ErrorCodes.COMMAND_FAILED,
      `${describeNsCommand(argv)} (as ${this.user.name}, in the build namespace) exited with code ${r.code}${tail ? `: ${tail}` : ""}`,
      { details: r },
    );
  }

  /** Remove a tree (files of subordinate ids included) from inside; a no-op when absent. */
  async removeTree(dir: string): Promise<void> {
    if (!existsSync(dir)) return;
    await this.run(["rm", "-rf", "--one-file-system", "--", dir]);
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Runs a downloaded binary (argv[0], an absolute path) as the build user in
 * the namespace: for banger-vmm, a copy in a scratch dir of its own (root's
 * directories are closed to it), removed afterwards. Never as host root.
 */
export class BinaryRunner implements CommandRunner {
  private readonly ns: NamespaceRunner;

  constructor(
    inner: CommandRunner,
    readonly user: BuildUser,
  ) {
    this.ns = new NamespaceRunner(inner, user);
  }

  async run(argv: readonly string[], opts?: RunOptions): Promise<RunResult> {
    const [bin, ...args] = argv;
    if (bin === undefined || !path.isAbsolute(bin)) {
      throw new BangerError(ErrorCodes.INTERNAL, `BinaryRunner needs an absolute path, got ${String(bin)}`);
    }
    if (this.user.kind === "self") return this.ns.run(argv, opts);
    const dir = await buildScratch(this.user, os.tmpdir(), "banger-bin");
    try {
      const copy = path.join(dir, path.basename(bin));
      await copyFile(bin, copy);
      await chown(copy, this.user.uid, this.user.gid);
      await chmod(copy, 0o755);
      return await this.ns.run([copy, ...args], { ...opts, cwd: "/" });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

/**
 * A fresh scratch directory the build user owns (0700). A normal user's lives
 * under `parent`; banger-vmm's under /var/tmp, since root's state directory is
 * closed to it.
 */
export async function buildScratch(user: BuildUser, parent: string, prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(user.kind === "self" ? parent : "/var/tmp", `${prefix}-`));
  if (user.kind === "vmm") await chown(dir, user.uid, user.gid);
  await chmod(dir, 0o700);
  return dir;
}

/**
 * Files root wrote into a banger-vmm tree (root-owned) become the build
 * user's, which is root inside the namespace. Nothing to do for "self".
 * Symlinks themselves are changed, never followed.
 */
export async function handToBuildUser(runner: CommandRunner, user: BuildUser, dir: string): Promise<void> {
  if (user.kind === "self") return;
  await runner.run(["chown", "-R", "-P", "-h", "--from=0:0", `${user.uid}:${user.gid}`, "--", dir]);
}
