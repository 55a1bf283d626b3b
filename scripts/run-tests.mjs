#!/usr/bin/env node
// Runs the compiled test files with Node's built-in test runner.
// Usage: node scripts/run-tests.mjs [unit] [integration] [e2e] [--only SUBSTRING]
// With no suite named, all suites run. Build first (`npm run build`).
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
let only;
const suites = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--only") only = args[++i];
  else suites.push(args[i]);
}
const wanted = suites.length ? suites : ["unit", "integration", "e2e"];
const dirs = {
  // unit tests beside the code, and those of the test tooling (fake Firecracker, test guest recipe)
  unit: ["dist/src", "dist/test/fake-firecracker", "dist/test/guest"],
  integration: ["dist/test/integration"],
  e2e: ["dist/test/e2e"],
};
for (const s of wanted) {
  if (!(s in dirs)) {
    console.error(`unknown suite "${s}": use unit, integration or e2e`);
    process.exit(2);
  }
}

function find(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith(".test.js")) out.push(p);
  }
  return out;
}

console.log(`tests run on Node ${process.version} (${process.execPath})`);
const files = wanted
  .flatMap((s) => dirs[s].flatMap((d) => find(path.join(root, d))))
  .filter((f) => only === undefined || f.includes(only))
  .sort();
if (files.length === 0) {
  console.error("no test files found: run `npm run build` first");
  process.exit(1);
}
// Integration and e2e tests start daemons and guests: run files one at a time.
const concurrency = wanted.every((s) => s === "unit") ? [] : ["--test-concurrency=1"];
const r = spawnSync(process.execPath, ["--test", ...concurrency, ...files], { stdio: "inherit", cwd: root });
process.exit(r.status ?? 1);
