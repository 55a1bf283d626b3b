import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { lastLines } from "./lastLines.js";

describe("lastLines", () => {
  it("reads the last lines, and from FILE.1 too when the log was just rotated", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "banger-lastlines-"));
    try {
      const f = path.join(dir, "console.log");
      assert.equal(await lastLines(f, 3), "", "absent");
      writeFileSync(`${f}.1`, "a\r\nb\nc\n");
      assert.equal(await lastLines(f, 2), "b\nc", "only the rotated file so far");
      writeFileSync(f, "d\n");
      assert.equal(await lastLines(f, 3), "b\nc\nd");
      writeFileSync(f, "d\ne\nf\ng\n");
      assert.equal(await lastLines(f, 3), "e\nf\ng", "enough in the current file");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
