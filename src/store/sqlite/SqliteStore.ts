/**
 * The SQLite store: one file (StateDir/banger.db) that several processes may
 * open at once. WAL lets readers run beside a writer; every write is an
 * IMMEDIATE transaction that waits up to busy_timeout for the lock.
 */

import { BangerError, ErrorCodes } from "../../errors/index.js";
import { noFreeAddress, notFoundById } from "../errors.js";
import type { AllocateLeaseOptions, Lease, Store } from "../Store.js";
import { SqliteImageRepo, SqliteKernelRepo } from "./artifactRepos.js";
import { SqliteContext } from "./context.js";
import { SqliteDb } from "./db.js";
import { type MigrateResult, migrate, schemaVersion } from "./migrations.js";
import { type RawRow, RowReader } from "./rowReader.js";
import { toStoreError } from "./sqliteErrors.js";
import { SqliteVmRepo } from "./vmRepo.js";

export interface SqliteStoreOptions {
  /** How long a write waits for another process's lock, in ms. Default 5000. */
  busyTimeoutMs?: number;
  now?: () => Date;
}

function openDatabase(path: string, busyTimeoutMs: number): SqliteDb {
  let db: SqliteDb | undefined;
  try {
    db = new SqliteDb(path);
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
    db.pragma("foreign_keys = ON");
    const mode = db.pragma("journal_mode = WAL", { simple: true });
    if (mode !== "wal" && path !== ":memory:" && path !== "") {
      throw new BangerError(
        ErrorCodes.STORE,
        `database ${path}: could not switch to WAL mode (got ${String(mode)})`,
        {
          hint: "the file system may not support shared memory (network file systems do not); use a local directory",
        },
      );
    }
    db.pragma("synchronous = NORMAL");
    return db;
  } catch (e) {
    db?.close();
    throw toStoreError(e, path);
  }
}

export class SqliteStore implements Store {
  readonly kernels: SqliteKernelRepo;
  readonly images: SqliteImageRepo;
  readonly vms: SqliteVmRepo;
  private readonly c: SqliteContext;

  /** Open (creating if needed) the database at `path`; `:memory:` for tests. Call migrate() before use. */
  constructor(
    readonly path: string,
    opts: SqliteStoreOptions = {},
  ) {
    const db = openDatabase(path, opts.busyTimeoutMs ?? 5000);
    this.c = new SqliteContext(db, path, opts.now ?? (() => new Date()));
    this.kernels = new SqliteKernelRepo(this.c);
    this.images = new SqliteImageRepo(this.c);
    this.vms = new SqliteVmRepo(this.c);
  }

  /** The connection itself, for diagnostics and tests (raw SQL). */
  get database(): SqliteDb {
    return this.c.db;
  }

  migrate(): MigrateResult {
    return this.c.read(() => migrate(this.c.db, { dbPath: this.path, now: this.c.now }));
  }

  schemaVersion(): number {
    return this.c.read(() => schemaVersion(this.c.db));
  }

  close(): void {
    if (this.c.db.open) this.c.read(() => this.c.db.close());
  }

  transaction<T>(fn: () => T): T {
    return this.c.write(fn);
  }

  allocateLease(vmId: string, candidates: Iterable<string>, opts: AllocateLeaseOptions = {}): string {
    return this.c.write(() => {
      const db = this.c.db;
      if (!db.prepare("SELECT 1 FROM vms WHERE id = ?").get(vmId)) throw notFoundById("VM", vmId);
      const held = db.prepare("SELECT ip FROM leases WHERE vm_id = ?").pluck().get(vmId);
      if (typeof held === "string") return held;
      const taken = new Set(db.prepare("SELECT ip FROM leases").pluck().all() as string[]);
      for (const ip of candidates) {
        if (taken.has(ip)) continue;
        db.prepare("INSERT INTO leases (ip, vm_id, created_at) VALUES (?, ?, ?)").run(
          ip,
          vmId,
          this.c.now().toISOString(),
        );
        return ip;
      }
      throw noFreeAddress(opts.subnet);
    });
  }

  releaseLease(vmId: string): void {
    this.c.write(() => this.c.db.prepare("DELETE FROM leases WHERE vm_id = ?").run(vmId));
  }

  listLeases(): Lease[] {
    return this.c.read(() => {
      const rows = this.c.db
        .prepare("SELECT rowid AS _rowid, * FROM leases ORDER BY created_at, ip")
        .all() as RawRow[];
      return rows.map((row) => {
        const r = new RowReader("leases", this.path, { ...row, id: row.vm_id, name: row.ip });
        return { ip: r.text("ip"), vmId: r.text("vm_id"), createdAt: r.date("created_at") };
      });
    });
  }

  allocateCid(vmId: string): number {
    return this.c.write(() => {
      const row = this.c.db.prepare("SELECT cid FROM vms WHERE id = ?").get(vmId) as
        | { cid: unknown }
        | undefined;
      if (row === undefined) throw notFoundById("VM", vmId);
      if (typeof row.cid === "number") return row.cid;
      const cid = this.vms.freeCid();
      this.c.db.prepare("UPDATE vms SET cid = ? WHERE id = ?").run(cid, vmId);
      return cid;
    });
  }
}
