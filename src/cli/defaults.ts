import type { VmCreateParams } from "../api/vms.js";
import type { Sourced } from "../config/types.js";
import type { CliContext } from "./context.js";

const MiB = 1024 * 1024;

export interface DefaultsView {
  vcpu: Sourced<number>;
  memoryMib: Sourced<number>;
  diskSizeBytes: Sourced<number>;
  image: Sourced<string>;
}

/** The VM defaults as the daemon resolves them (same config, same host), for help texts and the spec line. */
export async function loadDefaults(c: Pick<CliContext, "paths" | "env">): Promise<DefaultsView> {
  const { loadConfig, resolveVmDefaults, hostResources } = await import("../config/index.js");
  const config = await loadConfig(c.paths, c.env);
  const d = resolveVmDefaults(config, hostResources());
  return {
    vcpu: d.vcpu,
    memoryMib: d.memoryMib,
    diskSizeBytes: d.diskSizeBytes,
    image: config.default_image_name,
  };
}

export function formatDiskSize(bytes: number): string {
  const g = bytes / 1024 ** 3;
  return Number.isInteger(g) ? `${g}G` : `${Math.round(bytes / MiB)}M`;
}

export interface SpecFlags {
  name?: string;
  image?: string;
  vcpu?: number;
  memory?: number;
  diskSize?: number;
  egress?: string;
  peer?: string[];
  /** ms; 0: never. */
  autoSuspendAfter?: number;
}

/** Flags over defaults: explicit values for the daemon, and the `spec:` line that matches the VM created. */
export async function resolveSpec(
  c: CliContext,
  o: SpecFlags,
): Promise<{ params: VmCreateParams; line: string }> {
  if (c.remote()) return remoteSpec(c, o);
  const d = await loadDefaults(c);
  const vcpu = o.vcpu ?? d.vcpu.value;
  const memoryMib = o.memory !== undefined ? o.memory / MiB : d.memoryMib.value;
  const diskSizeBytes = o.diskSize ?? d.diskSizeBytes.value;
  return {
    params: {
      ...(o.name !== undefined ? { name: o.name } : {}),
      image: o.image ?? d.image.value,
      vcpu,
      memoryMib,
      diskSizeBytes,
      ...(o.egress !== undefined ? { egress: o.egress } : {}),
      ...(o.peer?.length ? { peers: o.peer } : {}),
      ...(o.autoSuspendAfter !== undefined ? { autoSuspendAfterMs: o.autoSuspendAfter } : {}),
    },
    line: `${vcpu} vcpu · ${memoryMib} MiB · ${formatDiskSize(diskSizeBytes)} disk · image ${o.image ?? d.image.value}`,
  };
}

/** With a remote daemon its host's config holds the defaults: send only the flags given. */
function remoteSpec(c: CliContext, o: SpecFlags): { params: VmCreateParams; line: string } {
  const params: VmCreateParams = {
    ...(o.name !== undefined ? { name: o.name } : {}),
    ...(o.image !== undefined ? { image: o.image } : {}),
    ...(o.vcpu !== undefined ? { vcpu: o.vcpu } : {}),
    ...(o.memory !== undefined ? { memoryMib: o.memory / MiB } : {}),
    ...(o.diskSize !== undefined ? { diskSizeBytes: o.diskSize } : {}),
    ...(o.autoSuspendAfter !== undefined ? { autoSuspendAfterMs: o.autoSuspendAfter } : {}),
  };
  const given = [
    o.vcpu !== undefined ? `${o.vcpu} vcpu` : "",
    o.memory !== undefined ? `${o.memory / MiB} MiB` : "",
    o.diskSize !== undefined ? `${formatDiskSize(o.diskSize)} disk` : "",
    o.image !== undefined ? `image ${o.image}` : "",
  ].filter(Boolean);
  return { params, line: `${[...given, `the rest from ${c.env.BANGER_HOST}'s defaults`].join(" · ")}` };
}
