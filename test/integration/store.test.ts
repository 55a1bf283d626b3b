/** The SQLite store on a real file, opened by several connections and threads at once (like several processes). */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, before, describe, it } from "node:test";
import { Worker } from "node:worker_threads";
import { BangerError } from "../../src/errors/index.js";
import { makeImage, makeVm } from "../../src/store/fake/fixtures.js";
import { SqliteStore } from "../../src/store/sqlite/SqliteStore.js";

const SUBNET = "172.30.0.0/24";
const candidates = (n = 253) => Array.from({ length: n }, (_, i) => `172.30.0.${i + 2}`);
const STORE_MODULE = new URL("../../src/store/sqlite/SqliteStore.js", import.meta.url).href;
const FIXTURES_MODULE = new URL("../../src/store/fake/fixtures.js", import.meta.url).href;

/** Each worker opens its own store, waits for the start signal, creates a VM and leases an address. */
const WORKER = `
import { workerData, parentPort } from "node:worker_threads";
const { SqliteStore } = await import(workerData.storeModule);
const { makeVm } = await import(workerData.fixturesModule);
const store = new SqliteStore(workerData.file);
const gate = new Int32Array(workerData.gate);
Atomics.add(gate, 1, 1);
Atomics.wait(gate, 0, 0);
try {
  const vm = store.vms.insert(makeVm(workerData.name, workerData.imageId));
  const ip = store.allocateLease(vm.id, workerData.candidates, { subnet: workerData.subnet });
  parentPort.postMessage({ name: vm.name, ip, cid: store.allocateCid(vm.id) });
} catch (e) {
  parentPort.postMessage({ name: workerData.name, error: { code: e.code, message: e.message } });
} finally {
  store.close();
}
`;

interface WorkerResult {
  name: string;
  ip?: string;
  cid?: number;
  error?: { code: string; message: string };
}

async function raceWorkers(dir: string, file: string, imageId: string, names: string[], pool: string[]) {
  const script = path.join(dir, "worker.mjs");
  writeFileSync(script, WORKER);
  const gate = new SharedArrayBuffer(8);
  const view = new Int32Array(gate);
  const results = names.map(
    (name) =>
      new Promise<WorkerResult>((resolve, reject) => {
        const workerData = {
          storeModule: STORE_MODULE,
          fixturesModule: FIXTURES_MODULE,
          file,
          gate,
          name,
          imageId,
          candidates: pool,
          subnet: SUBNET,
        };
        const w = new Worker(script, { workerData });
        w.once("message", resolve);
        w.once("error", reject);
      }),
  );
  while (Atomics.load(view, 1) < names.length) await new Promise((r) => setTimeout(r, 5));
  Atomics.store(view, 0, 1);
  Atomics.notify(view, 0);
  return Promise.all(results);
}

describe("SqliteStore on a file", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "banger-store-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("uses WAL, foreign keys and a busy timeout", () => {
    const file = path.join(dir, "pragmas.db");
    const s = new SqliteStore(file);
    s.migrate();
    assert.equal(s.database.pragma("journal_mode", { simple: true }), "wal");
    assert.equal(s.database.pragma("foreign_keys", { simple: true }), 1);
    assert.equal(s.database.pragma("busy_timeout", { simple: true }), 5000);
    const raw = new DatabaseSync(file, { readOnly: true });
    assert.equal(
      raw.prepare("PRAGMA journal_mode").get()?.journal_mode,
      "wal",
      "WAL is a property of the file",
    );
    raw.close();
    s.close();
  });

  it("two stores on one file see each other's writes, and migrating twice is harmless", () => {
    const file = path.join(dir, "two.db");
    const a = new SqliteStore(file);
    const b = new SqliteStore(file);
    a.migrate();
    assert.deepEqual(b.migrate().applied, []);
    const img = a.images.insert(makeImage());
    b.vms.insert(makeVm("web", img.id));
    assert.equal(a.vms.get("web").imageId, img.id);
    assert.throws(() => a.vms.insert(makeVm("web", img.id, { id: "00000000000000aa" })), {
      code: "ALREADY_EXISTS",
    });
    a.close();
    b.close();
  });

  it("interleaved creates from two stores get distinct addresses and CIDs", () => {
    const file = path.join(dir, "interleaved.db");
    const stores = [new SqliteStore(file), new SqliteStore(file)] as const;
    stores[0].migrate();
    const img = stores[1].images.insert(makeImage());
    const got = Array.from({ length: 8 }, (_, i) => {
      const s = stores[i % 2]!;
      const vm = s.vms.insert(makeVm(`vm${i}`, img.id));
      return { ip: s.allocateLease(vm.id, candidates(), { subnet: SUBNET }), cid: s.allocateCid(vm.id) };
    });
    assert.equal(new Set(got.map((g) => g.ip)).size, 8);
    assert.deepEqual(
      got.map((g) => g.cid),
      [3, 4, 5, 6, 7, 8, 9, 10],
    );
    assert.deepEqual(stores[0].listLeases(), stores[1].listLeases());
    for (const s of stores) s.close();
  });

  it("8 threads creating at the same instant get distinct addresses and CIDs", async () => {
    const file = path.join(dir, "threads.db");
    const s = new SqliteStore(file);
    s.migrate();
    const img = s.images.insert(makeImage());
    const names = Array.from({ length: 8 }, (_, i) => `t${i}`);
    const results = await raceWorkers(dir, file, img.id, names, candidates());
    assert.deepEqual(
      results.filter((r) => r.error),
      [],
    );
    assert.equal(new Set(results.map((r) => r.ip)).size, 8);
    assert.deepEqual(
      results.map((r) => r.cid).sort((x, y) => x! - y!),
      [3, 4, 5, 6, 7, 8, 9, 10],
    );
    assert.equal(s.listLeases().length, 8);
    s.close();
  });

  it("when threads race for too few addresses, the losers get CONFLICT and nothing is leased twice", async () => {
    const file = path.join(dir, "scarce.db");
    const s = new SqliteStore(file);
    s.migrate();
    const img = s.images.insert(makeImage());
    const names = Array.from({ length: 8 }, (_, i) => `s${i}`);
    const results = await raceWorkers(dir, file, img.id, names, candidates(3));
    const won = results.filter((r) => r.ip !== undefined);
    assert.equal(won.length, 3);
    assert.equal(new Set(won.map((r) => r.ip)).size, 3);
    for (const r of results.filter((x) => x.error)) {
      assert.equal(r.error?.code, "CONFLICT");
      assert.match(r.error?.message ?? "", /no free address in 172\.30\.0\.0\/24/);
    }
    s.close();
  });

  it("refuses to delete an image VMs use, naming them; the database refuses it too", () => {
    const s = new SqliteStore(path.join(dir, "fk.db"));
    s.migrate();
    const img = s.images.insert(makeImage());
    s.vms.insert(makeVm("web", img.id));
    s.vms.insert(makeVm("api", img.id));
    assert.throws(
      () => s.images.delete(img.id),
      (e: unknown) =>
        e instanceof BangerError &&
        e.code === "CONFLICT" &&
        /"api", "web"/.test(e.message) &&
        /vm rm/.test(e.hint ?? ""),
    );
    assert.throws(() => s.database.prepare("DELETE FROM images WHERE id = ?").run(img.id), /FOREIGN KEY/);
    assert.equal(s.images.get("debian").id, img.id);
    s.close();
  });

  it("a write blocked by another process's lock fails as STORE naming the file, after the busy timeout", () => {
    const file = path.join(dir, "busy.db");
    const a = new SqliteStore(file);
    a.migrate();
    const b = new SqliteStore(file, { busyTimeoutMs: 50 });
    a.database.exec("BEGIN IMMEDIATE");
    const t0 = Date.now();
    assert.throws(
      () => b.kernels.delete("0000000000000000"),
      (e: unknown) =>
        e instanceof BangerError &&
        e.code === "STORE" &&
        e.message.includes(file) &&
        /lock/.test(e.hint ?? ""),
    );
    assert.ok(Date.now() - t0 >= 40, "it waited for the lock");
    a.database.exec("ROLLBACK");
    assert.throws(() => b.kernels.delete("0000000000000000"), { code: "NOT_FOUND" });
    a.close();
    b.close();
  });

  it("opening what cannot be a database fails as STORE naming the path", () => {
    const junk = path.join(dir, "junk.db");
    writeFileSync(junk, "this is not a database, it is a text file that is long enough to have a header.");
    assert.throws(
      () => new SqliteStore(junk),
      (e: unknown) => (e as BangerError).code === "STORE" && (e as BangerError).message.includes(junk),
    );
    const missing = path.join(dir, "no", "such", "dir", "banger.db");
    assert.throws(
      () => new SqliteStore(missing),
      (e: unknown) => (e as BangerError).code === "STORE" && (e as BangerError).message.includes(missing),
    );
  });
});
