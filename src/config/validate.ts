import { defaultNetwork } from "../host/net.js";
import {
  type Check,
  checkAbsPath,
  checkBool,
  checkBridge,
  checkDiskSize,
  checkEgress,
  checkFileMode,
  checkGuestPath,
  checkHostPath,
  checkIdleTimeout,
  checkImageName,
  checkIntRange,
  checkListen,
  checkLogSize,
  checkMemory,
  checkOneOf,
  checkPollInterval,
  checkSubnet,
  checkUidRange,
  checkUpstreamDns,
  checkUrl,
  describeValue,
  isTable,
  type RawTable,
} from "./checks.js";
import type { Env } from "./paths.js";
import { didYouMean } from "./suggest.js";
import {
  type ConfigProblem,
  type FileSyncEntry,
  LOG_LEVELS,
  type LogLevel,
  type ResolvedConfig,
  type Sourced,
  VMM_CHOICES,
  type VmmChoice,
} from "./types.js";

interface Ctx {
  env: Env;
  problems: ConfigProblem[];
}

function add(ctx: Ctx, p: string, message: string): void {
  ctx.problems.push({ path: p, message });
}

export interface ValidationResult {
  /** The resolved configuration, or null when there is any problem. */
  config: ResolvedConfig | null;
  problems: ConfigProblem[];
}

/** Built-in defaults of every key that has one. */
export const CONFIG_DEFAULTS = {
  log_level: "info" as LogLevel,
  vmm: "auto" as VmmChoice,
  default_image_name: "debian-bookworm",
  stats_poll_interval_ms: 5000,
  /** bridge and subnet default per user: see defaultNetwork (bgr<uid>, 172.30.<uid % 256>.0/24). */
  network: { nat: false, tap_pool_size: 2, guest_dns_port: 42053 },
  dns: { listen: "127.0.0.1:42069" },
  firecracker: { jailer_uid_range: { first: 900000, last: 965535 } },
  logs: { max_size: 4 * 1024 * 1024, keep: 2 },
  pool: { size: 0 },
} as const;

/** Every known key, by table ("" is the top level). */
export const CONFIG_KEYS: Readonly<Record<string, readonly string[]>> = {
  "": [
    "log_level",
    "vmm",
    "firecracker_bin",
    "qemu_bin",
    "ssh_key_path",
    "default_image_name",
    "stats_poll_interval",
    "image_catalog_url",
    "kernel_catalog_url",
    "network",
    "dns",
    "vm_defaults",
    "file_sync",
    "logs",
    "pool",
    "auto_suspend_after",
    "firecracker",
  ],
  network: ["bridge", "subnet", "nat", "tap_pool_size", "egress", "guest_dns_port", "upstream_dns"],
  dns: ["listen"],
  vm_defaults: ["vcpu", "memory", "disk_size"],
  file_sync: ["host", "guest", "mode"],
  logs: ["max_size", "keep"],
  pool: ["size"],
  firecracker: ["jailer_uid_range"],
};

/** Report every key of `table` not in `known`, with the nearest known key or the table it belongs in. */
function checkKeys(
  table: RawTable,
  tableName: string,
  known: readonly string[],
  ctx: Ctx,
  at = tableName,
): void {
  for (const key of Object.keys(table)) {
    if (known.includes(key)) continue;
    let hint = didYouMean(key, known);
    if (hint === "") {
      const home = Object.entries(CONFIG_KEYS).find(([t, keys]) => t !== tableName && keys.includes(key));
      if (home !== undefined) {
        hint = home[0] === "" ? " (it belongs at the top level)" : ` (it belongs in the [${home[0]}] table)`;
      }
    }
    add(ctx, at === "" ? key : `${at}.${key}`, `unknown key "${key}"${hint}`);
  }
}

/** A sub-table of the root: {} when absent, a problem when not a table. */
function subTable(root: RawTable, name: string, ctx: Ctx): RawTable {
  const v = root[name];
  if (v === undefined) return {};
  if (!isTable(v)) {
    add(ctx, name, `expected a table ([${name}]), got ${describeValue(v)}`);
    return {};
  }
  checkKeys(v, name, CONFIG_KEYS[name] ?? [], ctx);
  return v;
}

function field<T>(table: RawTable, key: string, at: string, def: T, check: Check<T>, ctx: Ctx): Sourced<T> {
  const v = table[key];
  if (v === undefined) return { value: def, source: "default" };
  const r = check(v);
  if (r.ok) return { value: r.value, source: "config" };
  add(ctx, at === "" ? key : `${at}.${key}`, r.message);
  return { value: def, source: "default" };
}

/** An environment variable overrides `base` when set and non-empty. */
function envOverride<T>(base: Sourced<T>, name: string, check: Check<T>, ctx: Ctx): Sourced<T> {
  const v = ctx.env[name];
  if (v === undefined || v === "") return base;
  const r = check(v);
  if (r.ok) return { value: r.value, source: "env" };
  add(ctx, `${name} (env)`, r.message);
  return base;
}

function rootTable(raw: unknown, ctx: Ctx): RawTable {
  if (raw === undefined || raw === null) return {};
  if (isTable(raw)) return raw;
  add(ctx, "(root)", `expected a table of settings, got ${describeValue(raw)}`);
  return {};
}

/**
 * Validate a parsed config.toml (`raw`, or null for no file) plus the BANGER_*
 * environment overrides. Pure: reports every problem at once, with its field path.
 * The returned config has `file: null`; the loader fills it in.
 */
export function validateConfig(raw: unknown, env: Env): ValidationResult {
  const ctx: Ctx = { env, problems: [] };
  const root = rootTable(raw, ctx);
  checkKeys(root, "", CONFIG_KEYS[""] ?? [], ctx);
  const d = CONFIG_DEFAULTS;
  const logLevel = checkOneOf(LOG_LEVELS);
  const vmm = checkOneOf(VMM_CHOICES);
  const abs = checkAbsPath(env);
  const config: ResolvedConfig = {
    file: null,
    log_level: envOverride(
      field(root, "log_level", "", d.log_level, logLevel, ctx),
      "BANGER_LOG_LEVEL",
      logLevel,
      ctx,
    ),
    vmm: envOverride(field(root, "vmm", "", d.vmm, vmm, ctx), "BANGER_VMM", vmm, ctx),
    firecracker_bin: field<string | null>(root, "firecracker_bin", "", null, abs, ctx),
    qemu_bin: field<string | null>(root, "qemu_bin", "", null, abs, ctx),
    ssh_key_path: field<string | null>(root, "ssh_key_path", "", null, abs, ctx),
    default_image_name: field(root, "default_image_name", "", d.default_image_name, checkImageName, ctx),
    stats_poll_interval: field(
      root,
      "stats_poll_interval",
      "",
      d.stats_poll_interval_ms,
      checkPollInterval,
      ctx,
    ),
    image_catalog_url: field<string | null>(root, "image_catalog_url", "", null, checkUrl, ctx),
    kernel_catalog_url: field<string | null>(root, "kernel_catalog_url", "", null, checkUrl, ctx),
    network: validateNetwork(subTable(root, "network", ctx), ctx),
    dns: { listen: field(subTable(root, "dns", ctx), "listen", "dns", d.dns.listen, checkListen, ctx) },
    vm_defaults: validateVmDefaults(subTable(root, "vm_defaults", ctx), ctx),
    file_sync: validateFileSync(root.file_sync, ctx),
    logs: validateLogs(subTable(root, "logs", ctx), ctx),
    auto_suspend_after: field<number | null>(root, "auto_suspend_after", "", null, checkIdleTimeout, ctx),
    pool: {
      size: field(subTable(root, "pool", ctx), "size", "pool", d.pool.size, checkIntRange(0, 16), ctx),
    },
    firecracker: {
      jailer_uid_range: field(
        subTable(root, "firecracker", ctx),
        "jailer_uid_range",
        "firecracker",
        { ...d.firecracker.jailer_uid_range },
        checkUidRange,
        ctx,
      ),
    },
  };
  return ctx.problems.length > 0 ? { config: null, problems: ctx.problems } : { config, problems: [] };
}

function validateNetwork(t: RawTable, ctx: Ctx): ResolvedConfig["network"] {
  const d = { ...CONFIG_DEFAULTS.network, ...defaultNetwork(process.getuid?.() ?? 0) };
  return {
    bridge: field(t, "bridge", "network", d.bridge, checkBridge, ctx),
    subnet: field(t, "subnet", "network", d.subnet, checkSubnet, ctx),
    nat: field(t, "nat", "network", d.nat, checkBool, ctx),
    tap_pool_size: field(t, "tap_pool_size", "network", d.tap_pool_size, checkIntRange(0, 64), ctx),
    egress: field<string | null>(t, "egress", "network", null, checkEgress, ctx),
    guest_dns_port: field(t, "guest_dns_port", "network", d.guest_dns_port, checkIntRange(1024, 65535), ctx),
    upstream_dns: field<string[]>(t, "upstream_dns", "network", [], checkUpstreamDns, ctx),
  };
}

function validateLogs(t: RawTable, ctx: Ctx): ResolvedConfig["logs"] {
  const d = CONFIG_DEFAULTS.logs;
  return {
    max_size: field(t, "max_size", "logs", d.max_size, checkLogSize, ctx),
    keep: field(t, "keep", "logs", d.keep, checkIntRange(1, 20), ctx),
  };
}

function validateVmDefaults(t: RawTable, ctx: Ctx): ResolvedConfig["vm_defaults"] {
  return {
    vcpu: field<number | null>(t, "vcpu", "vm_defaults", null, checkIntRange(1, 64), ctx),
    memory: field<number | null>(t, "memory", "vm_defaults", null, checkMemory, ctx),
    disk_size: field<number | null>(t, "disk_size", "vm_defaults", null, checkDiskSize, ctx),
  };
}

function validateFileSync(v: unknown, ctx: Ctx): Sourced<FileSyncEntry[]> {
  if (v === undefined) return { value: [], source: "default" };
  if (!Array.isArray(v)) {
    add(ctx, "file_sync", `expected [[file_sync]] entries (an array of tables), got ${describeValue(v)}`);
    return { value: [], source: "default" };
  }
  const out: FileSyncEntry[] = [];
  const guests = new Map<string, number>();
  v.forEach((entry: unknown, i) => {
    const e = validateFileSyncEntry(entry, `file_sync[${i}]`, ctx);
    if (e === null) return;
    const first = guests.get(e.guest);
    if (first !== undefined)
      add(ctx, `file_sync[${i}].guest`, `"${e.guest}" is already the guest of file_sync[${first}]`);
    else guests.set(e.guest, i);
    out.push(e);
  });
  return { value: out, source: "config" };
}

function validateFileSyncEntry(entry: unknown, at: string, ctx: Ctx): FileSyncEntry | null {
  if (!isTable(entry)) {
    add(ctx, at, `expected a table with host and guest, got ${describeValue(entry)}`);
    return null;
  }
  checkKeys(entry, "file_sync", CONFIG_KEYS.file_sync ?? [], ctx, at);
  const before = ctx.problems.length;
  for (const key of ["host", "guest"]) {
    if (entry[key] === undefined)
      add(ctx, `${at}.${key}`, `missing: every [[file_sync]] entry needs host and guest`);
  }
  const host = field<string | null>(entry, "host", at, null, checkHostPath(ctx.env), ctx).value;
  const guest = field<string | null>(entry, "guest", at, null, checkGuestPath, ctx).value;
  const mode = field(entry, "mode", at, null, checkFileMode, ctx).value;
  if (ctx.problems.length > before || host === null || guest === null) return null;
  return { host, guest, mode };
}
