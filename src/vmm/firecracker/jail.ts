/**
 * Running Firecracker through its jailer: the plan for one VM (pure).
 *
 * The jailer (run as root) makes `<chroot_base>/<exec_file_name>/<id>/root`,
 * copies firecracker in, optionally joins cgroups, unshares a mount namespace
 * (its mounts recursively bound: MS_BIND|MS_REC), pivot_roots into the
 * chroot, mknods /dev/kvm and /dev/net/tun, with --new-pid-ns clones
 * firecracker as pid 1 of a new pid namespace (its host pid goes to
 * `<chroot>/<exec_file_name>.pid`), drops to --uid/--gid and execs it with
 * `--id`. Firecracker then sees only the chroot: every path banger gives the
 * API must be a path inside it.
 *
 * banger makes the kernel, initrd, drives and log files visible inside the
 * chroot through bind mounts made in a private mount namespace that only the
 * jail inherits (`unshare --mount --propagation private`, then jailLaunch.js):
 * hard links fail across filesystems, copies cost the disk size, and nothing
 * is mounted in the host's namespace, so nothing can leak there. The jail's
 * uid gets access to those files through a POSIX ACL entry of its own (no
 * chown of the user's files), removed at teardown.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import type { JailLaunchPlan } from "../../helper/protocol.js";
import type { BootSpec } from "../driver.js";

export interface UidRange {
  first: number;
  last: number;
}

/** The API socket and vsock socket, as paths inside the chroot. */
export const JAIL_API_SOCK = "/run/fc.sock";
export const JAIL_VSOCK = "/run/vsock.sock";

/** The jailer beside the firecracker binary (same directory, named `jailer`), or null. */
export function jailerBeside(
  firecrackerBin: string,
  exists: (p: string) => boolean = existsSync,
): string | null {
  if (!path.isAbsolute(firecrackerBin)) return null;
  const jailer = path.join(path.dirname(firecrackerBin), "jailer");
  return exists(jailer) ? jailer : null;
}

/**
 * The cgroup version for `--cgroup-version`, from /proc/mounts: 1 when any
 * cgroup v1 hierarchy is mounted (the jailer finds its controllers there),
 * 2 when only the unified cgroup2 hierarchy is.
 */
export function cgroupVersionFromMounts(procMounts: string): 1 | 2 {
  const types = procMounts.split("\n").map((l) => l.split(" ")[2]);
  if (types.includes("cgroup")) return 1;
  return types.includes("cgroup2") ? 2 : 1;
}

/** 32-bit FNV-1a: spreads VM ids over the uid range. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** A uid (also used as the gid) for this VM's jail: stable per VM id, never one in use. */
export function pickJailUid(vmId: string, range: UidRange, inUse: ReadonlySet<number>): number {
  const size = range.last - range.first + 1;
  const start = fnv1a(vmId) % size;
  for (let i = 0; i < size; i++) {
    const uid = range.first + ((start + i) % size);
    if (!inUse.has(uid)) return uid;
  }
  throw new Error(`every uid of the jailer range ${range.first}-${range.last} is in use`);
}

export interface Bind {
  /** The host file. */
  source: string;
  /** Its path inside the chroot. */
  target: string;
  /** Mounted read-only, and the jail uid gets read access only. */
  readOnly: boolean;
}

/** The plan of one jail: the privileged helper's contract (JailLaunchPlan) is the same shape. */
export type JailPlan = JailLaunchPlan;

export interface JailInput {
  jailerBin: string;
  firecrackerBin: string;
  uid: number;
  cgroupVersion: 1 | 2;
  /** The directory the jails of this VM live in (`--chroot-base-dir`). */
  chrootBase: string;
  /** Host path of the metrics file. */
  metricsPath: string;
}

/**
 * In-jail paths of a spec's files. `/snapshot/*` are where this VM's state is
 * saved (PUT /snapshot/create), bound writable; `/restore/*` are the saved
 * state a restore boot loads, bound read-only (they may be shared by forks).
 */
export const JAIL_FILES = {
  kernel: "/boot/vmlinux",
  initrd: "/boot/initrd",
  vmmLog: "/logs/firecracker.log",
  metrics: "/logs/metrics.json",
  snapshotState: "/snapshot/state",
  snapshotMemory: "/snapshot/memory",
  restoreState: "/restore/state",
  restoreMemory: "/restore/memory",
} as const;

/** The host file a jailed VM's state is saved into (bound at JAIL_FILES.snapshotState); copied out on save. */
export const savedStateFileOf = (vmDir: string): string => path.join(vmDir, "fc-state.snap");

export const jailDrivePath = (driveId: string): string => `/drives/${driveId}`;

export function jailPlan(spec: BootSpec, input: JailInput): JailPlan {
  const exec = path.basename(input.firecrackerBin);
  const chrootDir = path.join(input.chrootBase, exec, spec.id, "root");
  const p = JAIL_FILES;
  const r = spec.restore;
  const binds: Bind[] = [
    // a restored guest's kernel is in its saved memory: no kernel or initrd then
    ...(r ? [] : [{ source: spec.kernelPath, target: p.kernel, readOnly: true }]),
    ...(spec.initrdPath && !r ? [{ source: spec.initrdPath, target: p.initrd, readOnly: true }] : []),
    ...spec.drives.map((d) => ({ source: d.path, target: jailDrivePath(d.id), readOnly: d.readOnly })),
    { source: spec.vmmLog, target: p.vmmLog, readOnly: false },
    { source: input.metricsPath, target: p.metrics, readOnly: false },
    { source: savedStateFileOf(spec.vmDir), target: p.snapshotState, readOnly: false },
    { source: spec.memoryFile, target: p.snapshotMemory, readOnly: false },
    ...(r
      ? [
          { source: r.stateFile, target: p.restoreState, readOnly: true },
          { source: r.memoryFile, target: p.restoreMemory, readOnly: true },
        ]
      : []),
  ];
  const { uid } = input;
  const jailerArgv = [
    input.jailerBin,
    "--id",
    spec.id,
    "--exec-file",
    input.firecrackerBin,
    "--uid",
    String(uid),
    "--gid",
    String(uid),
    "--cgroup-version",
    String(input.cgroupVersion),
    "--chroot-base-dir",
    input.chrootBase,
    "--new-pid-ns",
    "--",
    "--api-sock",
    JAIL_API_SOCK,
  ];
  return {
    id: spec.id,
    uid,
    gid: uid,
    cgroupVersion: input.cgroupVersion,
    jailerBin: input.jailerBin,
    firecrackerBin: input.firecrackerBin,
    chrootBase: input.chrootBase,
    chrootDir,
    binds,
    pidFile: path.join(chrootDir, `${exec}.pid`),
    apiSock: path.join(chrootDir, JAIL_API_SOCK),
    vsock: path.join(chrootDir, JAIL_VSOCK),
    jailerArgv,
  };
}

/** The spec as Firecracker inside the jail must see it: every file path inside the chroot. */
export function jailedSpec(spec: BootSpec): BootSpec {
  const p = JAIL_FILES;
  return {
    ...spec,
    kernelPath: p.kernel,
    initrdPath: spec.initrdPath ? p.initrd : null,
    drives: spec.drives.map((d) => ({ ...d, path: jailDrivePath(d.id) })),
    vmmLog: p.vmmLog,
    memoryFile: p.snapshotMemory,
    ...(spec.restore ? { restore: { stateFile: p.restoreState, memoryFile: p.restoreMemory } } : {}),
  };
}

/**
 * The argv that starts the jail, run as root: a private mount namespace in
 * which the launcher (jailLaunch.js, beside this file) makes the bind mounts
 * of `planFile` and then runs the jailer.
 */
export function launchArgv(nodeBin: string, launcherScript: string, planFile: string): string[] {
  return ["unshare", "--mount", "--propagation", "private", "--", nodeBin, launcherScript, planFile];
}

/**
 * One entry per host file, for its ACL: a file bound twice (a VM restored from
 * its own memory file binds it at /restore/memory read-only and at
 * /snapshot/memory writable) gets the widest access it needs, once.
 */
export function aclBinds(binds: readonly Bind[]): Bind[] {
  const bySource = new Map<string, Bind>();
  for (const b of binds) {
    const seen = bySource.get(b.source);
    bySource.set(b.source, seen ? { ...seen, readOnly: seen.readOnly && b.readOnly } : b);
  }
  return [...bySource.values()];
}

/** setfacl argv giving (or, with `remove`, taking back) the jail uid's access to a bound file. */
export function aclArgv(bind: Bind, uid: number, remove = false): string[] {
  return remove
    ? ["setfacl", "-x", `u:${uid}`, bind.source]
    : ["setfacl", "-m", `u:${uid}:${bind.readOnly ? "r" : "rw"}`, bind.source];
}

/** Host paths of a jailed VM's sockets (inside `<vmDir>/jail/...`), and the paths Firecracker is given. */
export function jailedPaths(
  spec: BootSpec,
  firecrackerBin: string,
  metricsPath: string,
): {
  host: { apiSock: string; vsock: string; metrics: string };
  api: { apiSock: string; vsock: string; metrics: string };
} {
  const chrootDir = path.join(spec.vmDir, "jail", path.basename(firecrackerBin), spec.id, "root");
  return {
    host: {
      apiSock: path.join(chrootDir, JAIL_API_SOCK),
      vsock: path.join(chrootDir, JAIL_VSOCK),
      metrics: metricsPath,
    },
    api: { apiSock: JAIL_API_SOCK, vsock: JAIL_VSOCK, metrics: JAIL_FILES.metrics },
  };
}

/** getfacl argv printing a file's ACL entries only (no header, no path mangling). */
export function getfaclArgv(file: string): string[] {
  return ["getfacl", "-c", "-p", "--", file];
}

/**
 * True when an ACL (getfacl -c output) has no named user or group entries
 * left: only the owner, group, mask and other entries. The mask is then a
 * leftover of banger's own entry, and `setfacl -b` gives the file back its
 * plain mode without changing anyone's access.
 */
export function onlyBaseAcl(getfaclOutput: string): boolean {
  return getfaclOutput
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .every((l) => /^(user|group|mask|other)::/.test(l));
}
