#!/usr/bin/env node
// Benchmark: a fresh install of banger's npm dependencies (`npm ci` of this
// checkout's package.json and package-lock.json into an empty directory, from
// npm's cache), next to the figure from before banger dropped better-sqlite3,
// whose native addon was compiled from source on every fresh install (no
// prebuilt binary can be downloaded here). That figure is kept in
// docs/decisions/sqlite.md.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { root } from "./lib.mjs";

const dir = mkdtempSync(path.join(os.tmpdir(), "bgbench-install-"));
try {
  for (const f of ["package.json", "package-lock.json"]) copyFileSync(path.join(root, f), path.join(dir, f));
  const t0 = performance.now();
  const r = spawnSync("npm", ["ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd: dir,
    encoding: "utf8",
  });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`npm ci failed: ${r.stderr}`);
  const doc = readFileSync(path.join(root, "docs", "decisions", "sqlite.md"), "utf8");
  const before = /fresh install before: ([\d.]+) s/.exec(doc)?.[1] ?? "?";
  console.log(
    `fresh install (npm ci from the cache, Node ${process.version}): ${s.toFixed(1)} s now; ` +
      `${before} s before (better-sqlite3 compiled from source; docs/decisions/sqlite.md)`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
