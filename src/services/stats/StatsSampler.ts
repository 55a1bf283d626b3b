import type { CommandRunner } from "../../host/runner.js";
import { readVmmCgroup, type VmmCgroup } from "./cgroupStats.js";
import {
  cpuPercent,
  DEFAULT_PROC_CONSTANTS,
  type ProcConstants,
  type ProcSample,
  readProcConstants,
  readProcSample,
} from "./procStats.js";

export interface ProcessStats {
  /** Percent of one core since the previous call for this pid; null on the first call. */
  cpuPercent: number | null;
  rssBytes: number;
}

export interface StatsSamplerOptions {
  /** Runs getconf once for the page size and clock ticks; without it the defaults are used. */
  runner?: CommandRunner;
  /** Override the /proc reader (tests). */
  read?: (pid: number, consts: ProcConstants) => Promise<ProcSample | null>;
  /** The VMM's cgroup (default: the real one; with a custom `read`, none unless given). */
  readCgroup?: (pid: number) => Promise<VmmCgroup | null>;
}

/** CPU time from a cgroup is counted in nanoseconds: "ticks" of 1e9 per second. */
const NS_PER_SEC = 1e9;

/** Memory and CPU time from the VM's cgroup, when there is one: they count every thread and the guest's memory charged there. */
function withCgroup(s: ProcSample, cg: VmmCgroup | null): ProcSample {
  if (!cg || cg.cpuUsageNs === null || cg.memoryBytes === null) return s;
  return { ...s, ticks: cg.cpuUsageNs, clockTicks: NS_PER_SEC, rssBytes: cg.memoryBytes };
}

/**
 * CPU and memory of VMM processes, one call per pid per poll. It keeps the
 * previous sample of each pid, so CPU is the average over the poll interval.
 */
export class StatsSampler {
  private readonly previous = new Map<number, ProcSample>();
  private readonly read: (pid: number, consts: ProcConstants) => Promise<ProcSample | null>;
  private readonly runner: CommandRunner | undefined;
  private readonly readCgroup: (pid: number) => Promise<VmmCgroup | null>;
  private consts: Promise<ProcConstants> | null = null;

  constructor(opts: StatsSamplerOptions = {}) {
    this.runner = opts.runner;
    this.read = opts.read ?? ((pid, consts) => readProcSample(pid, consts));
    this.readCgroup = opts.readCgroup ?? (opts.read ? async () => null : (pid) => readVmmCgroup(pid));
  }

  /** Stats of `pid` now, or null when the process is gone (its history is dropped). */
  async sample(pid: number): Promise<ProcessStats | null> {
    const fromProc = await this.read(pid, await this.constants());
    const next = fromProc && withCgroup(fromProc, await this.readCgroup(pid).catch(() => null));
    if (next === null) {
      this.previous.delete(pid);
      return null;
    }
    const prev = this.previous.get(pid);
    this.previous.set(pid, next);
    return { cpuPercent: prev ? cpuPercent(prev, next) : null, rssBytes: next.rssBytes };
  }

  /** Drop the history of one pid (its VM stopped). */
  forget(pid: number): void {
    this.previous.delete(pid);
  }

  /** Keep history only for these pids (the VMs still running). */
  retain(pids: Iterable<number>): void {
    const keep = new Set(pids);
    for (const pid of this.previous.keys()) if (!keep.has(pid)) this.previous.delete(pid);
  }

  /** How many pids have history (for tests and status). */
  get tracked(): number {
    return this.previous.size;
  }

  private constants(): Promise<ProcConstants> {
    if (this.consts === null) {
      const runner = this.runner;
      this.consts = runner ? readProcConstants(runner) : Promise.resolve({ ...DEFAULT_PROC_CONSTANTS });
    }
    return this.consts;
  }
}
