import { readFile } from "node:fs/promises";
import type { CommandRunner } from "../../host/runner.js";

/** Host constants needed to read /proc: bytes per page and clock ticks per second. */
export interface ProcConstants {
  pageSize: number;
  clockTicks: number;
}

/** Linux's usual values, used when getconf is missing or says something odd. */
export const DEFAULT_PROC_CONSTANTS: Readonly<ProcConstants> = { pageSize: 4096, clockTicks: 100 };

/** One reading of a process's CPU time and memory. */
export interface ProcSample {
  pid: number;
  /** utime + stime of the whole process (all threads), in clock ticks. */
  ticks: number;
  /** Clock ticks per second the ticks are counted in. */
  clockTicks: number;
  /** Resident set size in bytes (VmRSS). */
  rssBytes: number;
  /** Process start time in ticks since boot: tells a reused pid from the same process. */
  startTime: number;
  /** process.hrtime.bigint() when read, in nanoseconds. */
  at: bigint;
}

/** The fields of /proc/PID/stat that banger uses. */
export interface StatFields {
  pid: number;
  comm: string;
  state: string;
  utime: number;
  stime: number;
  startTime: number;
  rssPages: number;
}

/**
 * Parse one /proc/PID/stat line. `comm` is inside parentheses and may itself
 * contain spaces and parentheses, so the fields are split after the LAST ')'.
 * Returns null for anything that does not look like a stat line.
 */
export function parseStat(line: string): StatFields | null {
  const open = line.indexOf("(");
  const close = line.lastIndexOf(")");
  if (open < 1 || close < open) return null;
  const pid = Number(line.slice(0, open).trim());
  const rest = line
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3 (state); field N is rest[N - 3].
  const num = (field: number): number => Number(rest[field - 3]);
  const fields: StatFields = {
    pid,
    comm: line.slice(open + 1, close),
    state: rest[0] ?? "",
    utime: num(14),
    stime: num(15),
    startTime: num(22),
    rssPages: num(24),
  };
  const numbers = [pid, fields.utime, fields.stime, fields.startTime, fields.rssPages];
  if (!numbers.every(Number.isFinite) || fields.state === "") return null;
  return fields;
}

/** VmRSS from /proc/PID/status in bytes, or null when the line is absent (kernel threads, zombies). */
export function parseStatusRss(status: string): number | null {
  const m = /^VmRSS:\s+(\d+)\s*kB\s*$/m.exec(status);
  return m ? Number(m[1]) * 1024 : null;
}

/** Ask getconf for PAGE_SIZE and CLK_TCK once; fall back to 4096 and 100. */
export async function readProcConstants(runner: CommandRunner): Promise<ProcConstants> {
  const ask = async (name: string, fallback: number): Promise<number> => {
    try {
      const res = await runner.run(["getconf", name], { allowFailure: true, timeoutMs: 5000 });
      const n = Number(res.stdout.trim());
      return res.code === 0 && Number.isInteger(n) && n > 0 ? n : fallback;
    } catch {
      return fallback;
    }
  };
  const [pageSize, clockTicks] = await Promise.all([
    ask("PAGE_SIZE", DEFAULT_PROC_CONSTANTS.pageSize),
    ask("CLK_TCK", DEFAULT_PROC_CONSTANTS.clockTicks),
  ]);
  return { pageSize, clockTicks };
}

/** Build a sample from the text of /proc/PID/stat and /proc/PID/status; null for a dead or zombie process. */
export function sampleFromProc(
  stat: string,
  status: string | null,
  consts: ProcConstants,
  at: bigint,
): ProcSample | null {
  const f = parseStat(stat);
  // Z: exited, not yet reaped; X: dead. Neither is a running VMM.
  if (f === null || f.state === "Z" || f.state === "X") return null;
  const rss = (status === null ? null : parseStatusRss(status)) ?? f.rssPages * consts.pageSize;
  return {
    pid: f.pid,
    ticks: f.utime + f.stime,
    clockTicks: consts.clockTicks,
    rssBytes: rss,
    startTime: f.startTime,
    at,
  };
}

async function readOrNull(file: string): Promise<string | null> {
  try {
    return await readFile(file, "utf8");
  } catch {
    // ENOENT/ESRCH: the process is gone (or never was).
    return null;
  }
}

/** Read one sample of `pid`, or null when the process does not exist (any more). */
export async function readProcSample(
  pid: number,
  consts: ProcConstants = DEFAULT_PROC_CONSTANTS,
  procRoot = "/proc",
): Promise<ProcSample | null> {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  const at = process.hrtime.bigint();
  const stat = await readOrNull(`${procRoot}/${pid}/stat`);
  if (stat === null) return null;
  const status = await readOrNull(`${procRoot}/${pid}/status`);
  return sampleFromProc(stat, status, consts, at);
}

/**
 * CPU use between two samples of the same process, in percent of one core
 * (200 = two cores busy). Null when they are not comparable: another pid, a
 * reused pid, or no time between them.
 */
export function cpuPercent(prev: ProcSample, next: ProcSample): number | null {
  if (prev.pid !== next.pid || prev.startTime !== next.startTime) return null;
  if (prev.clockTicks !== next.clockTicks) return null; // one from /proc, one from the cgroup
  const elapsedNs = Number(next.at - prev.at);
  if (elapsedNs <= 0) return null;
  const cpuSec = Math.max(0, next.ticks - prev.ticks) / next.clockTicks;
  return (cpuSec / (elapsedNs / 1e9)) * 100;
}
