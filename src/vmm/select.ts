import type { VmmChoice } from "../config/types.js";
import type { Acceleration, DriverName } from "./driver.js";

export interface VmmFacts {
  /** /dev/kvm exists and is readable and writable by this user. */
  kvmUsable: boolean;
  /** Resolved firecracker binary, or null when not found. */
  firecrackerPath: string | null;
  /** Resolved qemu-system-x86_64 binary, or null when not found. */
  qemuPath: string | null;
}

export type VmmSelection =
  | { ok: true; driver: DriverName; acceleration: Acceleration; binary: string; reason: string }
  | { ok: false; reason: string; fix: string };

const QEMU_FIX = "sudo apt-get install qemu-system-x86 (or set qemu_bin in config.toml)";

/**
 * Pick the VMM for `vmm = auto|firecracker|qemu`. Pure: the caller gathers the facts.
 * auto: Firecracker when /dev/kvm is usable and a firecracker binary is found,
 * else QEMU (KVM acceleration when /dev/kvm is usable, TCG otherwise).
 */
export function selectVmm(choice: VmmChoice, f: VmmFacts): VmmSelection {
  const accel: Acceleration = f.kvmUsable ? "kvm" : "tcg";
  const qemu = (reason: string): VmmSelection =>
    f.qemuPath
      ? { ok: true, driver: "qemu", acceleration: accel, binary: f.qemuPath, reason }
      : { ok: false, reason: `${reason}, but qemu-system-x86_64 was not found`, fix: QEMU_FIX };
  if (choice === "firecracker") {
    if (!f.kvmUsable) {
      return {
        ok: false,
        reason: "vmm = firecracker, but /dev/kvm is not usable (Firecracker needs KVM)",
        fix: 'enable KVM (or nested virtualization) and add yourself to the kvm group, or set vmm = "qemu"',
      };
    }
    if (!f.firecrackerPath) {
      return {
        ok: false,
        reason: "vmm = firecracker, but no firecracker binary was found",
        fix: 'install firecracker and put it on PATH or set firecracker_bin, or set vmm = "auto"',
      };
    }
    return {
      ok: true,
      driver: "firecracker",
      acceleration: "kvm",
      binary: f.firecrackerPath,
      reason: "vmm = firecracker",
    };
  }
  if (choice === "qemu") {
    return qemu(
      `vmm = qemu (${accel === "kvm" ? "KVM acceleration" : "TCG software emulation: /dev/kvm is not usable"})`,
    );
  }
  if (f.kvmUsable && f.firecrackerPath) {
    return {
      ok: true,
      driver: "firecracker",
      acceleration: "kvm",
      binary: f.firecrackerPath,
      reason: "vmm = auto: /dev/kvm is usable and firecracker was found",
    };
  }
  const why = f.kvmUsable
    ? "vmm = auto: firecracker not found, QEMU with KVM"
    : "vmm = auto: /dev/kvm is not usable, QEMU with TCG software emulation (slow)";
  return qemu(why);
}
