import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { shellQuote } from "./shellQuote.js";

/** The words sh makes of a quoted line (each printed NUL-terminated). */
function shWords(line: string): string[] {
  const r = spawnSync("sh", ["-c", `printf '%s\\0' ${line}`], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split("\0").slice(0, -1);
}

describe("shellQuote", () => {
  it("leaves plain words bare and quotes the rest readably", () => {
    assert.equal(
      shellQuote(["ls", "-l", "/tmp/a_b.c", "k=v", "a@b:c%d+e,f"]),
      "ls -l /tmp/a_b.c k=v a@b:c%d+e,f",
    );
    assert.equal(shellQuote(["two words", "$HOME", ""]), "'two words' '$HOME' ''");
    assert.equal(shellQuote(["it's"]), `"it's"`);
    assert.equal(shellQuote(["it's $HOME"]), `'it'\\''s $HOME'`);
  });

  it("gives sh back exactly the words it was given", () => {
    const words = [
      "plain",
      "two words",
      "",
      "it's",
      "it's $HOME",
      'say "hi"',
      "back`tick`",
      "a\\b",
      "bang!",
      "*.ts",
      "new\nline",
      "tab\there",
      "'",
      "''",
      "semi;colon && pipe | amp &",
    ];
    assert.deepEqual(shWords(shellQuote(words)), words);
  });
});
