/**
 * Process helpers for a daemonized VMM: liveness that proves the pid is still
 * our VMM (its command line carries a marker), waiting for exit, killing.
 */
import { readdirSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";

export interface ProcOps {
  /** The NUL-separated command line of a pid, or null when the process is gone. */
  readCmdline(pid: number): string | null;
  /** process.kill semantics: signal 0 probes. Throws ESRCH when there is no such process. */
  kill(pid: number, signal: NodeJS.Signals | 0): void;
}

export const realProc: ProcOps = {
  readCmdline(pid) {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "latin1");
    } catch {
      return null;
    }
  },
  kill(pid, signal) {
    process.kill(pid, signal);
  },
};

/** One string, or several (any of them), that the VMM's command line must contain. */
export type Marker = string | readonly string[];

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function validPid(pid: number): boolean {
  return Number.isInteger(pid) && pid > 1;
}

/**
 * True when `pid` runs and its command line contains `marker` (for example the
 * VM's QMP socket path), so a pid reused by another program is never taken for
 * the VMM. A zombie has an empty command line and counts as dead.
 */
export function isPidAlive(pid: number, marker: Marker, proc: ProcOps = realProc): boolean {
  if (!validPid(pid)) return false;
  try {
    proc.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const cmdline = proc.readCmdline(pid);
  if (!cmdline) return false;
  const line = cmdline.replaceAll("\0", " ");
  return typeof marker === "string" ? line.includes(marker) : marker.some((m) => line.includes(m));
}

/** Wait until the process is gone (or no longer ours). True when it exited before the deadline. */
export async function waitForExit(
  pid: number,
  marker: Marker,
  timeoutMs: number,
  opts: { pollMs?: number; proc?: ProcOps } = {},
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const pollMs = opts.pollMs ?? 50;
  for (;;) {
    if (!isPidAlive(pid, marker, opts.proc)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(pollMs, Math.max(1, deadline - Date.now())));
  }
}

/** Send `signal` (default SIGKILL) if the pid is still ours. True when a signal was sent. */
export function killPid(
  pid: number,
  marker: Marker,
  signal: NodeJS.Signals = "SIGKILL",
  proc: ProcOps = realProc,
): boolean {
  if (!isPidAlive(pid, marker, proc)) return false;
  try {
    proc.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** The pid in a pid file, or null when the file is missing or holds no pid. */
export async function readPidFile(file: string): Promise<number | null> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    return null;
  }
  const pid = Number.parseInt(text.trim(), 10);
  return validPid(pid) ? pid : null;
}

/** Every live pid whose command line carries `marker` (a VMM whose pid file was never written). */
export function findPids(marker: Marker, proc: ProcOps = realProc): number[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  return entries
    .filter((x) => /^\d+$/.test(x))
    .map(Number)
    .filter((pid) => pid !== process.pid && isPidAlive(pid, marker, proc));
}
