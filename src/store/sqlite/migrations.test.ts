import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { BangerError } from "../../errors/index.js";
import { idFor } from "../fake/fixtures.js";
import { SqliteDb } from "./db.js";
import { LATEST_VERSION, MIGRATIONS, migrate, schemaVersion } from "./migrations.js";
import { SqliteStore } from "./SqliteStore.js";

const T = "2024-05-06T07:08:09.000Z";
const K = idFor("kernel:k1");
const IMG = idFor("image:img1");
const OWN = idFor("image:own");

/** Rows as each schema version stored them; seeding at version v runs SEED[1..v] in turn. */
const SEED: Record<number, (db: SqliteDb) => void> = {
  1: (db) => {
    db.prepare(
      `INSERT INTO kernels (id, name, version, arch, vmlinux_path, initrd_path, modules_dir, source, created_at)
       VALUES (?, 'k1', '6.1', 'x86_64', '/k/vmlinux', NULL, '/k/modules', 'pull', ?)`,
    ).run(K, T);
    const img = db.prepare(
      `INSERT INTO images (id, name, version, arch, kernel_id, kernel_path, initrd_path, rootfs_path,
         work_seed_path, size_bytes, source, created_at)
       VALUES (?, ?, '12', 'x86_64', ?, ?, NULL, '/r.ext4', '/w.ext4', 1073741824, 'register', ?)`,
    );
    img.run(IMG, "img1", K, null, T);
    img.run(OWN, "own", null, "/own/vmlinux", T);
  },
  2: (db) => {
    const vm = db.prepare(
      `INSERT INTO vms (id, name, state, vcpu, memory_mib, disk_size_bytes, image_id, driver, vmm_driver, vmm_pid,
         vmm_control_socket, vmm_agent_socket, vmm_acceleration, net_ip, net_mac, net_tap, vm_dir, created_at,
         updated_at, boot_ms)
       VALUES (@id, @name, @state, 2, 512, 4294967296, @image, 'firecracker', @vd, @pid, @cs, @as, @acc, @ip, @mac,
         @tap, '/vms/x', @created, @created, @boot)`,
    );
    const net = { ip: "172.30.0.2", mac: "06:00:ac:1e:00:02", tap: "bg-a" };
    const vmm = { vd: "firecracker", pid: 77, cs: "/vms/a/fc.sock", as: "/vms/a/v.sock", acc: "kvm" };
    const none = { vd: null, pid: null, cs: null, as: null, acc: null };
    const common = { image: IMG, state: "stopped", ...none };
    vm.run({
      ...common,
      ...vmm,
      state: "running",
      id: idFor("vm:a"),
      name: "a",
      created: T,
      boot: 1500,
      ...net,
    });
    vm.run({
      ...common,
      id: idFor("vm:b"),
      name: "b",
      created: "2024-05-06T07:08:10.000Z",
      boot: null,
      ip: null,
      mac: null,
      tap: null,
    });
    // Version 2's address scan could hand out one address twice: c repeats a's address.
    vm.run({
      ...common,
      id: idFor("vm:c"),
      name: "c",
      created: "2024-05-06T07:08:11.000Z",
      boot: 20,
      ...net,
      tap: "bg-c",
    });
  },
  3: (db) => {
    db.prepare(
      `INSERT INTO vms (id, name, state, vcpu, memory_mib, disk_size_bytes, image_id, driver, vm_dir, created_at,
         updated_at, boot_ms, cid, net_ip, net_mac, net_tap)
       VALUES (?, 'd', 'crashed', 1, 256, 1024, ?, 'qemu', '/vms/d', ?, ?, 900, 9, '172.30.0.9', '06:00:00:00:00:09', 'bg-d')`,
    ).run(idFor("vm:d"), OWN, "2024-05-07T00:00:00.000Z", "2024-05-07T00:00:00.000Z");
    db.prepare("INSERT INTO leases (ip, vm_id, created_at) VALUES ('172.30.0.9', ?, ?)").run(
      idFor("vm:d"),
      T,
    );
  },
  4: (db) => {
    db.prepare(
      `INSERT INTO vms (id, name, state, vcpu, memory_mib, disk_size_bytes, image_id, driver, vm_dir, created_at,
         updated_at, cid, exit_info, boot_timings)
       VALUES (?, 'e', 'crashed', 1, 256, 1024, ?, 'qemu', '/vms/e', ?, ?, 12, '{"code":137,"signal":null}',
         '[{"name":"spawn","ms":40}]')`,
    ).run(idFor("vm:e"), OWN, "2024-05-08T00:00:00.000Z", "2024-05-08T00:00:00.000Z");
  },
};

function openRaw(file: string): SqliteDb {
  const db = new SqliteDb(file);
  db.pragma("foreign_keys = ON");
  return db;
}

/** Build a database at `version` with data written by that version's code. */
function buildAt(file: string, version: number): void {
  const db = openRaw(file);
  for (let v = 1; v <= version; v++) {
    migrate(db, { target: v });
    SEED[v]?.(db);
  }
  assert.equal(schemaVersion(db), version);
  db.close();
}

function schemaOf(db: SqliteDb): unknown {
  const objects = db
    .prepare("SELECT type, name, tbl_name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY name")
    .all() as Array<{ type: string; name: string }>;
  return objects.map((o) => ({
    ...o,
    cols: o.type === "table" ? db.pragma(`table_xinfo(${o.name})`) : undefined,
  }));
}

function checkSurvivors(s: SqliteStore, from: number): void {
  if (from >= 1) {
    assert.equal(s.kernels.get("k1").modulesDir, "/k/modules");
    assert.equal(s.images.get("img1").kernelId, K);
    assert.equal(s.images.get("own").kernelPath, "/own/vmlinux");
    assert.equal(s.images.get("own").description, "", "description defaults to empty");
    assert.equal(
      s.images.get("own").capabilities,
      null,
      "version 6 adds capabilities, undetected for older rows",
    );
  }
  if (from < 2) return;
  const a = s.vms.get("a");
  assert.deepEqual(a.vmm, {
    driver: "firecracker",
    pid: 77,
    controlSocket: "/vms/a/fc.sock",
    agentSocket: "/vms/a/v.sock",
    acceleration: "kvm",
  });
  assert.deepEqual(a.bootTimings, [{ name: "boot", ms: 1500 }]);
  assert.equal(a.exit, null);
  assert.equal(s.vms.get("b").bootTimings, null);
  assert.deepEqual(s.vms.get("c").network?.tap, "bg-c");
  assert.deepEqual(
    ["a", "b", "c"].map((n) => s.vms.get(n).cid),
    [3, 4, 5],
    "CIDs given in creation order",
  );
  const leases = s.listLeases().map((l) => [l.ip, l.vmId]);
  assert.deepEqual(
    leases.find(([ip]) => ip === "172.30.0.2"),
    ["172.30.0.2", a.id],
    "the first VM keeps a doubled address",
  );
  assert.equal(leases.length, from >= 3 ? 2 : 1);
  if (from < 3) return;
  const d = s.vms.get("d");
  assert.equal(d.cid, 9);
  assert.deepEqual(d.bootTimings, [{ name: "boot", ms: 900 }]);
  assert.equal(d.network?.tap, "bg-d");
  if (from < 4) return;
  const e = s.vms.get("e");
  assert.deepEqual(e.exit, { code: 137, signal: null });
  assert.deepEqual(e.bootTimings, [{ name: "spawn", ms: 40 }]);
  assert.equal(e.disks, null, "version 5 adds disks, unset for older rows");
  assert.equal(e.driverReason, null);
}

describe("migrations", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "banger-migrations-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("are numbered 1..N without gaps", () => {
    assert.deepEqual(
      MIGRATIONS.map((m) => m.version),
      Array.from({ length: LATEST_VERSION }, (_, i) => i + 1),
    );
  });

  it("bring an empty database to the latest version and record each step", () => {
    const s = new SqliteStore(path.join(dir, "empty.db"));
    const r = s.migrate();
    assert.deepEqual(r, { from: 0, to: LATEST_VERSION, applied: MIGRATIONS.map((m) => m.version) });
    const rows = s.database
      .prepare("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
      .all();
    assert.equal(rows.length, LATEST_VERSION);
    for (const row of rows as Array<{ name: string; applied_at: string }>) {
      assert.ok(row.name.length > 0);
      assert.ok(!Number.isNaN(Date.parse(row.applied_at)));
    }
    s.close();
  });

  for (let v = 0; v < LATEST_VERSION; v++) {
    it(`upgrade a database at version ${v} with its data intact, to the same schema as a new one`, () => {
      const file = path.join(dir, `v${v}.db`);
      buildAt(file, v);
      const s = new SqliteStore(file);
      assert.equal(s.schemaVersion(), v);
      const r = s.migrate();
      assert.deepEqual(
        r.applied,
        MIGRATIONS.filter((m) => m.version > v).map((m) => m.version),
      );
      checkSurvivors(s, v);
      assert.deepEqual(s.database.pragma("foreign_key_check"), []);
      const fresh = new SqliteStore(":memory:");
      fresh.migrate();
      assert.deepEqual(schemaOf(s.database), schemaOf(fresh.database));
      fresh.close();
      s.close();
    });
  }

  it("are idempotent: migrating twice changes nothing", () => {
    const file = path.join(dir, "twice.db");
    buildAt(file, 3);
    const s = new SqliteStore(file);
    s.migrate();
    const before = { schema: schemaOf(s.database), vms: s.vms.list(), leases: s.listLeases() };
    assert.deepEqual(s.migrate().applied, []);
    assert.deepEqual({ schema: schemaOf(s.database), vms: s.vms.list(), leases: s.listLeases() }, before);
    s.close();
  });

  it("each migration can run again on an up-to-date database without failing", () => {
    const file = path.join(dir, "rerun.db");
    buildAt(file, 3);
    const s = new SqliteStore(file);
    s.migrate();
    const schema = schemaOf(s.database);
    const vms = s.vms.list();
    for (const m of MIGRATIONS) s.transaction(() => m.up(s.database));
    assert.deepEqual(schemaOf(s.database), schema);
    assert.deepEqual(s.vms.list(), vms);
    s.close();
  });

  it("refuse a database newer than the code, naming both versions", () => {
    const s = new SqliteStore(path.join(dir, "newer.db"));
    s.migrate();
    s.database
      .prepare("INSERT INTO schema_migrations VALUES (?, 'from the future', ?)")
      .run(LATEST_VERSION + 3, T);
    assert.throws(
      () => s.migrate(),
      (e: unknown) =>
        e instanceof BangerError &&
        e.code === "STORE" &&
        e.message.includes(`version ${LATEST_VERSION + 3}`) &&
        e.message.includes(`(${LATEST_VERSION})`) &&
        /downgrade is not supported/.test(e.message) &&
        e.message.includes("newer.db"),
    );
    s.close();
  });

  it("roll a failing migration back whole, keeping the version before it", () => {
    const db = new SqliteDb(":memory:");
    const broken = [
      { version: 1, name: "one", up: (d: SqliteDb) => d.exec("CREATE TABLE one (x)") },
      {
        version: 2,
        name: "two",
        up: (d: SqliteDb) => {
          d.exec("CREATE TABLE two (x)");
          throw new Error("step failed");
        },
      },
    ];
    assert.throws(() => migrate(db, { migrations: broken }), /step failed/);
    assert.equal(schemaVersion(db), 1);
    assert.equal(db.prepare("SELECT name FROM sqlite_schema WHERE name = 'two'").get(), undefined);
    db.close();
  });
});
