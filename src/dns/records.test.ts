import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BangerError } from "../errors/index.js";
import { VmRecords } from "./records.js";

describe("VmRecords", () => {
  it("set/get/delete, names case-insensitive", () => {
    const r = new VmRecords();
    r.set("Dev", "172.30.0.2");
    assert.equal(r.get("dev"), "172.30.0.2");
    assert.equal(r.get("DEV"), "172.30.0.2");
    assert.equal(r.size, 1);
    r.set("dev", "172.30.0.5");
    assert.equal(r.get("Dev"), "172.30.0.5");
    assert.equal(r.size, 1);
    assert.equal(r.delete("DEV"), true);
    assert.equal(r.delete("dev"), false);
    assert.equal(r.get("dev"), undefined);
    assert.equal(r.size, 0);
  });

  it("replaceAll swaps the whole table", () => {
    const r = new VmRecords();
    r.set("old", "10.0.0.1");
    r.replaceAll(
      new Map([
        ["a", "10.0.0.2"],
        ["B", "10.0.0.3"],
      ]),
    );
    assert.equal(r.get("old"), undefined);
    assert.deepEqual(r.entries().sort(), [
      ["a", "10.0.0.2"],
      ["b", "10.0.0.3"],
    ]);
    r.replaceAll({ c: "10.0.0.4" });
    assert.deepEqual(r.entries(), [["c", "10.0.0.4"]]);
  });

  it("replaceAll changes nothing when one entry is invalid", () => {
    const r = new VmRecords();
    r.set("keep", "10.0.0.1");
    assert.throws(() => r.replaceAll({ ok: "10.0.0.2", bad_name: "10.0.0.3" }), BangerError);
    assert.throws(() => r.replaceAll({ ok: "10.0.0.2", fine: "::1" }), BangerError);
    assert.deepEqual(r.entries(), [["keep", "10.0.0.1"]]);
  });

  it("refuses names that are not one DNS label and addresses that are not IPv4", () => {
    const r = new VmRecords();
    for (const bad of ["", "a.b", "-x", "x-", "a_b", "x".repeat(64), "dev.vm"]) {
      assert.throws(
        () => r.set(bad, "10.0.0.1"),
        (e: unknown) => e instanceof BangerError && e.code === "INVALID_ARGUMENT",
        bad,
      );
    }
    for (const bad of ["", "10.0.0", "10.0.0.256", "::1", "host"]) {
      assert.throws(
        () => r.set("dev", bad),
        (e: unknown) => e instanceof BangerError && e.code === "INVALID_ARGUMENT",
      );
    }
    assert.equal(r.size, 0);
  });

  it("the serial moves on every change and only then", () => {
    const r = new VmRecords();
    const s0 = r.serial;
    assert.ok(s0 > 0);
    r.set("a", "10.0.0.1");
    const s1 = r.serial;
    assert.ok(s1 > s0);
    r.set("A", "10.0.0.1");
    assert.equal(r.serial, s1, "same value: no change");
    r.delete("nope");
    assert.equal(r.serial, s1);
    r.delete("a");
    assert.ok(r.serial > s1);
  });
});
