import type { CommandRunner } from "../../host/runner.js";
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
}

/**
 * CPU and memory of VMM processes, one call per pid per poll. It keeps the
 * previous sample of each pid, so CPU is the average over the poll interval.
 */
export class StatsSampler {
  private readonly previous = new Map<number, ProcSample>();
  private readonly read: (pid: number, consts: ProcConstants) => Promise<ProcSample | null>;
  private readonly runner: CommandRunner | undefined;
  private consts: Promise<ProcConstants> | null = null;

  constructor(opts: StatsSamplerOptions = {}) {
    this.runner = opts.runner;
    this.read = opts.read ?? ((pid, consts) => readProcSample(pid, consts));
  }

  /** Stats of `pid` now, or null when the process is gone (its history is dropped). */
  async sample(pid: number): Promise<ProcessStats | null> {
    const next = await this.read(pid, await this.constants());
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
