import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  imageKernelRef,
  isValidId,
  isValidVmName,
  isVmActive,
  isVmState,
  newId,
  VM_STATES,
} from "./index.js";

describe("ids", () => {
  it("newId gives 16 lowercase hex characters, different each time", () => {
    const a = newId();
    assert.match(a, /^[0-9a-f]{16}$/);
    assert.notEqual(a, newId());
    assert.ok(isValidId(a));
  });

  it("newId uses the injected random source", () => {
    assert.equal(
      newId((n) => new Uint8Array(n).fill(0xab)),
      "abababababababab",
    );
  });

  it("isValidId refuses dashes, upper case and other lengths", () => {
    for (const bad of ["0123-56789abcdef", "0123456789ABCDEF", "0123456789abcde", "0123456789abcdef0", ""]) {
      assert.equal(isValidId(bad), false, bad);
    }
  });
});

describe("vm names", () => {
  it("accepts DNS labels", () => {
    for (const ok of ["a", "web", "web-1", "0x", "a".repeat(63)]) assert.ok(isValidVmName(ok), ok);
  });

  it("refuses what is not a DNS label", () => {
    for (const bad of ["", "-a", "a-", "Web", "a_b", "a.b", "a".repeat(64), "é"]) {
      assert.equal(isValidVmName(bad), false, bad);
    }
  });
});

describe("vm states", () => {
  it("isVmState knows exactly the listed states", () => {
    for (const s of VM_STATES) assert.ok(isVmState(s));
    assert.equal(isVmState("frozen"), false);
  });

  it("only starting, running, paused and stopping have a VMM process (not suspended)", () => {
    assert.deepEqual(
      VM_STATES.filter((s) => isVmActive(s)),
      ["starting", "running", "paused", "stopping"],
    );
  });
});

describe("imageKernelRef", () => {
  it("prefers the managed kernel, then the image's own files, then the default", () => {
    assert.deepEqual(imageKernelRef({ kernelId: "k", kernelPath: "/p" }), { kind: "managed", kernelId: "k" });
    assert.deepEqual(imageKernelRef({ kernelId: null, kernelPath: "/p" }), { kind: "own", path: "/p" });
    assert.deepEqual(imageKernelRef({ kernelId: null, kernelPath: null }), { kind: "default" });
  });
});
