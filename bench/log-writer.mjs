#!/usr/bin/env node
// Benchmark: the per-VM log writer. Two designs, same job (read a pipe, append
// to a file capped at 1 MiB, rotate keeping 2):
//   - banger-logger: the static C program banger runs (data/host/banger-logger.c);
//   - node: a Node process doing the same with banger's RotatingFile.
// For each: RSS when idle (what every running VM pays), RSS after the run, CPU
// time per MiB logged (utime + stime from /proc), and wall-clock throughput for
// 64 MiB of 80-byte lines. Needs gcc; run as root for /proc/PID/io of the
// (non-dumpable) C logger. Usage: node bench/log-writer.mjs [MiB]
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { root } from "./lib.mjs";

const { NodeCommandRunner } = await import(path.join(root, "dist/src/host/node/NodeCommandRunner.js"));
const { buildLogger } = await import(path.join(root, "dist/src/vmm/logger/build.js"));
const { makePipe } = await import(path.join(root, "dist/src/vmm/logger/vmLogs.js"));

const MiB = 1024 ** 2;
const total = Number(process.argv[2] ?? 64) * MiB;
const caps = { maxBytes: MiB, keep: 2 };
const dir = mkdtempSync(path.join(os.tmpdir(), "banger-logbench-"));
const tick = 100; // USER_HZ, the unit of /proc/PID/stat's utime and stime on Linux

const nodeLogger = `import { RotatingFile } from ${JSON.stringify(path.join(root, "dist/src/vmm/logger/rotate.js"))};
import { readSync } from "node:fs";
const out = new RotatingFile(process.argv[1], { maxBytes: ${caps.maxBytes}, keep: ${caps.keep} });
const buf = Buffer.alloc(65536);
for (;;) {
  let n;
  try { n = readSync(0, buf, 0, buf.length, null); } catch (e) { if (e.code === "EAGAIN") { await new Promise((r) => setTimeout(r, 1)); continue; } throw e; }
  if (n === 0) break;
  out.write(buf.subarray(0, n));
}`;

const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
const cpuSec = (pid) => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / tick;
};
const readBytes = (pid) => Number(/rchar:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/io`, "utf8"))?.[1]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function measure(name, start) {
  const sub = path.join(dir, name);
  mkdirSync(sub);
  const pipe = await makePipe(sub);
  const child = start(sub, pipe.read.fd);
  await new Promise((r) => child.once("spawn", r));
  await pipe.read.close();
  await sleep(500);
  const idle = rssKiB(child.pid);
  const line = Buffer.from(`${"x".repeat(79)}\n`);
  const chunk = Buffer.concat(Array.from({ length: 819 }, () => line)); // 65 520 bytes
  const cpu0 = cpuSec(child.pid);
  const t0 = process.hrtime.bigint();
  const base = readBytes(child.pid);
  for (let sent = 0; sent < total; sent += chunk.length) writeSync(pipe.write.fd, chunk);
  while (readBytes(child.pid) - base < total) await sleep(1);
  const sec = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuSec(child.pid) - cpu0;
  const peak = rssKiB(child.pid);
  await pipe.write.close();
  await new Promise((r) => child.once("exit", r));
  const mib = total / MiB;
  return { name, idleKiB: idle, afterKiB: peak, cpuMsPerMiB: (cpu * 1000) / mib, mibPerSec: mib / sec };
}

try {
  const bin = await buildLogger(new NodeCommandRunner(), path.join(dir, "bin"));
  const results = [
    await measure("banger-logger (C, static)", (sub, fd) => {
      const dirFd = openSync(sub, "r");
      const args = ["--max", String(caps.maxBytes), "--keep", String(caps.keep), "--dir", "3"];
      const child = spawn(bin, [...args, "--in", "4:console.log", "--tag", sub], {
        stdio: ["ignore", "ignore", "inherit", dirFd, fd],
      });
      child.once("spawn", () => closeSync(dirFd));
      return child;
    }),
    await measure("node + RotatingFile", (sub, fd) =>
      spawn(process.execPath, ["--input-type=module", "-e", nodeLogger, path.join(sub, "console.log")], {
        stdio: [fd, "ignore", "inherit"],
      }),
    ),
  ];
  console.log(`log writer: ${total / MiB} MiB of 80-byte lines through a pipe, cap 1 MiB, keep 2`);
  for (const r of results) {
    console.log(
      `  ${r.name.padEnd(26)} RSS idle ${(r.idleKiB / 1024).toFixed(1)} MiB, after ${(r.afterKiB / 1024).toFixed(1)} MiB; ` +
        `CPU ${r.cpuMsPerMiB.toFixed(2)} ms/MiB; ${r.mibPerSec.toFixed(0)} MiB/s`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
