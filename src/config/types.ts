/** Where a resolved value came from. */
export type Source = "default" | "config" | "env" | "auto" | "builtin";

export interface Sourced<T> {
  value: T;
  source: Source;
}

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";
export const LOG_LEVELS: readonly LogLevel[] = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

export type VmmChoice = "auto" | "firecracker" | "qemu";
export const VMM_CHOICES: readonly VmmChoice[] = ["auto", "firecracker", "qemu"];

/** One `[[file_sync]]` entry after validation: host path absolute, guest path absolute under /root. */
export interface FileSyncEntry {
  /** Absolute host path (`~/` expanded against HOME). */
  host: string;
  /** Absolute guest path under /root (`~/` means /root/). */
  guest: string;
  /** File mode for files (directories keep each file's own mode); null = default 0600. */
  mode: number | null;
}

/** The resolved configuration: every value with its source. */
export interface ResolvedConfig {
  /** The config file that was read, or null when none exists. */
  file: string | null;
  log_level: Sourced<LogLevel>;
  vmm: Sourced<VmmChoice>;
  /** Absolute path, or null to search PATH. */
  firecracker_bin: Sourced<string | null>;
  qemu_bin: Sourced<string | null>;
  /** Absolute path of the private key, or null for the managed StateDir/ssh/id_ed25519. */
  ssh_key_path: Sourced<string | null>;
  default_image_name: Sourced<string>;
  /** Milliseconds. */
  stats_poll_interval: Sourced<number>;
  image_catalog_url: Sourced<string | null>;
  kernel_catalog_url: Sourced<string | null>;
  network: {
    bridge: Sourced<string>;
    /** CIDR, for example 172.30.0.0/24. */
    subnet: Sourced<string>;
    nat: Sourced<boolean>;
    tap_pool_size: Sourced<number>;
    /** Default egress policy text (none | public | allow=...); null: public with nat, none without. */
    egress: Sourced<string | null>;
    /** The daemon's resolver port on the gateway (guests' port 53 is redirected there). */
    guest_dns_port: Sourced<number>;
    /** "IP" or "IP:port" upstream resolvers; empty: the host's /etc/resolv.conf nameservers. */
    upstream_dns: Sourced<string[]>;
  };
  dns: {
    /** host:port */
    listen: Sourced<string>;
  };
  vm_defaults: {
    /** null when not set in config: the VM defaults resolver decides. */
    vcpu: Sourced<number | null>;
    /** MiB */
    memory: Sourced<number | null>;
    /** Bytes */
    disk_size: Sourced<number | null>;
  };
  file_sync: Sourced<FileSyncEntry[]>;
  /** Idle time after which a VM suspends itself (ms); null: never (a VM may set its own). */
  auto_suspend_after: Sourced<number | null>;
  pool: {
    /** Ready VMs of the default image and spec the daemon keeps, so `vm run`/`vm create` claim one instead of booting. */
    size: Sourced<number>;
  };
  logs: {
    /** Bytes: no log file (console, VMM, daemon) grows past this; it is rotated (renamed to .1) first. */
    max_size: Sourced<number>;
    /** Rotated files kept per log (NAME.1 .. NAME.keep): a log holds at most max_size * (keep + 1) bytes. */
    keep: Sourced<number>;
  };
  firecracker: {
    /** uids/gids given to jailed Firecracker processes, one per VM (used when a jailer sits beside firecracker). */
    jailer_uid_range: Sourced<{ first: number; last: number }>;
  };
}

/** One problem found while validating config.toml. */
export interface ConfigProblem {
  /** Field path, for example `file_sync[1].guest` or `network.subnet`. */
  path: string;
  message: string;
}
