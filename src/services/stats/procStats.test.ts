import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BangerError } from "../../errors/index.js";
import { FakeCommandRunner } from "../../host/fake/FakeCommandRunner.js";
import {
  cpuPercent,
  DEFAULT_PROC_CONSTANTS,
  type ProcSample,
  parseStat,
  parseStatusRss,
  readProcConstants,
  readProcSample,
  sampleFromProc,
} from "./procStats.js";

// A real line, with a comm that contains spaces and parentheses.
const STAT =
  "4242 (fire cracker (vmm) x) S 1 4242 4242 0 -1 4194560 2573 0 0 0 1234 567 0 0 20 0 3 0 98765 " +
  "1094000640 3210 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 3 0 0 0 0 0";

describe("parseStat", () => {
  it("splits after the last ')' so comm may hold spaces and parentheses", () => {
    const f = parseStat(STAT);
    assert.deepEqual(f, {
      pid: 4242,
      comm: "fire cracker (vmm) x",
      state: "S",
      utime: 1234,
      stime: 567,
      startTime: 98765,
      rssPages: 3210,
    });
  });

  it("handles a comm that is only ')' characters", () => {
    const f = parseStat(STAT.replace("(fire cracker (vmm) x)", "() ) ))"));
    assert.equal(f?.comm, ") ) )");
    assert.equal(f?.utime, 1234);
  });

  it("returns null for text that is not a stat line", () => {
    for (const bad of [
      "",
      "garbage",
      "12 (x) S 1 2",
      "abc (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21",
    ]) {
      assert.equal(parseStat(bad), null, bad);
    }
  });
});

describe("parseStatusRss", () => {
  it("reads VmRSS in bytes", () => {
    assert.equal(
      parseStatusRss("Name:\tfc\nVmPeak:\t 9 kB\nVmRSS:\t   12840 kB\nThreads:\t3\n"),
      12840 * 1024,
    );
  });
  it("is null when the line is missing (zombie, kernel thread)", () => {
    assert.equal(parseStatusRss("Name:\tfc\nState:\tZ (zombie)\n"), null);
  });
});

describe("sampleFromProc", () => {
  const consts = { pageSize: 4096, clockTicks: 100 };
  it("sums utime and stime and prefers VmRSS", () => {
    const s = sampleFromProc(STAT, "VmRSS:\t100 kB\n", consts, 7n);
    assert.deepEqual(s, {
      pid: 4242,
      ticks: 1801,
      clockTicks: 100,
      rssBytes: 102400,
      startTime: 98765,
      at: 7n,
    });
  });
  it("falls back to the stat rss field times the page size", () => {
    assert.equal(sampleFromProc(STAT, "Name:\tx\n", consts, 0n)?.rssBytes, 3210 * 4096);
    assert.equal(
      sampleFromProc(STAT, null, { pageSize: 16384, clockTicks: 100 }, 0n)?.rssBytes,
      3210 * 16384,
    );
  });
  it("is null for zombie and dead processes", () => {
    assert.equal(sampleFromProc(STAT.replace(") S ", ") Z "), null, consts, 0n), null);
    assert.equal(sampleFromProc(STAT.replace(") S ", ") X "), null, consts, 0n), null);
  });
});

describe("cpuPercent", () => {
  const base: ProcSample = { pid: 1, ticks: 0, clockTicks: 100, rssBytes: 0, startTime: 5, at: 0n };
  it("is CPU seconds over wall seconds, in percent of one core", () => {
    assert.equal(cpuPercent(base, { ...base, ticks: 50, at: 1_000_000_000n }), 50);
    assert.equal(cpuPercent(base, { ...base, ticks: 400, at: 2_000_000_000n }), 200);
    assert.equal(cpuPercent(base, { ...base, ticks: 0, at: 1_000_000_000n }), 0);
  });
  it("is null for another pid, a reused pid or no elapsed time", () => {
    assert.equal(cpuPercent(base, { ...base, pid: 2, at: 1n }), null);
    assert.equal(cpuPercent(base, { ...base, startTime: 6, at: 1n }), null);
    assert.equal(cpuPercent(base, { ...base }), null);
  });
  it("never goes negative", () => {
    assert.equal(cpuPercent({ ...base, ticks: 10 }, { ...base, ticks: 5, at: 1_000_000n }), 0);
  });
});

describe("readProcConstants", () => {
  it("asks getconf", async () => {
    const runner = new FakeCommandRunner()
      .on(["getconf", "PAGE_SIZE"], { stdout: "16384\n" })
      .on(["getconf", "CLK_TCK"], { stdout: "250\n" });
    assert.deepEqual(await readProcConstants(runner), { pageSize: 16384, clockTicks: 250 });
    assert.deepEqual(runner.calls.sort(), [
      ["getconf", "CLK_TCK"],
      ["getconf", "PAGE_SIZE"],
    ]);
  });
  it("falls back to 4096 and 100 when getconf is missing or odd", async () => {
    const missing = new FakeCommandRunner().on(
      ["getconf"],
      new BangerError("PREFLIGHT_FAILED", "getconf is not installed"),
    );
    assert.deepEqual(await readProcConstants(missing), DEFAULT_PROC_CONSTANTS);
    const odd = new FakeCommandRunner()
      .on(["getconf", "PAGE_SIZE"], { stdout: "undefined\n" })
      .on(["getconf", "CLK_TCK"], { code: 1, stderr: "bad" });
    assert.deepEqual(await readProcConstants(odd), DEFAULT_PROC_CONSTANTS);
  });
});

describe("readProcSample", () => {
  it("reads this process", async () => {
    const s = await readProcSample(process.pid);
    assert.ok(s);
    assert.equal(s.pid, process.pid);
    assert.ok(s.rssBytes > 1024 * 1024, `rss ${s.rssBytes}`);
    assert.ok(s.ticks >= 0);
    assert.equal(typeof s.at, "bigint");
  });
  it("is null for a pid that does not exist and for nonsense pids", async () => {
    assert.equal(await readProcSample(0x3fffffff), null);
    assert.equal(await readProcSample(-1), null);
    assert.equal(await readProcSample(1.5), null);
  });
  it("reads from another proc root", async () => {
    assert.equal(await readProcSample(process.pid, DEFAULT_PROC_CONSTANTS, "/nonexistent-proc"), null);
  });
});
