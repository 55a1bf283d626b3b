import assert from "node:assert/strict";
import { test } from "node:test";
import { BangerError } from "../errors/index.js";
import { randomVmName, validateVmName } from "./names.js";

test("valid DNS labels pass", () => {
  for (const n of ["a", "dev", "my-vm-2", "0abc", "x".repeat(63)]) assert.equal(validateVmName(n), n);
});

test("invalid names are refused with the reason and a suggestion", () => {
  const cases: Array<[string, RegExp, string]> = [
    ["", /it is empty/, "my-vm"],
    ["My_VM", /uppercase/, "my-vm"],
    ["-lead", /starts or ends with '-'/, "lead"],
    ["a.b", /characters other than/, "a-b"],
    ["x".repeat(64), /64 characters long/, "x".repeat(63)],
  ];
  for (const [name, why, suggestion] of cases) {
    assert.throws(
      () => validateVmName(name),
      (e: unknown) => {
        assert.ok(e instanceof BangerError);
        assert.equal(e.code, "INVALID_ARGUMENT");
        assert.match(e.message, why);
        assert.ok(e.hint?.includes(`"${suggestion}"`), e.hint);
        return true;
      },
    );
  }
});

test("random names are valid labels and avoid taken ones", () => {
  const taken = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const n = randomVmName((x) => taken.has(x));
    validateVmName(n);
    assert.ok(!taken.has(n));
    taken.add(n);
  }
  // a generator that always collides falls back to a numbered name
  let k = 0;
  const n = randomVmName(
    (x) => !/-\d+$/.test(x),
    () => k++ % 3,
  );
  assert.match(n, /-\d+$/);
});
