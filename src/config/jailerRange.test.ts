import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse } from "smol-toml";
import { validateConfig } from "./validate.js";

const ENV = { HOME: "/home/ada" };
const problems = (toml: string) => validateConfig(parse(toml), ENV).problems;

describe("[firecracker] jailer_uid_range", () => {
  it("defaults to 900000-965535 and takes a valid range", () => {
    assert.deepEqual(validateConfig(null, ENV).config?.firecracker.jailer_uid_range, {
      value: { first: 900000, last: 965535 },
      source: "default",
    });
    const cfg = validateConfig(parse('[firecracker]\njailer_uid_range = "200000-200099"'), ENV).config;
    assert.deepEqual(cfg?.firecracker.jailer_uid_range, {
      value: { first: 200000, last: 200099 },
      source: "config",
    });
  });

  it("bad values name the field, the value and how to fix it; nothing resolves", () => {
    const cases: Array<[string, RegExp]> = [
      ["900000", /expected "FIRST-LAST" .*got "900000" \(a string\)/],
      ["1000-70000", /must start at 65536 or above .*got 1000/],
      ["900010-900000", /must hold at least 16 uids/],
      ["900000-4294967295", /uids end at 4294967294/],
    ];
    for (const [value, message] of cases) {
      const p = problems(`[firecracker]\njailer_uid_range = "${value}"`);
      assert.equal(p.length, 1, value);
      assert.equal(p[0]?.path, "firecracker.jailer_uid_range");
      assert.match(p[0]?.message ?? "", message);
      assert.equal(validateConfig(parse(`[firecracker]\njailer_uid_range = "${value}"`), ENV).config, null);
    }
    assert.match(
      problems("[firecracker]\njailer_uid_range = 5")[0]?.message ?? "",
      /for example "900000-965535"/,
    );
    assert.match(
      problems('[firecracker]\njailer_uid_rnage = "1-2"')[0]?.message ?? "",
      /did you mean "jailer_uid_range"/,
    );
  });
});
