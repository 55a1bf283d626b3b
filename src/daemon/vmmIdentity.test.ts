import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isBangerError } from "../errors/index.js";
import { vmmIdentity } from "./vmmIdentity.js";

describe("who VMMs run as", () => {
  it("a normal user's VMMs run as that user (no uid change)", () => {
    assert.equal(
      vmmIdentity(1000, () => ({ uid: 999, gid: 995 })),
      null,
    );
  });

  it("root's VMMs run as banger-vmm, never as root", () => {
    assert.deepEqual(
      vmmIdentity(0, () => ({ uid: 999, gid: 995 })),
      { uid: 999, gid: 995 },
    );
  });

  it("root without banger-vmm: a PREFLIGHT error that says to run scripts/install", () => {
    assert.throws(
      () => vmmIdentity(0, () => null),
      (e: unknown) =>
        isBangerError(e) &&
        e.code === "PREFLIGHT_FAILED" &&
        /"banger-vmm" does not exist/.test(e.message) &&
        /run scripts\/install as root/.test(e.hint ?? ""),
    );
  });
});
