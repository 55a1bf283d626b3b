import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { BangerError } from "../../errors/index.js";
import { shellQuote } from "../../util/shellQuote.js";
import { idFor, makeImage, makeKernel, makeVm } from "../fake/fixtures.js";
import { SqliteStore } from "./SqliteStore.js";

function corrupt(parts: RegExp[]) {
  return (e: unknown) => {
    assert.ok(e instanceof BangerError, String(e));
    assert.equal(e.code, "STORE_CORRUPT", e.message);
    for (const p of parts) assert.match(e.message, p);
    assert.match(e.hint ?? "", /sqlite3 .*DELETE FROM/);
    return true;
  };
}

describe("malformed rows", () => {
  let dir: string;
  let s: SqliteStore;
  let imageId: string;
  const bId = idFor("vm:b");
  const bad = (sql: string, ...args: unknown[]) => s.database.prepare(sql).run(...args);

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "banger corrupt-"));
    s = new SqliteStore(path.join(dir, "banger.db"));
    s.migrate();
    imageId = s.images.insert(makeImage()).id;
    for (const n of ["a", "b", "c"]) s.vms.insert(makeVm(n, imageId));
  });
  afterEach(() => {
    s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a malformed timestamp names the table, row, column and value, with a hint that works", () => {
    bad("UPDATE vms SET created_at = 'yesterday' WHERE id = ?", bId);
    const check = corrupt([/vms row "b"/, new RegExp(`id ${bId}`), /created_at/, /"yesterday"/, /ISO-8601/]);
    assert.throws(() => s.vms.list(), check);
    assert.throws(() => s.vms.get("b"), check);
    let hint = "";
    try {
      s.vms.list();
    } catch (e) {
      hint = (e as BangerError).hint ?? "";
    }
    assert.ok(hint.includes(shellQuote([path.join(dir, "banger.db")])), hint);
    const sql = /"(DELETE FROM vms WHERE id = '[0-9a-f]+')"$/.exec(hint)?.[1];
    assert.ok(sql, hint);
    s.database.exec(sql);
    assert.deepEqual(
      s.vms.list().map((v) => v.name),
      ["a", "c"],
    );
  });

  it("list({ skipCorrupt: true }) returns the good rows and one problem per bad row", () => {
    bad("UPDATE vms SET state = 'frozen' WHERE id = ?", bId);
    const r = s.vms.list({ skipCorrupt: true });
    assert.deepEqual(
      r.items.map((v) => v.name),
      ["a", "c"],
    );
    assert.equal(r.problems.length, 1);
    const p = r.problems[0]!;
    assert.equal(p.code, "STORE_CORRUPT");
    assert.match(p.message, /column state has "frozen", which is not one of creating, stopped/);
    assert.deepEqual(p.details, { table: "vms", id: bId, name: "b", column: "state", value: '"frozen"' });
  });

  const cases: Array<[string, string, RegExp]> = [
    ["wrong type", "UPDATE vms SET vcpu = 'two' WHERE id = ?", /vcpu has "two", which is not an integer/],
    ["below minimum", "UPDATE vms SET cid = 2 WHERE id = ?", /cid has 2, which is below the minimum 3/],
    [
      "half a VMM handle",
      "UPDATE vms SET vmm_pid = 5 WHERE id = ?",
      /column vmm_driver is NULL while vmm_pid is set/,
    ],
    [
      "half a network",
      "UPDATE vms SET net_ip = '10.0.0.2' WHERE id = ?",
      /column net_mac is NULL while net_ip is set/,
    ],
    ["bad JSON", "UPDATE vms SET boot_timings = '[{' WHERE id = ?", /boot_timings .* not valid JSON/],
    [
      "JSON of the wrong shape",
      `UPDATE vms SET exit_info = '{"code":"x"}' WHERE id = ?`,
      /exit_info .* not an object/,
    ],
    ["unknown driver", "UPDATE vms SET driver = 'xen' WHERE id = ?", /driver has "xen"/],
    [
      "an hour that does not exist",
      "UPDATE vms SET started_at = '2024-02-01T25:00:00Z' WHERE id = ?",
      /started_at/,
    ],
    [
      "a day that does not exist",
      "UPDATE vms SET stopped_at = '2024-02-30T10:00:00Z' WHERE id = ?",
      /stopped_at/,
    ],
    ["a blob", "UPDATE vms SET vm_dir = x'00ff' WHERE id = ?", /vm_dir has a 2-byte blob, which is not text/],
  ];
  for (const [what, sql, msg] of cases) {
    it(`detects ${what}`, () => {
      bad(sql, bId);
      assert.throws(() => s.vms.get(bId), corrupt([/vms row "b"/, msg]));
      assert.equal(s.vms.list({ skipCorrupt: true }).items.length, 2);
    });
  }

  it("covers kernels, images and leases too", () => {
    const k = s.kernels.insert(makeKernel("k"));
    bad("UPDATE kernels SET arch = 'riscv' WHERE id = ?", k.id);
    assert.throws(() => s.kernels.list(), corrupt([/kernels row "k"/, /arch has "riscv"/]));
    assert.equal(s.kernels.list({ skipCorrupt: true }).problems.length, 1);
    bad("UPDATE images SET source = 'stolen' WHERE id = ?", imageId);
    assert.throws(() => s.images.get("debian"), corrupt([/images row "debian"/, /source/]));
    s.allocateLease(bId, ["10.0.0.2"]);
    bad("UPDATE leases SET created_at = '' WHERE vm_id = ?", bId);
    assert.throws(() => s.listLeases(), corrupt([/leases row "10.0.0.2"/, /created_at/]));
  });

  it("a non-corruption error is not swallowed by skipCorrupt", () => {
    s.close();
    assert.throws(
      () => s.vms.list({ skipCorrupt: true }),
      (e: unknown) => (e as BangerError).code === "STORE",
    );
  });

  it("the hint runs in the sqlite3 shell when one is installed", (t) => {
    try {
      execFileSync("sqlite3", ["-version"], { stdio: "ignore" });
    } catch {
      t.skip("no sqlite3 command");
      return;
    }
    bad("UPDATE vms SET updated_at = 'x' WHERE id = ?", bId);
    const hint = (() => {
      try {
        s.vms.list();
      } catch (e) {
        return (e as BangerError).hint ?? "";
      }
      return "";
    })();
    execFileSync("sh", ["-c", hint.replace(/^.*?: (sqlite3 )/, "$1")]);
    assert.equal(s.vms.list().length, 2);
  });
});
