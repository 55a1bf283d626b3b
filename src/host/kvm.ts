import { constants } from "node:fs";
import type { HostProbe } from "./probe.js";

/** True when the CPU flags of a /proc/cpuinfo text include hardware virtualization (vmx or svm). */
export function hasHardwareVirt(cpuinfo: string): boolean {
  const flags = new Set((/^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? "").trim().split(/\s+/));
  return flags.has("vmx") || flags.has("svm");
}

export interface KvmStatus {
  usable: boolean;
  detail: string;
  fix?: string;
}

/**
 * Whether /dev/kvm can run an ordinary guest kernel: the device must be
 * readable and writable, and the CPU must expose hardware virtualization
 * (vmx or svm). Some nested hosts offer a /dev/kvm without it (for example
 * PVM, which only runs specially built guest kernels): that is not usable.
 */
export async function kvmStatus(probe: HostProbe): Promise<KvmStatus> {
  if (!(await probe.exists("/dev/kvm"))) {
    return {
      usable: false,
      detail: "absent",
      fix: "enable virtualization in the BIOS, or nested virtualization for this VM; then `sudo modprobe kvm_intel` (or kvm_amd)",
    };
  }
  if (!(await probe.access("/dev/kvm", constants.R_OK | constants.W_OK))) {
    return {
      usable: false,
      detail: "present but not readable and writable by you",
      fix: "sudo usermod -aG kvm $USER, then log in again",
    };
  }
  if (!hasHardwareVirt((await probe.readText("/proc/cpuinfo")) ?? "")) {
    return {
      usable: false,
      detail:
        "present, but the CPU exposes no hardware virtualization (no vmx/svm flag): ordinary guest kernels cannot use it",
      fix: "enable nested virtualization (vmx/svm) for this machine",
    };
  }
  return { usable: true, detail: "readable and writable, hardware virtualization present" };
}
