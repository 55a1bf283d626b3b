import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { cutAt, RotatingFile, rotatedName, rotateIfOver, rotateSync } from "./rotate.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "banger-rotate-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const line = (i: number) => `line ${String(i).padStart(6, "0")}\n`; // 12 bytes

describe("cutAt", () => {
  it("takes all that fits, else up to the last line end that fits, else splits only an empty file", () => {
    const b = Buffer.from("aaa\nbbb\nccc\n");
    assert.equal(cutAt(b, 100, false), 12);
    assert.equal(cutAt(b, 9, false), 8);
    assert.equal(cutAt(b, 3, false), 0, "no line end fits: rotate first");
    assert.equal(cutAt(b, 3, true), 3, "a line longer than the cap is split in an empty file");
    assert.equal(cutAt(b, 0, true), 0);
  });
});

describe("rotateSync", () => {
  it("shifts NAME -> NAME.1 -> ... -> NAME.keep, replacing the oldest, skipping gaps", () => {
    const f = path.join(dir, "x.log");
    writeFileSync(f, "new");
    writeFileSync(rotatedName(f, 2), "old");
    rotateSync(f, 2);
    assert.ok(!existsSync(f));
    assert.equal(readFileSync(rotatedName(f, 1), "utf8"), "new");
    assert.equal(readFileSync(rotatedName(f, 2), "utf8"), "old", "a missing .1 moves nothing up");
    writeFileSync(f, "newer");
    rotateSync(f, 2);
    assert.equal(readFileSync(rotatedName(f, 1), "utf8"), "newer");
    assert.equal(readFileSync(rotatedName(f, 2), "utf8"), "new", "the oldest was replaced");
    assert.ok(!existsSync(rotatedName(f, 3)));
  });

  it("rotateIfOver rotates only a file at or past the cap", () => {
    const f = path.join(dir, "e.log");
    assert.equal(rotateIfOver(f, 10, 1), false, "missing");
    writeFileSync(f, "123456789");
    assert.equal(rotateIfOver(f, 10, 1), false);
    writeFileSync(f, "1234567890");
    assert.equal(rotateIfOver(f, 10, 1), true);
    assert.equal(readFileSync(rotatedName(f, 1), "utf8"), "1234567890");
  });
});

describe("RotatingFile", () => {
  it("keeps every file under the cap, ends files on line ends, keeps the newest keep+1 files", () => {
    const f = path.join(dir, "d.log");
    const out = new RotatingFile(f, { maxBytes: 100, keep: 2 });
    for (let i = 0; i < 100; i++) out.write(line(i));
    out.close();
    const files = [0, 1, 2].map((i) => rotatedName(f, i));
    for (const x of files) assert.ok(statSync(x).size <= 100, `${x} is under the cap`);
    assert.ok(!existsSync(rotatedName(f, 3)));
    const text = files
      .reverse()
      .map((x) => readFileSync(x, "utf8"))
      .join("");
    for (const x of files) assert.ok(readFileSync(x, "utf8").endsWith("\n"));
    const nums = text
      .trimEnd()
      .split("\n")
      .map((l) => Number(l.slice(5)));
    assert.equal(nums.at(-1), 99);
    assert.deepEqual(
      nums,
      nums.map((_, i) => nums[0]! + i),
      "consecutive: nothing lost between the kept files",
    );
    assert.equal(nums.length, 20, "8 lines of 12 bytes per full file: 4 in the current one, 8 in .1 and .2");
  });

  it("appends to an existing file and splits a line longer than the cap", () => {
    const f = path.join(dir, "l.log");
    writeFileSync(f, "old\n");
    const out = new RotatingFile(f, { maxBytes: 10, keep: 3 });
    out.write(`${"x".repeat(25)}\n`);
    out.close();
    assert.equal(readFileSync(rotatedName(f, 3), "utf8"), "old\n");
    assert.equal(readFileSync(rotatedName(f, 2), "utf8"), "x".repeat(10));
    assert.equal(readFileSync(rotatedName(f, 1), "utf8"), "x".repeat(10));
    assert.equal(readFileSync(f, "utf8"), "xxxxx\n");
  });
});
