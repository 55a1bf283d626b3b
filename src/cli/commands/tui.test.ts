import assert from "node:assert/strict";
import { test } from "node:test";
import { main } from "../main.js";

test("banger tui refuses politely when stdout is not a terminal", async () => {
  // under the test runner stdout is a pipe
  assert.equal(process.stdout.isTTY, undefined);
  let err = "";
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string) => {
    err += s;
    return true;
  }) as typeof process.stderr.write;
  try {
    assert.equal(await main(["tui"]), 2);
  } finally {
    process.stderr.write = write;
  }
  assert.match(err, /banger tui needs a terminal/);
  assert.match(err, /hint: for scripts use `banger vm list --json`/);
});
