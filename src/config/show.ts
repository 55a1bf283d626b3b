import { formatDuration, formatSize, MiB } from "./sizes.js";
import type { ResolvedConfig, Source, Sourced } from "./types.js";
import type { VmDefaults } from "./vmDefaults.js";

export interface ConfigShowRow {
  key: string;
  value: unknown;
  source: Source;
}

/** The user-facing form of a file_sync entry: mode as an octal string. */
export interface FileSyncShown {
  host: string;
  guest: string;
  mode: string | null;
}

function row<T>(key: string, s: Sourced<T>, show: (v: NonNullable<T>) => unknown = (v) => v): ConfigShowRow {
  return { key, value: s.value === null || s.value === undefined ? null : show(s.value), source: s.source };
}

function vmDefaultRows(cfg: ResolvedConfig, resolved: VmDefaults | undefined): ConfigShowRow[] {
  const d = cfg.vm_defaults;
  return [
    row("vm_defaults.vcpu", resolved?.vcpu ?? d.vcpu),
    row("vm_defaults.memory", resolved?.memoryMib ?? d.memory, (mib) => formatSize(mib * MiB)),
    row("vm_defaults.disk_size", resolved?.diskSizeBytes ?? d.disk_size, formatSize),
  ];
}

/**
 * Flatten the configuration for `banger config show`: one row per key, values in
 * the form a user writes them (sizes "2G", durations "5s", modes "0644"). Pass the
 * resolved VM defaults to show what a new VM gets (with `auto`/`builtin` sources)
 * instead of the bare `[vm_defaults]` values.
 */
export function configShowRows(cfg: ResolvedConfig, vmDefaults?: VmDefaults): ConfigShowRow[] {
  return [
    row("log_level", cfg.log_level),
    row("vmm", cfg.vmm),
    row("firecracker_bin", cfg.firecracker_bin),
    row("qemu_bin", cfg.qemu_bin),
    row("ssh_key_path", cfg.ssh_key_path),
    row("default_image_name", cfg.default_image_name),
    row("stats_poll_interval", cfg.stats_poll_interval, formatDuration),
    row("image_catalog_url", cfg.image_catalog_url),
    row("kernel_catalog_url", cfg.kernel_catalog_url),
    row("network.bridge", cfg.network.bridge),
    row("network.subnet", cfg.network.subnet),
    row("network.nat", cfg.network.nat),
    row("network.tap_pool_size", cfg.network.tap_pool_size),
    row("network.egress", cfg.network.egress),
    row("network.guest_dns_port", cfg.network.guest_dns_port),
    row("network.upstream_dns", cfg.network.upstream_dns),
    row("dns.listen", cfg.dns.listen),
    ...vmDefaultRows(cfg, vmDefaults),
    row("logs.max_size", cfg.logs.max_size, formatSize),
    row("logs.keep", cfg.logs.keep),
    row("pool.size", cfg.pool.size),
    row("auto_suspend_after", cfg.auto_suspend_after, (v) => (v === null ? "off" : formatDuration(v))),
    row("file_sync", cfg.file_sync, (entries) =>
      entries.map(
        (e): FileSyncShown => ({
          host: e.host,
          guest: e.guest,
          mode: e.mode === null ? null : e.mode.toString(8).padStart(4, "0"),
        }),
      ),
    ),
  ];
}
