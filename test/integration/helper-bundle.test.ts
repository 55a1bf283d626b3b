/**
 * The helper bundle is one self-contained file: it imports nothing but node:
 * builtins, and a copy of it alone in an empty directory answers requests.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { repoRoot } from "../helpers/repoRoot.js";

const BUNDLE = path.join(repoRoot(), "dist/helper/banger-helper.mjs");

describe("helper bundle", () => {
  it("imports only node: builtins", () => {
    const text = readFileSync(BUNDLE, "utf8");
    const specifiers = [
      ...text.matchAll(/\bfrom\s*["']([^"']+)["']/g),
      ...text.matchAll(/\bimport\s*["']([^"']+)["']/g),
      ...text.matchAll(/\bimport\(\s*["'`]?([^"'`)]*)/g),
      ...text.matchAll(/\brequire\(\s*["'`]?([^"'`)]*)/g),
    ].map((m) => m[1] ?? "");
    assert.ok(specifiers.length > 0, "the bundle has imports to check");
    assert.deepEqual(
      specifiers.filter((s) => !s.startsWith("node:")),
      [],
    );
    assert.ok(text.startsWith("#!/usr/bin/env node\n"));
  });

  it("runs alone, copied into an empty directory", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "banger-helper-"));
    try {
      const copy = path.join(dir, "banger-helper");
      copyFileSync(BUNDLE, copy);
      const r = spawnSync(process.execPath, [copy], {
        input: `${JSON.stringify({ id: 3, verb: "hello", args: {} })}\n{"id":4,"verb":"exec","args":{}}\n`,
        encoding: "utf8",
        cwd: dir,
        env: {},
      });
      assert.equal(r.status, 0, r.stderr);
      const [hello, refused] = r.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      assert.equal(hello.ok, true);
      assert.equal(hello.result.uid, process.getuid?.());
      assert.equal(refused.ok, false);
      assert.equal(refused.error.code, "UNKNOWN_VERB");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
