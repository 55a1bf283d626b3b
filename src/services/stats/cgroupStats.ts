/**
 * A VMM's cgroup as the daemon sees it: which cgroup (from /proc/PID/cgroup),
 * its limits and its usage. Only banger's own per-VM cgroups count (their
 * path holds /banger/u<uid>/<vm id>); a VMM outside one gives null.
 */
import { readFile } from "node:fs/promises";
import { parseProcCgroup, processCgroupDir, type V1Controller } from "../../helper/cgroupLayout.js";

export interface VmmCgroup {
  version: 1 | 2;
  /** The cgroup path as /proc/PID/cgroup names it (v1: the memory hierarchy's). */
  path: string;
  memoryLimitBytes: number | null;
  pidsLimit: number | null;
  /** CPU quota in CPUs (quota / period), null when unlimited. */
  cpus: number | null;
  memoryBytes: number | null;
  /** CPU time used by the cgroup, in nanoseconds. */
  cpuUsageNs: number | null;
}

const BANGER_CG = /\/banger\/u\d+\/[0-9a-f]{16}$/;

/** A number from a cgroup file, or null ("max", -1, missing, or a v1 "unlimited" near 2^63). */
function num(text: string | null | undefined): number | null {
  if (text == null) return null;
  const n = Number(text.trim());
  return Number.isFinite(n) && n >= 0 && n < 2 ** 62 ? n : null;
}

function quotaCpus(quota: number | null, period: number | null): number | null {
  return quota !== null && period ? Math.round((quota / period) * 100) / 100 : null;
}

/** Reads files; injectable for tests. */
export type ReadText = (file: string) => Promise<string | null>;

const readText: ReadText = (f) => readFile(f, "utf8").catch(() => null);

export async function readVmmCgroup(pid: number, read: ReadText = readText): Promise<VmmCgroup | null> {
  if (!Number.isInteger(pid) || pid < 2) return null;
  const [procCg, mounts] = await Promise.all([read(`/proc/${pid}/cgroup`), read("/proc/self/mounts")]);
  if (procCg === null || mounts === null) return null;
  const cg = parseProcCgroup(procCg);
  const v1Path = cg.get("memory");
  if (v1Path !== undefined) {
    if (!BANGER_CG.test(v1Path)) return null;
    const dir = (c: V1Controller) => processCgroupDir(mounts, procCg, c);
    const f = (c: V1Controller, file: string) => {
      const d = dir(c);
      return d ? read(`${d}/${file}`) : Promise.resolve(null);
    };
    const [mem, pids, quota, period, usage, acct] = await Promise.all([
      f("memory", "memory.limit_in_bytes"),
      f("pids", "pids.max"),
      f("cpu", "cpu.cfs_quota_us"),
      f("cpu", "cpu.cfs_period_us"),
      f("memory", "memory.usage_in_bytes"),
      f("cpuacct", "cpuacct.usage"),
    ]);
    return {
      version: 1,
      path: v1Path,
      memoryLimitBytes: num(mem),
      pidsLimit: num(pids),
      cpus: quotaCpus(num(quota), num(period)),
      memoryBytes: num(usage),
      cpuUsageNs: num(acct),
    };
  }
  const v2Path = cg.get("");
  const d = processCgroupDir(mounts, procCg, "unified");
  if (v2Path === undefined || d === null || !BANGER_CG.test(v2Path)) return null;
  const [mem, pids, cpuMax, current, stat] = await Promise.all(
    ["memory.max", "pids.max", "cpu.max", "memory.current", "cpu.stat"].map((x) => read(`${d}/${x}`)),
  );
  const [q, p] = (cpuMax ?? "").trim().split(" ");
  const usec = /^usage_usec (\d+)$/m.exec(stat ?? "")?.[1];
  return {
    version: 2,
    path: v2Path,
    memoryLimitBytes: num(mem),
    pidsLimit: num(pids),
    cpus: quotaCpus(num(q), num(p)),
    memoryBytes: num(current),
    cpuUsageNs: usec === undefined ? null : Number(usec) * 1000,
  };
}
