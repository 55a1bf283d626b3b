/**
 * Test-only fault injection: `BANGER_FAULT=phase:step:before|after` makes the
 * daemon SIGKILL itself at that point of a VM operation, so tests can prove
 * each VM ends whole or wholly gone. Inert unless armed at daemon start.
 */
import { BangerError, ErrorCodes } from "../errors/index.js";

export type FaultWhen = "before" | "after";

/** Every named step, by phase (the order they run in). "boot" is the QEMU driver's; "boot-fc" Firecracker's. */
export const FAULT_STEPS: Readonly<Record<string, readonly string[]>> = {
  create: ["record", "lease", "disks", "ssh-key", "file-sync", "host-key"],
  start: ["ssh-key", "network", "firewall", "cgroup", "boot"],
  boot: ["preflight", "spawn", "qmp-connect"],
  "boot-fc": [
    "spawn",
    "wait-api",
    "logger",
    "metrics",
    "machine-config",
    "boot-source",
    "drives",
    "network",
    "vsock",
    "start",
  ],
  stop: ["vmm", "cgroup", "network", "record"],
  delete: ["vmm", "network", "record", "disks", "dir"],
  suspend: ["sync", "pause", "save", "vmm", "release", "record"],
  fork: ["save", "disks", "copy", "identity"],
};

/** Every kill point, "phase:step:before|after" (optionally of some phases only). */
export function faultPoints(phases: readonly string[] = Object.keys(FAULT_STEPS)): string[] {
  return phases.flatMap((p) =>
    (FAULT_STEPS[p] ?? []).flatMap((s) => [`${p}:${s}:before`, `${p}:${s}:after`]),
  );
}

let armed: string | null = null;

/** Arm the kill point named by `spec` (the daemon's BANGER_FAULT); undefined or "" disarms. */
export function armFault(spec: string | undefined): void {
  if (!spec) {
    armed = null;
    return;
  }
  if (!faultPoints().includes(spec)) {
    throw new BangerError(ErrorCodes.CONFIG_INVALID, `BANGER_FAULT="${spec}" names no kill point`, {
      hint: `use phase:step:before|after, one of: ${faultPoints().join(", ")}`,
    });
  }
  armed = spec;
}

/** The armed point, or null. */
export function armedFault(): string | null {
  return armed;
}

/** SIGKILL this process when `phase:step:when` is the armed point. */
export function faultPoint(phase: string, step: string, when: FaultWhen): void {
  if (armed === null || armed !== `${phase}:${step}:${when}`) return;
  process.stderr.write(`bangerd: BANGER_FAULT ${armed}: killing myself\n`);
  process.kill(process.pid, "SIGKILL");
}

/** Run `fn` as the named step of `phase`, with its kill points before and after. */
export async function faultStep<T>(phase: string, step: string, fn: () => Promise<T> | T): Promise<T> {
  faultPoint(phase, step, "before");
  const r = await fn();
  faultPoint(phase, step, "after");
  return r;
}
