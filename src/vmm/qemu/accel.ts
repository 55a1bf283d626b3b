/**
 * Host questions the QEMU driver asks: can it use KVM, how fast is the TSC,
 * where is the QEMU binary. Each takes its ambient input as a parameter with
 * a real default, so tests need no /dev/kvm and no /proc.
 */
import { accessSync, constants, readFileSync } from "node:fs";
import path from "node:path";
import { hasHardwareVirt } from "../../host/kvm.js";
import type { Acceleration } from "../driver.js";

const readCpuinfo = () => readFileSync("/proc/cpuinfo", "utf8");

export { hasHardwareVirt };

/**
 * True when KVM can run an ordinary guest kernel: /dev/kvm is readable and
 * writable by this process AND the CPU exposes vmx/svm. Some nested hosts
 * offer a /dev/kvm without them (PVM, which only runs specially built guest
 * kernels): a stock kernel hangs there without a line of console output.
 */
export function kvmUsable(device = "/dev/kvm", cpuinfo: () => string = readCpuinfo): boolean {
  try {
    accessSync(device, constants.R_OK | constants.W_OK);
    return hasHardwareVirt(cpuinfo());
  } catch {
    return false;
  }
}

/** "kvm" when the check says /dev/kvm is usable, else "tcg" (software emulation). */
export function detectAcceleration(check: () => boolean = () => kvmUsable()): Acceleration {
  return check() ? "kvm" : "tcg";
}

/** The first `cpu MHz` value of a /proc/cpuinfo text, or null when there is none. */
export function parseCpuMhz(cpuinfo: string): number | null {
  const m = /^cpu MHz\s*:\s*([0-9]+(?:\.[0-9]+)?)\s*$/m.exec(cpuinfo);
  if (!m?.[1]) return null;
  const mhz = Number(m[1]);
  return Number.isFinite(mhz) && mhz > 0 ? mhz : null;
}

/** The host CPU clock in MHz from /proc/cpuinfo, or null when it cannot be read. */
export function readHostMhz(read: () => string = readCpuinfo): number | null {
  try {
    return parseCpuMhz(read());
  } catch {
    return null;
  }
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Absolute path of an executable: `bin` itself when it contains a `/`, else
 * the first match on PATH (then /usr/sbin, /sbin). Null when not found.
 */
export async function findExecutable(
  bin: string,
  envPath: string | undefined = process.env.PATH,
  executable: (p: string) => boolean = isExecutable,
): Promise<string | null> {
  if (bin.includes("/")) return executable(bin) ? path.resolve(bin) : null;
  const dirs = [...(envPath ?? "/usr/local/bin:/usr/bin:/bin").split(":"), "/usr/sbin", "/sbin"];
  for (const dir of dirs) {
    if (!dir) continue;
    const p = path.join(dir, bin);
    if (executable(p)) return p;
  }
  return null;
}
