/**
 * The QEMU command line as data: BootSpec + options -> argv. Pure: no file
 * system, no clock, no environment.
 */
import path from "node:path";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { Acceleration, BootSpec, DriveSpec } from "../driver.js";

export type QemuMachine = "pc" | "microvm";

/** Where a VM's QEMU keeps its sockets and pid file, all inside the VM directory. */
export interface QemuPaths {
  qmpSocket: string;
  agentSocket: string;
  pidFile: string;
}

export interface QemuArgvOptions {
  qemuBin: string;
  machine: QemuMachine;
  acceleration: Acceleration;
  /** Host CPU MHz; required for microvm (the guest cannot calibrate its TSC there). */
  hostMhz?: number | null;
}

/** The virtio-serial port name the guest agent opens (/dev/virtio-ports/banger.agent). */
export const AGENT_PORT_NAME = "banger.agent";

export function qemuPaths(vmDir: string): QemuPaths {
  return {
    qmpSocket: path.join(vmDir, "qmp.sock"),
    agentSocket: path.join(vmDir, "agent.sock"),
    pidFile: path.join(vmDir, "qemu.pid"),
  };
}

/** Escape a value inside a QEMU `key=value,...` option string (`,` is written `,,`). */
export function optValue(v: string): string {
  return v.replaceAll(",", ",,");
}

/** The string QEMU's own command line carries for this QMP socket (used to recognise the process). */
export function qmpMarker(qmpSocket: string): string {
  return `unix:${optValue(qmpSocket)},`;
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
  const accel = `accel=${opts.acceleration}`;
  const machine = opts.machine === "microvm" ? `microvm,pit=on,pic=on,rtc=on,${accel}` : `pc,${accel}`;
  return ["-machine", machine, "-cpu", opts.acceleration === "kvm" ? "host" : "max"];
}

const DRIVE_ID = /^[A-Za-z][A-Za-z0-9_]*$/;

function driveArgs(d: DriveSpec, machine: QemuMachine): string[] {
  if (!DRIVE_ID.test(d.id)) {
    throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `drive id "${d.id}" is not valid for QEMU`, {
      hint: "drive ids start with a letter and hold letters, digits and _",
    });
  }
  // Writable drives hold user data: writeback honours the guest's flushes, unsafe does not.
  const mode = d.readOnly ? "readonly=on,cache=unsafe" : "cache=writeback";
  const dev = machine === "microvm" ? "virtio-blk-device" : "virtio-blk-pci";
  return [
    "-drive",
    `file=${optValue(d.path)},if=none,id=${d.id},format=raw,${mode}`,
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

function agentArgs(paths: QemuPaths, machine: QemuMachine): string[] {
  return [
    "-device",
    machine === "microvm" ? "virtio-serial-device" : "virtio-serial-pci",
    "-chardev",
    `socket,path=${optValue(paths.agentSocket)},server=on,wait=off,id=agent0`,
    "-device",
    `virtserialport,chardev=agent0,name=${AGENT_PORT_NAME}`,
  ];
}

/** The full QEMU argv (binary first) for this spec. Throws INVALID_ARGUMENT on a spec QEMU cannot take. */
export function buildQemuArgv(spec: BootSpec, opts: QemuArgvOptions): string[] {
  const paths = qemuPaths(spec.vmDir);
  const argv = [opts.qemuBin, "-name", `banger-${optValue(spec.name)}`, ...machineArgs(opts)];
  argv.push("-smp", String(spec.vcpu), "-m", String(spec.memoryMib));
  argv.push("-nodefaults", "-no-user-config", "-display", "none", "-no-reboot");
  argv.push("-kernel", spec.kernelPath);
  if (spec.initrdPath) argv.push("-initrd", spec.initrdPath);
  argv.push("-append", kernelCmdline(spec, opts));
  argv.push(
    "-chardev",
    `file,id=con0,path=${optValue(spec.consoleLog)},append=on`,
    "-serial",
    "chardev:con0",
  );
  for (const d of spec.drives) argv.push(...driveArgs(d, opts.machine));
  argv.push(...netArgs(spec, opts.machine));
  argv.push(...agentArgs(paths, opts.machine));
  argv.push("-qmp", `unix:${optValue(paths.qmpSocket)},server=on,wait=off`);
  argv.push("-pidfile", paths.pidFile, "-D", spec.vmmLog, "-daemonize");
  return argv;
}
