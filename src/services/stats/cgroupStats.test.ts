import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readVmmCgroup } from "./cgroupStats.js";
import type { ProcSample } from "./procStats.js";
import { StatsSampler } from "./StatsSampler.js";

const VM = "0123456789abcdef";
const V1_MOUNTS = [
  "cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0",
  "cgroup /sys/fs/cgroup/pids cgroup rw,pids 0 0",
  "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0",
].join("\n");

function files(map: Record<string, string>) {
  return async (f: string) => map[f] ?? null;
}

describe("readVmmCgroup", () => {
  it("v1: limits and usage of banger's VM cgroup, from the VMM's /proc/PID/cgroup", async () => {
    const m = `/sys/fs/cgroup/memory/ct/banger/u0/${VM}`;
    const c = `/sys/fs/cgroup/cpu,cpuacct/banger/u0/${VM}`;
    const cg = await readVmmCgroup(
      77,
      files({
        "/proc/77/cgroup": `8:pids:/banger/u0/${VM}\n4:memory:/ct/banger/u0/${VM}\n2:cpu,cpuacct:/banger/u0/${VM}\n`,
        "/proc/self/mounts": V1_MOUNTS,
        [`${m}/memory.limit_in_bytes`]: "704643072\n",
        [`${m}/memory.usage_in_bytes`]: "123456\n",
        [`/sys/fs/cgroup/pids/banger/u0/${VM}/pids.max`]: "130\n",
        [`${c}/cpu.cfs_quota_us`]: "200000\n",
        [`${c}/cpu.cfs_period_us`]: "100000\n",
        [`${c}/cpuacct.usage`]: "5000000\n",
      }),
    );
    assert.deepEqual(cg, {
      version: 1,
      path: `/ct/banger/u0/${VM}`,
      memoryLimitBytes: 704643072,
      pidsLimit: 130,
      cpus: 2,
      memoryBytes: 123456,
      cpuUsageNs: 5000000,
    });
  });

  it("v2: memory.max, pids.max, cpu.max, memory.current, cpu.stat usage_usec", async () => {
    const d = `/sys/fs/cgroup/banger/u1000/${VM}`;
    const cg = await readVmmCgroup(
      9,
      files({
        "/proc/9/cgroup": `0::/banger/u1000/${VM}\n`,
        "/proc/self/mounts": "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n",
        [`${d}/memory.max`]: "1000\n",
        [`${d}/pids.max`]: "max\n",
        [`${d}/cpu.max`]: "100000 100000\n",
        [`${d}/memory.current`]: "500\n",
        [`${d}/cpu.stat`]: "usage_usec 42\nuser_usec 40\n",
      }),
    );
    assert.deepEqual(cg, {
      version: 2,
      path: `/banger/u1000/${VM}`,
      memoryLimitBytes: 1000,
      pidsLimit: null,
      cpus: 1,
      memoryBytes: 500,
      cpuUsageNs: 42000,
    });
  });

  it("null for a VMM outside banger's cgroups, or a gone process", async () => {
    const outside = files({ "/proc/5/cgroup": "4:memory:/user.slice\n", "/proc/self/mounts": V1_MOUNTS });
    assert.equal(await readVmmCgroup(5, outside), null);
    assert.equal(await readVmmCgroup(6, outside), null);
    assert.equal(await readVmmCgroup(0, outside), null);
  });
});

describe("StatsSampler with a cgroup", () => {
  it("memory and CPU come from the cgroup when there is one", async () => {
    let t = 0n;
    let usage = 0;
    const proc = async (pid: number): Promise<ProcSample> => {
      t += 1_000_000_000n;
      return { pid, ticks: 1, clockTicks: 100, rssBytes: 1, startTime: 9, at: t };
    };
    const s = new StatsSampler({
      read: proc,
      readCgroup: async () => {
        usage += 500_000_000;
        const none = { memoryLimitBytes: null, pidsLimit: null, cpus: null };
        return { version: 1, path: "/banger/u0/x", ...none, memoryBytes: 777, cpuUsageNs: usage };
      },
    });
    assert.deepEqual(await s.sample(3), { cpuPercent: null, rssBytes: 777 });
    assert.deepEqual(await s.sample(3), { cpuPercent: 50, rssBytes: 777 });
  });
});
