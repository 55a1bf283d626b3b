#!/usr/bin/env node
// Runs the compiled test files with Node's built-in test runner.
// Usage: node scripts/run-tests.mjs [unit] [integration] [e2e] [--only SUBSTRING]
//          [--dir DIR] [--skips FILE]
// With no suite named, all suites run. Build first (`npm run build`).
// --dir runs the *.test.js files under DIR instead of the suites, and --skips
// reads another skip list (both for testing this runner).
//
// Strict: a skipped test (a skipped describe counts each test inside it) fails
// the run unless test/skips.json lists it with a reason. The last line is
// `N passed, N failed, N skipped`, where skipped counts the listed skips only
// and every unlisted skip is counted as failed.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { loadSkipList, readEvents, summarize } from "./test-runner/summary.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
let only;
let dir;
let skipsFile = path.join(root, "test", "skips.json");
const suites = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--only") only = args[++i];
  else if (args[i] === "--dir") dir = path.resolve(args[++i]);
  else if (args[i] === "--skips") skipsFile = path.resolve(args[++i]);
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
const files = (dir ? find(dir) : wanted.flatMap((s) => dirs[s].flatMap((d) => find(path.join(root, d)))))
  .filter((f) => only === undefined || f.includes(only))
  .sort();
if (files.length === 0) {
  console.error("no test files found: run `npm run build` first");
  process.exit(1);
}
let skipList;
try {
  skipList = loadSkipList(skipsFile);
} catch (e) {
  console.error(`invalid skip list: ${e.message}`);
  process.exit(2);
}
const here = path.join(root, "scripts", "test-runner");
const tmp = mkdtempSync(path.join(os.tmpdir(), "banger-tests-"));
const eventsFile = path.join(tmp, "events.jsonl");
// Integration and e2e tests start daemons and guests: run files one at a time.
const concurrency = wanted.every((s) => s === "unit") ? [] : ["--test-concurrency=1"];
const r = spawnSync(
  process.execPath,
  [
    "--import",
    pathToFileURL(path.join(here, "skipShim.mjs")).href,
    "--test",
    ...concurrency,
    `--test-reporter=${pathToFileURL(path.join(here, "specReporter.mjs")).href}`,
    "--test-reporter-destination=stdout",
    `--test-reporter=${pathToFileURL(path.join(here, "reporter.mjs")).href}`,
    `--test-reporter-destination=${eventsFile}`,
    ...files,
  ],
  // NODE_TEST_CONTEXT is set when this runner itself runs under node --test: the inner run would
  // then report to that parent instead of to the reporters here.
  { stdio: "inherit", cwd: root, env: { ...process.env, NODE_TEST_CONTEXT: undefined } },
);
const events = existsSync(eventsFile) ? readEvents(eventsFile) : [];
rmSync(tmp, { recursive: true, force: true });
const sum = summarize(events, skipList);
if (sum.listedSkips.length) {
  console.log("\nSkipped, as test/skips.json allows:");
  for (const s of sum.listedSkips) console.log(`  - ${s.name}: ${s.why} (listed: ${s.listed})`);
}
if (sum.unlistedSkips.length) {
  console.log("\nSkipped but not listed in test/skips.json (each counts as a failure):");
  for (const s of sum.unlistedSkips) console.log(`  - ${s.name}: ${s.why}`);
}
if (sum.failures.length) {
  console.log("\nFailed:");
  for (const f of sum.failures) console.log(`  - ${f}`);
}
const runnerBroke = r.status !== 0 && sum.failed === 0;
if (runnerBroke)
  console.log(`\nthe test runner exited with ${r.status ?? r.signal} and no failed test was reported`);
console.log(`\n${sum.passed} passed, ${sum.failed} failed, ${sum.skipped} skipped`);
process.exit(sum.failed > 0 || runnerBroke || events.length === 0 ? 1 : 0);
