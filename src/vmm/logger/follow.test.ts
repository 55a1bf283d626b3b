import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { LogFollower } from "./follow.js";
import { RotatingFile, rotatedName } from "./rotate.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "banger-follow-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const line = (i: number) => `line ${String(i).padStart(6, "0")}\n`;

async function collect(f: LogFollower, into: Buffer[]): Promise<void> {
  await f.poll((b) => into.push(b));
}

function numbers(chunks: Buffer[]): number[] {
  const text = Buffer.concat(chunks).toString();
  return text === ""
    ? []
    : text
        .trimEnd()
        .split("\n")
        .map((l) => Number(l.slice(5)));
}

describe("LogFollower", () => {
  it("follows across rotations, up to keep of them between two polls: every line exactly once", async () => {
    const file = path.join(dir, "console.log");
    const out = new RotatingFile(file, { maxBytes: 120, keep: 4 }); // 10 lines per file
    const f = new LogFollower(file);
    await f.start(0);
    const got: Buffer[] = [];
    let n = 0;
    // Batches of 0 .. 40 lines: up to 4 rotations between two polls.
    for (const batch of [3, 7, 0, 15, 40, 1, 9, 10, 33, 22, 5, 38]) {
      for (let i = 0; i < batch; i++) out.write(line(n++));
      await collect(f, got);
    }
    out.close();
    await f.close();
    assert.deepEqual(
      numbers(got),
      Array.from({ length: n }, (_, i) => i),
    );
  });

  it("a follower more than keep rotations behind goes on with the oldest file left, never repeating", async () => {
    const file = path.join(dir, "c.log");
    const out = new RotatingFile(file, { maxBytes: 120, keep: 2 });
    const f = new LogFollower(file);
    await f.start(0);
    const got: Buffer[] = [];
    for (let i = 0; i < 5; i++) out.write(line(i));
    await collect(f, got);
    for (let i = 5; i < 100; i++) out.write(line(i));
    await collect(f, got);
    out.close();
    await f.close();
    const nums = numbers(got);
    assert.deepEqual(nums.slice(0, 10), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "the held file is read to its end");
    assert.equal(nums.at(-1), 99);
    for (let i = 1; i < nums.length; i++) assert.ok(nums[i]! > nums[i - 1]!, "in order, no repeats");
    assert.deepEqual(
      nums.slice(10),
      Array.from({ length: 30 }, (_, i) => 70 + i),
      "the 3 files left",
    );
  });

  it("waits out a half-done rotation (renamed, new file not made yet) and starts a new file at byte 0", async () => {
    const file = path.join(dir, "h.log");
    writeFileSync(file, line(0));
    const f = new LogFollower(file);
    await f.start();
    const got: Buffer[] = [];
    await collect(f, got);
    writeFileSync(file, line(1), { flag: "a" });
    renameSync(file, rotatedName(file, 1));
    await collect(f, got);
    writeFileSync(file, line(2));
    await collect(f, got);
    await f.close();
    assert.deepEqual(numbers(got), [0, 1, 2]);
  });

  it("starts at the tail, and a missing file is picked up once it appears", async () => {
    const file = path.join(dir, "t.log");
    const f = new LogFollower(file);
    await f.start(24);
    const got: Buffer[] = [];
    await collect(f, got);
    assert.equal(got.length, 0);
    writeFileSync(file, line(0) + line(1) + line(2));
    await collect(f, got);
    assert.deepEqual(numbers(got), [0, 1, 2], "a file that appeared later is read from its start");
    await f.close();
    const g = new LogFollower(file);
    await g.start(24);
    const tail: Buffer[] = [];
    await collect(g, tail);
    await g.close();
    assert.deepEqual(numbers(tail), [1, 2]);
  });
});
