/**
 * The QEMU command line as data: BootSpec + options -> argv and the file
 * descriptors the VMM gets. Pure: no file system, no clock, no environment.
 *
 * The VMM is confined: it runs unprivileged under QEMU's seccomp sandbox and
 * needs no path access to the user's state directory. Everything it uses is
 * opened by the daemon and passed as an inherited fd (see FdPlan): the QMP and
 * agent sockets as listening sockets, drives through `-add-fd` fdsets, the
 * console (a pipe to the log writer) through an fdset, kernel and initrd
 * through /proc/self/fd/N.
 * QEMU starts paused (-S): the daemon moves it into its cgroup, then `cont`.
 */
import { createHash } from "node:crypto";
import path from "node:path";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { Acceleration, BootSpec, DriveSpec } from "../driver.js";

export type QemuMachine = "pc" | "microvm";

/** Where a VM's QEMU keeps its sockets and pid file, all inside the VM directory. */
export interface QemuPaths {
  qmpSocket: string;
  agentSocket: string;
  pidFile: string;
  /** Guest RAM (a memory-backend-file, share=on): kept while suspended, removed by stop. */
  memoryFile: string;
  /**
   * A directory the VMM owns, passed as an fd: QEMU 7.2 can migrate only to a
   * socket it connects to by path, and a confined VMM reaches no path of the
   * user's state directory except through /proc/self/fd/N/NAME of this fd.
   */
  vmmDir: string;
}

export interface QemuArgvOptions {
  qemuBin: string;
  machine: QemuMachine;
  acceleration: Acceleration;
  /** Host CPU MHz; required for microvm (the guest cannot calibrate its TSC there). */
  hostMhz?: number | null;
}

/** What the daemon opens for the VMM, by child fd number (0-2 are stdin, stdout, stderr). */
export type FdSource =
  | { kind: "listen"; path: string }
  | { kind: "file"; path: string; flags: "r" | "r+" | "a" }
  | { kind: "dir"; path: string }
  /** The console stream's write end, given at spawn (the pipe to the VM's log writer). */
  | { kind: "console" };

export interface QemuLaunch {
  argv: string[];
  /** fd number -> what to open there; numbers start at 3 and are dense. */
  fds: FdSource[];
  /** The child's fd of QemuPaths.vmmDir (saveState's migration socket is reached through it). */
  vmmDirFd: number;
  /** With spec.restore: the child's fd of the saved state (for `migrate-incoming fd:N`). */
  incomingFd: number | null;
}

/** The name of saveState's migration socket inside QemuPaths.vmmDir. */
export const MIGRATION_SOCKET = "migrate.sock";

/** The seccomp filter QEMU installs on itself; it breaks -runas and -daemonize (QEMU 7.2), so neither is used. */
export const SANDBOX_OPTS = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";

/** TCG's translation cache, bounded so the VM's memory limit can account for it (QEMU's default is 1 GiB). */
export const TCG_TB_SIZE_MIB = 256;

/**
 * RSS QEMU needs beyond guest RAM. Measured here (QEMU 7.2, TCG, machine pc,
 * 256 MiB guest, the small test guest after boot): RSS 283 MiB = guest RAM
 * touched 108 MiB + TCG code buffer 64 MiB touched (tb-size 64) + 26 MiB other
 * anonymous memory + 81 MiB file-backed (57 MiB the mapped kernel image, the
 * rest QEMU's libraries). Allowance: the TCG buffer (bounded by tb-size) +
 * 160 MiB for the rest.
 */
export function vmmOverheadMib(acceleration: Acceleration): number {
  return (acceleration === "tcg" ? TCG_TB_SIZE_MIB : 0) + 160;
}

/** The virtio-serial port name the guest agent opens (/dev/virtio-ports/banger.agent). */
export const AGENT_PORT_NAME = "banger.agent";

export function qemuPaths(vmDir: string): QemuPaths {
  return {
    qmpSocket: path.join(vmDir, "qmp.sock"),
    agentSocket: path.join(vmDir, "agent.sock"),
    pidFile: path.join(vmDir, "qemu.pid"),
    memoryFile: path.join(vmDir, "memory.raw"),
    vmmDir: path.join(vmDir, "vmm.d"),
  };
}

/** Escape a value inside a QEMU `key=value,...` option string (`,` is written `,,`). */
export function optValue(v: string): string {
  return v.replaceAll(",", ",,");
}

/**
 * The `-uuid` this VM's QEMU carries, derived from its QMP socket path: the
 * marker in /proc/PID/cmdline that tells our VMM from a reused pid.
 */
export function vmmUuid(qmpSocket: string): string {
  const h = createHash("sha256").update(`banger-qmp:${qmpSocket}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Strings QEMU's command line carries for this QMP socket: today's uuid, and the socket path of older (daemonized) VMMs. */
export function qmpMarkers(qmpSocket: string): string[] {
  return [`-uuid ${vmmUuid(qmpSocket)}`, `unix:${optValue(qmpSocket)},`];
}

/** Kernel command line: console and panic settings, the spec's args, and microvm's TSC settings. */
export function kernelCmdline(spec: BootSpec, opts: QemuArgvOptions): string {
  const parts = ["console=ttyS0", "panic=-1"];
  const extra = spec.kernelArgs.trim();
  if (extra) parts.push(extra);
  if (opts.machine === "microvm") {
    const mhz = opts.hostMhz;
    if (mhz == null || !(mhz > 0)) {
      throw new BangerError(ErrorCodes.INVALID_ARGUMENT, "the microvm machine needs the host CPU MHz", {
        hint: "pass hostMhz, or use machine pc",
      });
    }
    parts.push(`tsc_early_khz=${Math.round(mhz * 1000)}`, "tsc=reliable");
  }
  return parts.join(" ");
}

function machineArgs(opts: QemuArgvOptions): string[] {
  const base = opts.machine === "microvm" ? "microvm,pit=on,pic=on,rtc=on" : "pc";
  const machine = `${base},memory-backend=${MEMORY_ID}`;
  const accel = opts.acceleration === "tcg" ? `tcg,tb-size=${TCG_TB_SIZE_MIB}` : "kvm";
  return ["-machine", machine, "-accel", accel, "-cpu", opts.acceleration === "kvm" ? "host" : "max"];
}

const DRIVE_ID = /^[A-Za-z][A-Za-z0-9_]*$/;
const MEMORY_ID = "mem0";

/**
 * Guest RAM in the spec's memory file, mapped shared: the file always holds the
 * guest's memory, so saving state (migration with x-ignore-shared) copies no RAM
 * and a restore maps the same file again. QEMU opens it through /proc/self/fd/N
 * (the daemon's fd; the file is the VMM user's, mode 0600).
 */
function memoryArgs(spec: BootSpec, fds: FdAlloc): string[] {
  if (spec.restore && spec.restore.memoryFile !== spec.memoryFile) {
    throw new BangerError(ErrorCodes.INTERNAL, "QEMU restores only from the VM's own memory file", {
      hint: `copy ${spec.restore.memoryFile} to ${spec.memoryFile} first`,
    });
  }
  const fd = fds.add({ kind: "file", path: spec.memoryFile, flags: "r+" });
  const size = `${spec.memoryMib}M`;
  return [
    "-object",
    `memory-backend-file,id=${MEMORY_ID},size=${size},mem-path=/proc/self/fd/${fd},share=on`,
  ];
}

/** Allocates child fds (from 3 up) and fdset ids (from 1 up). */
class FdAlloc {
  readonly fds: FdSource[] = [];
  private nextSet = 1;
  add(src: FdSource): number {
    this.fds.push(src);
    return this.fds.length + 2;
  }
  /** An fdset holding `sources`; returns the -add-fd args and the set id. */
  fdset(sources: FdSource[]): { args: string[]; set: number } {
    const set = this.nextSet++;
    const args = sources.flatMap((s) => ["-add-fd", `fd=${this.add(s)},set=${set}`]);
    return { args, set };
  }
}

function driveArgs(d: DriveSpec, machine: QemuMachine, fds: FdAlloc): string[] {
  if (!DRIVE_ID.test(d.id)) {
    throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `drive id "${d.id}" is not valid for QEMU`, {
      hint: "drive ids start with a letter and hold letters, digits and _",
    });
  }
  // QEMU probes every drive read-only first, so a writable drive's set holds a read-write and a read-only fd.
  const open: FdSource[] = d.readOnly
    ? [{ kind: "file", path: d.path, flags: "r" }]
    : [
        { kind: "file", path: d.path, flags: "r+" },
        { kind: "file", path: d.path, flags: "r" },
      ];
  const { args, set } = fds.fdset(open);
  // Writable drives hold user data: writeback honours the guest's flushes, unsafe does not.
  const mode = d.readOnly ? "readonly=on,cache=unsafe" : "cache=writeback";
  // No image locks: QEMU 7.2 cannot re-take them on the fdset's fds when a VM runs on after its
  // state was saved (a fork's source). banger keeps one VMM per VM itself, and clones get copies.
  const dev = machine === "microvm" ? "virtio-blk-device" : "virtio-blk-pci";
  return [
    ...args,
    "-drive",
    `file=/dev/fdset/${set},file.locking=off,if=none,id=${d.id},format=raw,${mode}`,
    "-device",
    `${dev},drive=${d.id}`,
  ];
}

function netArgs(spec: BootSpec, machine: QemuMachine): string[] {
  if (!spec.net) return [];
  const dev = machine === "microvm" ? "virtio-net-device" : "virtio-net-pci";
  return [
    "-netdev",
    `tap,id=n0,ifname=${optValue(spec.net.tap)},script=no,downscript=no`,
    "-device",
    `${dev},netdev=n0,mac=${spec.net.mac}`,
  ];
}

function agentArgs(paths: QemuPaths, machine: QemuMachine, fds: FdAlloc): string[] {
  const fd = fds.add({ kind: "listen", path: paths.agentSocket });
  return [
    "-device",
    machine === "microvm" ? "virtio-serial-device" : "virtio-serial-pci",
    "-chardev",
    `socket,id=agent0,fd=${fd},server=on,wait=off`,
    "-device",
    `virtserialport,chardev=agent0,name=${AGENT_PORT_NAME}`,
  ];
}

/** The full QEMU argv (binary first) and its fds for this spec. Throws INVALID_ARGUMENT on a spec QEMU cannot take. */
export function buildQemuLaunch(spec: BootSpec, opts: QemuArgvOptions): QemuLaunch {
  const paths = qemuPaths(spec.vmDir);
  const fds = new FdAlloc();
  const qmpFd = fds.add({ kind: "listen", path: paths.qmpSocket });
  const vmmDirFd = fds.add({ kind: "dir", path: paths.vmmDir });
  const argv = [opts.qemuBin, "-name", `banger-${optValue(spec.name)}`, "-uuid", vmmUuid(paths.qmpSocket)];
  argv.push(...machineArgs(opts), "-smp", String(spec.vcpu), "-m", String(spec.memoryMib));
  argv.push("-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-S");
  // A VM generation ID (ACPI, so pc only): a restored or forked guest sees it change and reseeds its RNG.
  if (opts.machine === "pc") argv.push("-device", "vmgenid,guid=auto");
  argv.push("-sandbox", SANDBOX_OPTS, ...memoryArgs(spec, fds));
  let incomingFd: number | null = null;
  if (spec.restore) {
    incomingFd = fds.add({ kind: "file", path: spec.restore.stateFile, flags: "r" });
    argv.push("-incoming", "defer");
  }
  argv.push("-kernel", `/proc/self/fd/${fds.add({ kind: "file", path: spec.kernelPath, flags: "r" })}`);
  if (spec.initrdPath) {
    argv.push("-initrd", `/proc/self/fd/${fds.add({ kind: "file", path: spec.initrdPath, flags: "r" })}`);
  }
  argv.push("-append", kernelCmdline(spec, opts));
  const con = fds.fdset([{ kind: "console" }]);
  argv.push(...con.args, "-chardev", `file,id=con0,path=/dev/fdset/${con.set},append=on`);
  argv.push("-serial", "chardev:con0");
  for (const d of spec.drives) argv.push(...driveArgs(d, opts.machine, fds));
  argv.push(...netArgs(spec, opts.machine));
  argv.push(...agentArgs(paths, opts.machine, fds));
  argv.push("-chardev", `socket,id=qmp0,fd=${qmpFd},server=on,wait=off`, "-mon", "chardev=qmp0,mode=control");
  return { argv, fds: fds.fds, vmmDirFd, incomingFd };
}

/** Just the argv of buildQemuLaunch (for logs, `--dry-run` and tests). */
export function buildQemuArgv(spec: BootSpec, opts: QemuArgvOptions): string[] {
  return buildQemuLaunch(spec, opts).argv;
}
