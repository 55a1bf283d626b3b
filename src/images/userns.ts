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
import { chmod, chown, mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { BangerError, ErrorCodes } from "../errors/index.js";
import { VMM_SYSTEM_USER } from "../helper/protocol.js";
import type { CommandRunner, RunOptions, RunResult } from "../host/runner.js";
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
    throw new BangerError(ErrorCodes.PREFLIGHT_FAILED, `${missing.join(" and ")} not found: rootless image builds need them`, {
      hint: "sudo apt-get install uidmap",
    });
  }
  const read = (p: string) => readFile(p, "utf8").catch(() => null);
  const s = subidStatus(user, await read("/etc/subuid"), await read("/etc/subgid"));
  if (!s.ok) {
    throw new BangerError(ErrorCodes.PREFLIGHT_FAILED, `rootless image builds need subordinate ids: ${s.detail}`, {
      hint: `add them with: ${s.fix}`,
    });
  }
}

/** Runs every command as the build user inside the build namespace. */
export class NamespaceRunner implements CommandRunner {
  constructor(
    private readonly inner: CommandRunner,
    readonly user: BuildUser,
  ) {}

  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return this.inner.run(inNamespaceArgv(this.user, argv), opts);
  }

  /** Remove a tree (files of subordinate ids included) from inside; a no-op when absent. */
  async removeTree(dir: string): Promise<void> {
    if (!existsSync(dir)) return;
    await this.run(["rm", "-rf", "--one-file-system", "--", dir]);
    await rm(dir, { recursive: true, force: true });
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
