/**
 * Numbered, forward-only schema migrations. Each runs in its own IMMEDIATE
 * transaction together with its row in schema_migrations, and is written to
 * be safe to run again (IF NOT EXISTS, *IfMissing helpers, guarded data steps).
 */

import { BangerError, ErrorCodes } from "../../errors/index.js";
import { smallestFreeCid } from "../errors.js";
import type { SqliteDb } from "./db.js";
import {
  addColumnIfMissing,
  createIndexIfMissing,
  dropColumnIfExists,
  hasColumn,
  hasTable,
} from "./schemaHelpers.js";

export interface Migration {
  version: number;
  name: string;
  up(db: SqliteDb): void;
}

function kernelsAndImages(db: SqliteDb): void {
  db.exec(`CREATE TABLE IF NOT EXISTS kernels (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    version TEXT NOT NULL,
    arch TEXT NOT NULL,
    vmlinux_path TEXT NOT NULL,
    initrd_path TEXT,
    modules_dir TEXT,
    source TEXT NOT NULL,
    created_at TEXT NOT NULL
  )`);
  db.exec(`CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    version TEXT NOT NULL,
    arch TEXT NOT NULL,
    kernel_id TEXT REFERENCES kernels(id) ON DELETE RESTRICT,
    kernel_path TEXT,
    initrd_path TEXT,
    rootfs_path TEXT NOT NULL,
    work_seed_path TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    source TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
  )`);
  createIndexIfMissing(db, "images_kernel_id", "images", ["kernel_id"]);
}

/** Version 2 kept only the total boot time (boot_ms); version 4 replaces it with per-step timings. */
function vms(db: SqliteDb): void {
  db.exec(`CREATE TABLE IF NOT EXISTS vms (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    vcpu INTEGER NOT NULL,
    memory_mib INTEGER NOT NULL,
    disk_size_bytes INTEGER NOT NULL,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE RESTRICT,
    driver TEXT,
    vmm_driver TEXT,
    vmm_pid INTEGER,
    vmm_control_socket TEXT,
    vmm_agent_socket TEXT,
    vmm_acceleration TEXT,
    net_ip TEXT,
    net_mac TEXT,
    net_tap TEXT,
    vm_dir TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    started_at TEXT,
    stopped_at TEXT,
    last_error TEXT,
    boot_ms INTEGER
  )`);
  createIndexIfMissing(db, "vms_image_id", "vms", ["image_id"]);
}

/**
 * Version 2 picked a VM's address by scanning vms.net_ip, which two concurrent
 * creates could both win. Leases make the choice atomic; existing addresses
 * become leases (the first VM keeps a doubly-used address). VMs get vsock CIDs.
 */
function leasesAndCids(db: SqliteDb): void {
  db.exec(`CREATE TABLE IF NOT EXISTS leases (
    ip TEXT NOT NULL UNIQUE,
    vm_id TEXT NOT NULL UNIQUE REFERENCES vms(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL
  )`);
  addColumnIfMissing(db, "vms", "cid", "INTEGER");
  const used = (db.prepare("SELECT cid FROM vms WHERE cid IS NOT NULL").pluck().all() as number[]).slice();
  const missing = db.prepare("SELECT id FROM vms WHERE cid IS NULL ORDER BY created_at, id").pluck().all();
  const setCid = db.prepare("UPDATE vms SET cid = ? WHERE id = ?");
  for (const id of missing) {
    const cid = smallestFreeCid(used);
    used.push(cid);
    setCid.run(cid, id);
  }
  createIndexIfMissing(db, "vms_cid", "vms", ["cid"], { unique: true });
  db.exec(`INSERT OR IGNORE INTO leases (ip, vm_id, created_at)
    SELECT net_ip, id, created_at FROM vms WHERE net_ip IS NOT NULL ORDER BY created_at, id`);
}

function exitAndBootTimings(db: SqliteDb): void {
  addColumnIfMissing(db, "vms", "exit_info", "TEXT");
  addColumnIfMissing(db, "vms", "boot_timings", "TEXT");
  if (hasColumn(db, "vms", "boot_ms")) {
    db.exec(`UPDATE vms SET boot_timings = json_array(json_object('name', 'boot', 'ms', boot_ms))
      WHERE boot_timings IS NULL AND boot_ms IS NOT NULL`);
    dropColumnIfExists(db, "vms", "boot_ms");
  }
}

function disksAndDriverReason(db: SqliteDb): void {
  addColumnIfMissing(db, "vms", "disks", "TEXT");
  addColumnIfMissing(db, "vms", "driver_reason", "TEXT");
}

/** What an image's rootfs provides (agent, sshd), as JSON; NULL until detected (rows before version 6). */
function imageCapabilities(db: SqliteDb): void {
  addColumnIfMissing(db, "images", "capabilities", "TEXT");
}

/** The VM's egress policy ("none", "public", "allow=..."), as text; NULL for rows before version 7. */
function vmEgress(db: SqliteDb): void {
  addColumnIfMissing(db, "vms", "egress", "TEXT");
}

/** A suspended VM's saved-state facts (VMM, accelerator, version, size), as JSON; states paused and suspended. */
function vmSavedState(db: SqliteDb): void {
  addColumnIfMissing(db, "vms", "saved_state", "TEXT");
  addColumnIfMissing(db, "vms", "pool", "TEXT");
  addColumnIfMissing(db, "vms", "auto_suspend_ms", "INTEGER");
}

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: "kernels and images", up: kernelsAndImages },
  { version: 2, name: "vms", up: vms },
  { version: 3, name: "ip leases and vsock cids", up: leasesAndCids },
  { version: 4, name: "vm exit info and boot timings", up: exitAndBootTimings },
  { version: 5, name: "vm disks and driver reason", up: disksAndDriverReason },
  { version: 6, name: "image capabilities", up: imageCapabilities },
  { version: 7, name: "vm egress policy", up: vmEgress },
  {
    version: 8,
    name: "vm saved state (paused and suspended VMs), warm-pool membership, idle suspend",
    up: vmSavedState,
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

function ensureMigrationsTable(db: SqliteDb): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
  )`);
}

/** The highest applied migration, 0 for a new database. */
export function schemaVersion(db: SqliteDb): number {
  if (!hasTable(db, "schema_migrations")) return 0;
  const v = db.prepare("SELECT max(version) FROM schema_migrations").pluck().get();
  return typeof v === "number" ? v : 0;
}

function refuseNewer(version: number, latest: number, dbPath: string): void {
  if (version <= latest) return;
  throw new BangerError(
    ErrorCodes.STORE,
    `database ${dbPath} has schema version ${version}, newer than this banger knows (${latest}); downgrade is not supported`,
    {
      hint: "a newer banger migrated it: use that banger (`banger daemon restart` with it), or move the database aside to start afresh (its VMs and images are then forgotten)",
    },
  );
}

export interface MigrateOptions {
  /** Stop after this version (tests build databases at older versions). Default: latest. */
  target?: number;
  /** For messages. */
  dbPath?: string;
  now?: () => Date;
  /** The migration list (tests substitute one). Default: MIGRATIONS. */
  migrations?: readonly Migration[];
}

export interface MigrateResult {
  from: number;
  to: number;
  applied: number[];
}

/** Apply every pending migration up to the target. Safe against another process migrating at once. */
export function migrate(db: SqliteDb, opts: MigrateOptions = {}): MigrateResult {
  const dbPath = opts.dbPath ?? db.name;
  const now = opts.now ?? (() => new Date());
  const migrations = opts.migrations ?? MIGRATIONS;
  const latest = migrations[migrations.length - 1]?.version ?? 0;
  const target = opts.target ?? latest;
  ensureMigrationsTable(db);
  const from = schemaVersion(db);
  refuseNewer(from, latest, dbPath);
  const applied: number[] = [];
  const record = db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)");
  for (const m of migrations) {
    if (m.version > target) break;
    const ran = db.immediate(() => {
      const current = schemaVersion(db);
      refuseNewer(current, latest, dbPath);
      if (current >= m.version) return false;
      m.up(db);
      record.run(m.version, m.name, now().toISOString());
      return true;
    });
    if (ran) applied.push(m.version);
  }
  return { from, to: schemaVersion(db), applied };
}
