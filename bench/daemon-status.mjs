#!/usr/bin/env node
// Benchmark: wall time of `banger daemon status` against a running daemon.
// Prints the median (and min/max) of 10 runs. Target: <= 100 ms.
// Runs in a throwaway HOME/XDG tree and stops its daemon afterwards.
import { benchSandbox } from "./lib.mjs";

const box = benchSandbox("bgbench-");
const run = () => box.run(["daemon", "status"]);

try {
  // `daemon status` never starts a daemon: start it first.
  const first = box.run(["daemon", "start"]);
  if (first.status !== 0) throw new Error(`daemon start failed: ${first.stderr}`);
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
  box.cleanup();
}
