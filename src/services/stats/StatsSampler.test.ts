import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { after, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { NodeCommandRunner } from "../../host/node/NodeCommandRunner.js";
import type { ProcSample } from "./procStats.js";
import { StatsSampler } from "./StatsSampler.js";

const children: ChildProcess[] = [];

/** A node child running `code`; resolves once it printed "ready". */
async function child(code: string): Promise<ChildProcess> {
  const c = spawn(process.execPath, ["-e", `process.stdout.write("ready\\n");${code}`], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(c);
  await once(c.stdout as NodeJS.ReadableStream, "data");
  return c;
}

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

describe("StatsSampler with real processes", () => {
  const sampler = new StatsSampler({ runner: new NodeCommandRunner() });

  it("a process burning CPU for ~300 ms shows > 20% of a core", async () => {
    const c = await child("const end = Date.now() + 10000; while (Date.now() < end) {}");
    const pid = c.pid as number;
    const first = await sampler.sample(pid);
    assert.ok(first);
    assert.equal(first.cpuPercent, null, "no interval yet on the first call");
    await sleep(300);
    const second = await sampler.sample(pid);
    assert.ok(second?.cpuPercent !== null && second?.cpuPercent !== undefined);
    assert.ok(second.cpuPercent > 20, `cpu ${second.cpuPercent}`);
    assert.ok(second.rssBytes > 0);
    c.kill("SIGKILL");
  });

  it("a sleeping process shows about 0%", async () => {
    const c = await child("setTimeout(() => {}, 10000);");
    const pid = c.pid as number;
    await sleep(100);
    await sampler.sample(pid);
    await sleep(300);
    const s = await sampler.sample(pid);
    assert.ok(s && s.cpuPercent !== null);
    assert.ok(s.cpuPercent < 5, `cpu ${s.cpuPercent}`);
    assert.ok(s.rssBytes > 1024 * 1024, `rss ${s.rssBytes}`);
    c.kill("SIGKILL");
  });

  it("a dead pid gives null and loses its history", async () => {
    const c = await child("setTimeout(() => {}, 10000);");
    const pid = c.pid as number;
    assert.ok(await sampler.sample(pid));
    const tracked = sampler.tracked;
    c.kill("SIGKILL");
    await once(c, "exit");
    assert.equal(await sampler.sample(pid), null);
    assert.equal(sampler.tracked, tracked - 1);
  });
});

describe("StatsSampler bookkeeping", () => {
  const fakeSample = (pid: number, ticks: number, ms: number): ProcSample => ({
    pid,
    ticks,
    clockTicks: 100,
    rssBytes: 4096,
    startTime: 1,
    at: BigInt(ms) * 1_000_000n,
  });

  it("computes CPU between consecutive calls per pid, and retain/forget drop history", async () => {
    const script = new Map<number, ProcSample[]>([
      [10, [fakeSample(10, 0, 0), fakeSample(10, 50, 1000), fakeSample(10, 60, 2000)]],
      [11, [fakeSample(11, 0, 0), fakeSample(11, 0, 1000)]],
    ]);
    const sampler = new StatsSampler({ read: async (pid) => script.get(pid)?.shift() ?? null });
    assert.deepEqual(await sampler.sample(10), { cpuPercent: null, rssBytes: 4096 });
    assert.deepEqual(await sampler.sample(11), { cpuPercent: null, rssBytes: 4096 });
    assert.deepEqual(await sampler.sample(10), { cpuPercent: 50, rssBytes: 4096 });
    assert.equal(sampler.tracked, 2);
    sampler.retain([10]);
    assert.equal(sampler.tracked, 1);
    assert.deepEqual(await sampler.sample(10), { cpuPercent: 10, rssBytes: 4096 });
    sampler.forget(10);
    assert.equal(sampler.tracked, 0);
  });

  it("runs getconf once, whatever the number of calls", async () => {
    let calls = 0;
    const runner = {
      run: async (argv: readonly string[]) => {
        calls++;
        return { argv: [...argv], code: 0, stdout: "100\n", stderr: "" };
      },
    };
    const sampler = new StatsSampler({ runner, read: async () => null });
    await Promise.all([sampler.sample(1), sampler.sample(2), sampler.sample(3)]);
    await sampler.sample(4);
    assert.equal(calls, 2, "PAGE_SIZE and CLK_TCK, once each");
  });
});
