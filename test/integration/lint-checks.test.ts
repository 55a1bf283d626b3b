/**
 * The lint step's own checks, run for real on small trees: scripts/check-size.mjs (functions over
 * 60 lines, files over 400, the allowlist) and the dependency-cruiser cycle rule
 * (.dependency-cruiser.cjs, type-only imports included, one allowlisted cycle).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { repoRoot } from "../helpers/repoRoot.js";

const base = mkdtempSync(path.join(os.tmpdir(), "blint-"));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

/** A fresh tree with these files (paths relative to it). */
function tree(files: Record<string, string>): string {
  const dir = path.join(base, `t${n++}`);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

/** A function whose text spans exactly `lines` lines. */
function fn(name: string, lines: number): string {
  const body = Array.from({ length: lines - 2 }, (_, i) => `  x += ${i};`).join("\n");
  return `export function ${name}(x: number): number {\n${body}\n}\n`;
}

const allow = (entries: unknown[]) => JSON.stringify({ allow: entries });

function checkSize(dir: string) {
  const r = spawnSync(process.execPath, [path.join(repoRoot(), "scripts/check-size.mjs"), "--root", dir], {
    encoding: "utf8",
  });
  return { code: r.status, out: r.stdout + r.stderr };
}

describe("check-size", () => {
  it("passes 60-line functions and 400-line files, fails 61 and 401, ignores tests", () => {
    const ok = tree({
      "src/a.ts": fn("sixty", 60),
      "src/b.ts": `${fn("short", 3)}${"//\n".repeat(397)}`,
      "src/a.test.ts": fn("longTest", 200),
      "scripts/size-allowlist.json": allow([]),
    });
    const r = checkSize(ok);
    assert.equal(r.code, 0, r.out);
    const bad = tree({
      "src/a.ts": fn("sixtyOne", 61),
      "src/sub/b.ts": `${fn("short", 3)}${"//\n".repeat(398)}`,
      "scripts/size-allowlist.json": allow([]),
    });
    const b = checkSize(bad);
    assert.equal(b.code, 1, b.out);
    assert.match(b.out, /src\/a\.ts:1 function sixtyOne has 61 lines/);
    assert.match(b.out, /src\/sub\/b\.ts has 401 lines/);
  });

  it("names methods and arrow functions by their class or variable", () => {
    const body = Array.from({ length: 60 }, () => "    this.n++;").join("\n");
    const dir = tree({
      "src/c.ts": `export class Counter {\n  n = 0;\n  bump(): void {\n${body}\n  }\n}\nexport const go = () => {\n${body}\n};\n`,
      "scripts/size-allowlist.json": allow([]),
    });
    const r = checkSize(dir);
    assert.equal(r.code, 1);
    assert.match(r.out, /function Counter\.bump has 62 lines/);
    assert.match(r.out, /function go has 62 lines/);
  });

  it("lets allowlisted offenders pass and fails on an entry that no longer matches", () => {
    const files = { "src/a.ts": fn("long", 80), "src/b.ts": "//\n".repeat(450) };
    const listed = [
      { file: "src/a.ts", function: "long", reason: "test" },
      { file: "src/b.ts", reason: "test" },
    ];
    const r = checkSize(tree({ ...files, "scripts/size-allowlist.json": allow(listed) }));
    assert.equal(r.code, 0, r.out);
    const stale = checkSize(
      tree({
        ...files,
        "scripts/size-allowlist.json": allow([...listed, { file: "src/gone.ts", reason: "x" }]),
      }),
    );
    assert.equal(stale.code, 1);
    assert.match(stale.out, /lists "src\/gone\.ts", which is no longer over the limit/);
  });
});

function cruise(files: Record<string, string>) {
  const dir = tree({
    ...files,
    "tsconfig.json": JSON.stringify({
      compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", strict: true },
      include: ["src/**/*.ts"],
    }),
  });
  copyFileSync(path.join(repoRoot(), ".dependency-cruiser.cjs"), path.join(dir, ".dependency-cruiser.cjs"));
  const bin = path.join(repoRoot(), "node_modules", ".bin", "depcruise");
  const r = spawnSync(bin, ["src", "--config", ".dependency-cruiser.cjs", "--output-type", "err"], {
    cwd: dir,
    encoding: "utf8",
  });
  return { code: r.status, out: r.stdout + r.stderr };
}

describe("no-circular (dependency-cruiser)", () => {
  it("fails on a cycle, also when one side imports only types", () => {
    const r = cruise({
      "src/a.ts": 'import { b } from "./b.js";\nexport const a = () => b;\n',
      "src/b.ts": 'import type { a } from "./a.js";\nexport const b: typeof a | null = null;\n',
    });
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /no-circular: src\/(a|b)\.ts/);
  });

  it("passes a tree without cycles", () => {
    const r = cruise({
      "src/types.ts": "export interface T { n: number }\n",
      "src/a.ts": 'import type { T } from "./types.js";\nexport const a = (t: T) => t.n;\n',
      "src/b.ts":
        'import { a } from "./a.js";\nimport type { T } from "./types.js";\nexport const b = (t: T) => a(t);\n',
    });
    assert.equal(r.code, 0, r.out);
  });

  it("allows no cycle, not even VmService <-> VmLifecycle (the last one, now untied)", () => {
    const pair = cruise({
      "src/services/vms/VmService.ts": 'import { L } from "./VmLifecycle.js";\nexport class S { l = L; }\n',
      "src/services/vms/VmLifecycle.ts":
        'import type { S } from "./VmService.js";\nexport const L = (s: S) => s;\n',
    });
    assert.notEqual(pair.code, 0, pair.out);
    assert.match(pair.out, /no-circular/);
  });
});
