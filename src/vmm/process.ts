/**
 * Long-lived VMM processes: spawn detached with output appended to a log,
 * check liveness (a reused pid is not mistaken for ours), wait, kill.
 * Linux only: liveness reads /proc/PID/stat and /proc/PID/cmdline.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { BangerError, ErrorCodes } from "../errors/index.js";
import { poll } from "../util/poll.js";

export interface SpawnDetachedOptions {
  /** stdout and stderr are appended here (opened O_APPEND|O_CREAT)... */
  logPath?: string;
  /** ...or go to these fds (the caller's; see vmm/logger). */
  output?: { stdout: number; stderr: number };
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/**
 * Start `argv` in its own session (so a SIGHUP or the daemon's exit never
 * reaches it), stdin from /dev/null, stdout+stderr appended to `logPath`, and
 * let go of it. Resolves with the pid once the exec succeeded.
 */
export async function spawnDetached(argv: readonly string[], opts: SpawnDetachedOptions): Promise<number> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new BangerError(ErrorCodes.INTERNAL, "spawnDetached: empty argv");
  const fd = opts.output ? -1 : openSync(opts.logPath ?? "/dev/null", "a");
  try {
    const child = spawn(cmd, args, {
      detached: true,
      stdio: ["ignore", opts.output?.stdout ?? fd, opts.output?.stderr ?? fd],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once("error", reject);
      child.once("spawn", () => resolve(child.pid as number));
    });
    child.on("error", () => {
      /* later errors (kill on a gone process) are not interesting */
    });
    child.unref();
    return pid;
  } catch (e) {
    throw spawnError(cmd, e);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

function spawnError(cmd: string, e: unknown): BangerError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT") {
    return new BangerError(ErrorCodes.PREFLIGHT_FAILED, `cannot run ${cmd}: not found`, {
      cause: e,
      hint: "install it or point banger at the right binary in config.toml",
    });
  }
  if (code === "EACCES") {
    return new BangerError(
      ErrorCodes.PREFLIGHT_FAILED,
      `cannot run ${cmd}: permission denied (not executable?)`,
      {
        cause: e,
      },
    );
  }
  return new BangerError(ErrorCodes.VMM, `cannot run ${cmd}: ${(e as Error).message}`, { cause: e });
}

/** The process's argv from /proc/PID/cmdline, or null when it is gone (or a zombie). */
export function readCmdline(pid: number): string[] | null {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    if (raw === "") return null;
    const parts = raw.split("\0");
    if (parts[parts.length - 1] === "") parts.pop();
    return parts;
  } catch {
    return null;
  }
}

/** The one-letter state from /proc/PID/stat (R, S, D, Z, ...), or null. */
export function processState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) || null;
  } catch {
    return null;
  }
}

/** True when `pid` exists and is not a zombie (an exited child not reaped yet). */
export function isPidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const state = processState(pid);
  return state !== null && state !== "Z" && state !== "X";
}

/**
 * True when `pid` is alive and, if `expectArg` is given, one of its argv
 * elements equals it (for example the API socket path), so a pid reused by an
 * unrelated process is not taken for ours.
 */
export function isProcessAlive(pid: number, expectArg?: string): boolean {
  if (!isPidAlive(pid)) return false;
  if (expectArg === undefined) return true;
  return readCmdline(pid)?.includes(expectArg) ?? false;
}

export interface WaitOptions {
  /** See isProcessAlive. */
  expectArg?: string;
  pollMs?: number;
}

/** Wait until the process is gone. Resolves true when it exited, false on timeout. */
export async function waitForExit(pid: number, timeoutMs: number, opts: WaitOptions = {}): Promise<boolean> {
  const exited = () => !isProcessAlive(pid, opts.expectArg);
  return (await poll(exited, { timeoutMs, intervalMs: opts.pollMs ?? 20 })) ?? false;
}

/** Send a signal; false when the process does not exist. */
export function signalProcess(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw e;
  }
}

/** SIGKILL the process (if it is alive and matches) and wait until it is gone. */
export async function killAndWait(
  pid: number,
  opts: WaitOptions & { timeoutMs?: number } = {},
): Promise<void> {
  if (!isProcessAlive(pid, opts.expectArg)) return;
  signalProcess(pid, "SIGKILL");
  const timeoutMs = opts.timeoutMs ?? 5000;
  if (!(await waitForExit(pid, timeoutMs, opts))) {
    throw new BangerError(ErrorCodes.VMM, `process ${pid} is still alive ${timeoutMs} ms after SIGKILL`);
  }
}
