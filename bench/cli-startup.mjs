#!/usr/bin/env node
// Benchmark: `banger vm list` (the sh launcher, against a running daemon with
// no VMs) next to a bare `node -e 0` on the same Node, interleaved in one run.
// Prints the medians of 10 runs each and their ratio (target <= 1.3x).
// Runs in a throwaway HOME/XDG tree and stops its daemon afterwards.
import { spawnSync } from "node:child_process";
import { banger, benchSandbox } from "./lib.mjs";

const RUNS = 10;
const box = benchSandbox("bgbench-start-");
// The launcher would pick banger's installed Node; pin it to this one so both sides run the same binary.
const env = { ...box.env, BANGER_NODE: process.execPath };

function timed(argv) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { env, encoding: "utf8" });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(" ")} exited ${r.status}: ${r.stderr}`);
  return ms;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2;
};

try {
  // Start the daemon and warm the compile cache before timing.
  for (let i = 0; i < 2; i++) timed([banger, "vm", "list"]);
  const bare = [];
  const list = [];
  for (let i = 0; i < RUNS; i++) {
    bare.push(timed([process.execPath, "-e", "0"]));
    list.push(timed([banger, "vm", "list"]));
  }
  const [b, l] = [median(bare), median(list)];
  console.log(
    `banger vm list vs node -e 0 (Node ${process.version}), medians of ${RUNS}: ` +
      `${l.toFixed(1)} ms vs ${b.toFixed(1)} ms = ${(l / b).toFixed(2)}x (target <= 1.3x)`,
  );
} finally {
  box.cleanup();
}
