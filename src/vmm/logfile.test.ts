import assert from "node:assert/strict";
import {
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { capLogFile } from "./logfile.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "banger-logfile-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("a small file is left alone", async () => {
  const f = path.join(dir, "small.log");
  writeFileSync(f, "hello\n");
  assert.equal(await capLogFile(f, 100), 0);
  assert.equal(readFileSync(f, "utf8"), "hello\n");
});

test("a missing file is fine", async () => {
  assert.equal(await capLogFile(path.join(dir, "nope.log"), 100), 0);
});

test("a file over the cap keeps its last half, from a line boundary", async () => {
  const f = path.join(dir, "big.log");
  const lines = Array.from({ length: 100 }, (_, i) => `line ${String(i).padStart(3, "0")}\n`); // 9 bytes each
  writeFileSync(f, lines.join(""));
  const dropped = await capLogFile(f, 200);
  const kept = readFileSync(f, "utf8");
  assert.ok(kept.length <= 100, `kept ${kept.length} bytes`);
  assert.equal(dropped, 900 - kept.length);
  assert.ok(kept.startsWith("line "), "starts at a whole line");
  assert.ok(kept.endsWith("line 099\n"), "keeps the newest output");
  assert.equal(kept, lines.slice(-kept.length / 9).join(""));
});

test("a single long line without newlines is cut to exactly half", async () => {
  const f = path.join(dir, "oneline.log");
  writeFileSync(f, `${"x".repeat(1000)}END`);
  await capLogFile(f, 100);
  const kept = readFileSync(f, "utf8");
  assert.equal(kept.length, 50);
  assert.ok(kept.endsWith("END"));
});

test("a writer holding the file with O_APPEND keeps appending at the new end", async () => {
  const f = path.join(dir, "append.log");
  const fd = openSync(f, "a");
  try {
    writeSync(fd, `${"a".repeat(300)}\n${"b".repeat(40)}\n`);
    await capLogFile(f, 200);
    writeSync(fd, "after\n");
  } finally {
    closeSync(fd);
  }
  const kept = readFileSync(f, "utf8");
  assert.equal(kept, `${"b".repeat(40)}\nafter\n`);
  assert.equal(statSync(f).size, kept.length);
});

test("maxBytes must be sensible", async () => {
  await assert.rejects(capLogFile(path.join(dir, "x.log"), 0), /maxBytes/);
});
