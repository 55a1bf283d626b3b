import os from "node:os";
import { GiB, MiB } from "./sizes.js";
import type { ResolvedConfig, Sourced } from "./types.js";

/** What the host has; a zero means unknown. */
export interface HostResources {
  cpus: number;
  totalMemBytes: number;
}

export interface VmDefaults {
  vcpu: Sourced<number>;
  memoryMib: Sourced<number>;
  diskSizeBytes: Sourced<number>;
}

/** Used when neither config nor the host figures decide. */
export const BUILTIN_VM_DEFAULTS = { vcpu: 2, memoryMib: 2048, diskSizeBytes: 8 * GiB } as const;

/** Bounds of the host heuristics. */
export const AUTO_VM_LIMITS = { maxVcpu: 4, minMemoryMib: 512, maxMemoryMib: (8 * GiB) / MiB } as const;

/** The real host: os.cpus() and os.totalmem(). */
export function hostResources(osLike: Pick<typeof os, "cpus" | "totalmem"> = os): HostResources {
  return { cpus: osLike.cpus().length, totalMemBytes: osLike.totalmem() };
}

function autoVcpu(cpus: number): number | null {
  if (!Number.isFinite(cpus) || cpus <= 0) return null;
  return Math.max(1, Math.min(AUTO_VM_LIMITS.maxVcpu, Math.floor(cpus / 4)));
}

function autoMemoryMib(totalMemBytes: number): number | null {
  if (!Number.isFinite(totalMemBytes) || totalMemBytes <= 0) return null;
  const eighth = Math.floor(totalMemBytes / 8 / MiB);
  return Math.max(AUTO_VM_LIMITS.minMemoryMib, Math.min(AUTO_VM_LIMITS.maxMemoryMib, eighth));
}

function pick(configured: number | null, auto: number | null, builtin: number): Sourced<number> {
  if (configured !== null) return { value: configured, source: "config" };
  if (auto !== null) return { value: auto, source: "auto" };
  return { value: builtin, source: "builtin" };
}

/**
 * The size of a new VM when its flags do not say: `[vm_defaults]` when set, else a
 * share of the host (vcpu = cpus/4 capped at 4; memory = RAM/8 capped at 8 GiB, at
 * least 512 MiB), else built-in constants. Disk size has no heuristic.
 */
export function resolveVmDefaults(cfg: ResolvedConfig, host: HostResources): VmDefaults {
  const d = cfg.vm_defaults;
  return {
    vcpu: pick(d.vcpu.value, autoVcpu(host.cpus), BUILTIN_VM_DEFAULTS.vcpu),
    memoryMib: pick(d.memory.value, autoMemoryMib(host.totalMemBytes), BUILTIN_VM_DEFAULTS.memoryMib),
    diskSizeBytes: pick(d.disk_size.value, null, BUILTIN_VM_DEFAULTS.diskSizeBytes),
  };
}
