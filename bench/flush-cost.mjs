#!/usr/bin/env node
// Benchmark: what honouring guest flushes costs on this host's disk.
// Firecracker's "Writeback" (and QEMU's cache=writeback) turn every flush the
// guest sends into an fdatasync of the drive's backing file; "Unsafe" drops
// it. The guest-side work is the same in both modes, so the difference is the
// host's flush cost, measured here on a file in DIR (default: the OS temp dir;
// point it at banger's state dir to measure that filesystem):
//   - dd conv=fsync: 256 MiB written in 1 MiB blocks, one flush at the end;
//   - commits: 2000 writes of 4 KiB, a flush after each (a database's journal).
// Prints the median of 3 runs per mode, and the ratio.
// Usage: node bench/flush-cost.mjs [DIR]
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const MiB = 1024 ** 2;
const dir = mkdtempSync(path.join(process.argv[2] ?? os.tmpdir(), "banger-flush-"));

function run(name, blocks, blockSize, flushEvery, flush) {
  const file = path.join(dir, name);
  const buf = Buffer.alloc(blockSize, 0xa5);
  const fd = openSync(file, "w");
  const t0 = process.hrtime.bigint();
  for (let i = 1; i <= blocks; i++) {
    writeSync(fd, buf);
    if (flush && (i % flushEvery === 0 || i === blocks)) fdatasyncSync(fd);
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  closeSync(fd);
  rmSync(file);
  return ms;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cases = [
  { name: "dd 256 MiB, conv=fsync", blocks: 256, size: MiB, every: 256 },
  { name: "2000 commits of 4 KiB", blocks: 2000, size: 4096, every: 1 },
];
try {
  for (const c of cases) {
    const unsafe = median([0, 1, 2].map(() => run("u", c.blocks, c.size, c.every, false)));
    const writeback = median([0, 1, 2].map(() => run("w", c.blocks, c.size, c.every, true)));
    console.log(
      `${c.name}: unsafe ${unsafe.toFixed(0)} ms, writeback ${writeback.toFixed(0)} ms (x${(writeback / unsafe).toFixed(2)})`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
