import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isBangerError } from "../errors/index.js";
import {
  formatDuration,
  formatSize,
  GiB,
  KiB,
  MiB,
  parseDuration,
  parseSize,
  TiB,
  tryParseDuration,
  tryParseSize,
} from "./sizes.js";

describe("parseSize", () => {
  const good: Array<[string | number, number]> = [
    ["512M", 512 * MiB],
    ["512MiB", 512 * MiB],
    ["512mb", 512 * MiB],
    ["512m", 512 * MiB],
    ["512Mi", 512 * MiB],
    ["2G", 2 * GiB],
    ["2GB", 2 * GiB],
    ["2GiB", 2 * GiB],
    ["2 G", 2 * GiB],
    [" 1.5g ", 1.5 * GiB],
    ["4096K", 4 * MiB],
    ["1T", TiB],
    ["100B", 100],
    ["512", 512 * MiB],
    [512, 512 * MiB],
    [0.5, 512 * KiB],
    ["0", 0],
  ];
  for (const [input, bytes] of good) {
    it(`parses ${JSON.stringify(input)}`, () => assert.equal(parseSize(input, "--memory"), bytes));
  }

  const badInputs: Array<string | number> = [
    "",
    "abc",
    "2X",
    "-1G",
    "1.2.3G",
    "G",
    "2GiBs",
    "2 iB",
    -5,
    Number.NaN,
  ];
  for (const input of badInputs) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      const r = tryParseSize(input);
      assert.equal(r.ok, false);
      assert.throws(
        () => parseSize(input, "--memory"),
        (e: unknown) =>
          isBangerError(e) && e.code === "INVALID_ARGUMENT" && e.message.startsWith("--memory:") && !!e.hint,
      );
    });
  }

  it("rejects a fraction of a byte and sizes too large to be exact", () => {
    assert.equal(tryParseSize("0.3K").ok, false);
    const frac = tryParseSize("1.0000001K");
    assert.ok(!frac.ok && /whole number of bytes/.test(frac.message));
    const huge = tryParseSize("99999999T");
    assert.ok(!huge.ok && /too large/.test(huge.message));
  });
});

describe("formatSize", () => {
  const cases: Array<[number, string]> = [
    [512 * MiB, "512M"],
    [2 * GiB, "2G"],
    [8 * GiB, "8G"],
    [1.5 * GiB, "1.5G"],
    [1.25 * GiB, "1.25G"],
    [1025 * MiB, "1025M"],
    [TiB, "1T"],
    [64 * KiB, "64K"],
    [100, "100B"],
    [0, "0B"],
  ];
  for (const [bytes, text] of cases) {
    it(`formats ${bytes} as ${text} and parses it back`, () => {
      assert.equal(formatSize(bytes), text);
      assert.equal(parseSize(text, "x"), bytes);
    });
  }
});

describe("parseDuration / formatDuration", () => {
  const good: Array<[string | number, number]> = [
    ["5s", 5000],
    ["500ms", 500],
    ["1m", 60_000],
    ["1h", 3_600_000],
    ["1m30s", 90_000],
    ["1.5s", 1500],
    ["5", 5000],
    [5, 5000],
    [0.25, 250],
  ];
  for (const [input, ms] of good) {
    it(`parses ${JSON.stringify(input)}`, () =>
      assert.equal(parseDuration(input, "stats_poll_interval"), ms));
  }
  for (const input of ["", "5x", "s", "5 s", "-1s", "1d", "ms5"]) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      assert.equal(tryParseDuration(input).ok, false);
      assert.throws(() => parseDuration(input, "--interval"), /--interval: .*not a duration/);
    });
  }
  const formats: Array<[number, string]> = [
    [500, "500ms"],
    [5000, "5s"],
    [1500, "1.5s"],
    [60_000, "1m"],
    [90_000, "1m30s"],
    [3_600_000, "1h"],
    [3_660_000, "1h1m"],
  ];
  for (const [ms, text] of formats) {
    it(`formats ${ms} as ${text} and parses it back`, () => {
      assert.equal(formatDuration(ms), text);
      assert.equal(parseDuration(text, "x"), ms);
    });
  }
});
