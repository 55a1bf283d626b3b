#!/usr/bin/env node
// Benchmark: wall time of `banger daemon status` against a running daemon.
// Prints the median (and min/max) of 10 runs. Target: <= 100 ms.
// Runs in a throwaway HOME/XDG tree and stops its daemon afterwards.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const banger = path.join(root, "bin", "banger");
const dir = mkdtempSync(path.join(os.tmpdir(), "bgbench-"));
const env = {
  PATH: process.env.PATH,
  HOME: path.join(dir, "home"),
  XDG_RUNTIME_DIR: path.join(dir, "run"),
  NO_COLOR: "1",
};
mkdirSync(env.HOME, { recursive: true });
mkdirSync(env.XDG_RUNTIME_DIR, { recursive: true, mode: 0o700 });
const run = () => spawnSync(process.execPath, [banger, "daemon", "status"], { env, encoding: "utf8" });

try {
  const first = run();
  if (first.status !== 0) throw new Error(`daemon status failed: ${first.stderr}`);
  const times = [];
  for (let i = 0; i < 10; i++) {
    const t0 = process.hrtime.bigint();
    const r = run();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`daemon status failed: ${r.stderr}`);
    times.push(ms);
  }
  times.sort((a, b) => a - b);
  const median = (times[4] + times[5]) / 2;
  console.log(
    `banger daemon status (running daemon), 10 runs: median ${median.toFixed(1)} ms, min ${times[0].toFixed(1)} ms, max ${times[9].toFixed(1)} ms (target <= 100 ms)`,
  );
} finally {
  spawnSync(process.execPath, [banger, "daemon", "stop"], { env });
  try {
    const pid = Number(readFileSync(path.join(env.XDG_RUNTIME_DIR, "banger", "bangerd.pid"), "utf8"));
    if (pid) process.kill(pid, "SIGKILL");
  } catch {
    /* stopped */
  }
  rmSync(dir, { recursive: true, force: true });
}
