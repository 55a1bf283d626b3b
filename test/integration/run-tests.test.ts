/**
 * scripts/run-tests.mjs, run for real on small test files: a skipped suite
 * counts each test inside it, an unlisted skip fails the run, a listed one
 * does not, and the last line is `N passed, N failed, N skipped`.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { repoRoot } from "../helpers/repoRoot.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "brt-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const SUITE = `const { describe, it, before, after } = require("node:test");
const fs = require("node:fs");
describe("outer", { skip: "no widget here" }, () => {
  const made = fs.mkdtempSync(${JSON.stringify(path.join(dir, "made-"))});
  let fromBefore;
  before(() => { fromBefore = 1; fs.writeFileSync(${JSON.stringify(path.join(dir, "hook-ran"))}, "x"); });
  after(() => fs.rmSync(made, { recursive: true }));
  after(() => fromBefore.toFixed());
  it("a", () => { throw new Error("a skipped test must not run"); });
  describe("inner", () => {
    it("b", () => {});
    it("c", () => {});
  });
});
describe("plain", () => {
  it("ok", () => {});
  it("later", { skip: "not yet" }, () => {});
});
`;

function run(
  files: Record<string, string>,
  skips: unknown,
): { code: number | null; out: string; err: string } {
  const d = mkdtempSync(path.join(dir, "case-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(d, name), text);
  const skipsFile = path.join(d, "skips.json");
  writeFileSync(skipsFile, JSON.stringify(skips));
  const r = spawnSync(
    process.execPath,
    [path.join(repoRoot(), "scripts", "run-tests.mjs"), "--dir", d, "--skips", skipsFile],
    { encoding: "utf8", timeout: 60_000 },
  );
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const lastLine = (out: string): string => out.trim().split("\n").at(-1) ?? "";

describe("the strict test runner", () => {
  it("counts the tests of a skipped suite; unlisted skips fail the run", () => {
    const { code, out } = run({ "x.test.js": SUITE }, []);
    assert.equal(code, 1);
    assert.equal(lastLine(out), "1 passed, 4 failed, 0 skipped");
    for (const name of ["outer > a", "outer > inner > b", "outer > inner > c"])
      assert.ok(out.includes(`  - ${name}: no widget here`), `${name} listed as an unlisted skip:\n${out}`);
    assert.ok(out.includes("  - plain > later: not yet"));
  });

  it("listed skips pass, with their reasons printed; hooks of skipped suites never run", () => {
    const skips = [
      { name: "/^outer > /", reason: "widgets exist only on the lab machine" },
      { name: "plain > later", reason: "the later feature is not written yet" },
    ];
    const { code, out } = run({ "x.test.js": SUITE }, skips);
    assert.equal(code, 0, out);
    assert.equal(lastLine(out), "1 passed, 0 failed, 4 skipped");
    assert.ok(out.includes("(listed: widgets exist only on the lab machine)"));
    assert.equal(out.includes("skipShim.mjs:"), false, "no shim locations in the report");
    assert.throws(() => rmSync(path.join(dir, "hook-ran")), /ENOENT/, "the before hook did not run");
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.startsWith("made-")),
      [],
      "after hooks ran and removed what the body made; one failing on the missing before state did no harm",
    );
  });

  it("a failing test and a file that cannot load are failures", () => {
    const files = {
      "bad.test.js": 'require("node:test").it("breaks", () => { throw new Error("boom"); });\n',
      "crash.test.js": 'throw new Error("cannot load");\n',
      "good.test.js": 'require("node:test").it("fine", () => {});\n',
    };
    const { code, out } = run(files, []);
    assert.equal(code, 1);
    assert.equal(lastLine(out), "1 passed, 2 failed, 0 skipped");
  });

  it("a skip list entry without a reason is refused", () => {
    const { code, err } = run({ "x.test.js": SUITE }, [{ name: "outer" }]);
    assert.equal(code, 2);
    assert.match(err, /skips\.json\[0\]\.reason: say why this skip is acceptable/);
  });
});
