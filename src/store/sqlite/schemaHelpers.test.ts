import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SqliteDb } from "./db.js";
import {
  addColumnIfMissing,
  createIndexIfMissing,
  dropColumnIfExists,
  hasColumn,
  hasIndex,
  hasTable,
} from "./schemaHelpers.js";

function fresh(): SqliteDb {
  const db = new SqliteDb(":memory:");
  db.exec("CREATE TABLE t (id TEXT PRIMARY KEY, a INTEGER)");
  return db;
}

describe("schema helpers", () => {
  it("addColumnIfMissing adds once, then leaves the column alone", () => {
    const db = fresh();
    assert.equal(addColumnIfMissing(db, "t", "b", "TEXT NOT NULL DEFAULT ''"), true);
    assert.equal(addColumnIfMissing(db, "t", "b", "TEXT NOT NULL DEFAULT ''"), false);
    assert.ok(hasColumn(db, "t", "b"));
  });

  it("dropColumnIfExists drops once, and ignores missing columns and tables", () => {
    const db = fresh();
    db.prepare("INSERT INTO t VALUES ('x', 1)").run();
    assert.equal(dropColumnIfExists(db, "t", "a"), true);
    assert.equal(dropColumnIfExists(db, "t", "a"), false);
    assert.equal(dropColumnIfExists(db, "nope", "a"), false);
    assert.deepEqual(db.prepare("SELECT * FROM t").all(), [{ id: "x" }]);
  });

  it("createIndexIfMissing is idempotent and can make unique indexes", () => {
    const db = fresh();
    createIndexIfMissing(db, "t_a", "t", ["a"], { unique: true });
    createIndexIfMissing(db, "t_a", "t", ["a"], { unique: true });
    assert.ok(hasIndex(db, "t_a"));
    db.prepare("INSERT INTO t VALUES ('x', 1)").run();
    assert.throws(() => db.prepare("INSERT INTO t VALUES ('y', 1)").run(), /UNIQUE/);
  });

  it("hasTable tells tables apart from indexes", () => {
    const db = fresh();
    createIndexIfMissing(db, "t_a", "t", ["a"]);
    assert.equal(hasTable(db, "t"), true);
    assert.equal(hasTable(db, "t_a"), false);
  });

  it("refuses identifiers that would need quoting", () => {
    const db = fresh();
    assert.throws(() => addColumnIfMissing(db, "t", "b; DROP TABLE t", "TEXT"), /bad SQL identifier/);
    assert.throws(() => hasColumn(db, "t)", "a"), /bad SQL identifier/);
  });
});
