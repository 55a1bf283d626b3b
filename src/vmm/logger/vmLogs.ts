/**
 * Where a VMM's output goes. The daemon uses RotatingLogs: a banger-logger
 * process per VM (data/host/banger-logger.c) reads the VMM's stdout/stderr
 * and console through pipes and writes size-capped, rotated files, also while
 * the daemon is down. PlainLogs appends to the files directly, uncapped: for
 * drivers used without a daemon (driver tests, embedding).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { chown, type FileHandle, mkdir, open, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import { findPids, isPidAlive, waitForExit } from "../qemu/proc.js";
import { spawnLogger } from "./spawnLogger.js";

/** Who the VMM (and so its logger) runs as; null: the daemon's own user. */
import type { LogCaps, LogIdentity } from "./types.js";

export type { LogCaps, LogIdentity };

export interface LogRequest {
  /** Guest console output (a file in the VM's log directory). */
  consoleLog: string;
  /** The VMM's own stdout/stderr, in the same directory. */
  vmmLog: string;
  identity: LogIdentity | null;
}

export interface OpenedLogs {
  /** Write-only fds for the VMM: its console, and its stdout/stderr. */
  console: number;
  vmm: number;
  /** The logger process, when one writes the files. */
  loggerPid: number | null;
  /** Close the daemon's copies of the fds (once the VMM holds them, or on failure). */
  close(): Promise<void>;
}

export interface VmLogs {
  /** Open the VMM's log streams for one boot. */
  open(req: LogRequest): Promise<OpenedLogs>;
}

/** The logger's pid file, beside the log directory (in the daemon-owned VM directory). */
export function loggerPidFile(logDir: string): string {
  return path.join(path.dirname(logDir), "logger.pid");
}

/** The string a logger's command line carries for this log directory. */
export function loggerMarker(logDir: string): string {
  return `--tag ${logDir}`;
}

/** The VM's logger pid when it runs, else null (no pid file, gone, or a reused pid). */
export async function runningLogger(logDir: string): Promise<number | null> {
  const pid = Number.parseInt(await readFile(loggerPidFile(logDir), "utf8").catch(() => ""), 10);
  return Number.isInteger(pid) && isPidAlive(pid, loggerMarker(logDir)) ? pid : null;
}

/** Loggers of this log directory that still run (any pid, pid file or not). */
export function loggerPids(logDir: string): number[] {
  return findPids(loggerMarker(logDir));
}

function sameDir(req: LogRequest): string {
  const dir = path.dirname(req.consoleLog);
  if (path.dirname(req.vmmLog) !== dir) {
    throw new BangerError(ErrorCodes.INTERNAL, `console and VMM logs must share a directory (${dir})`);
  }
  return dir;
}

/** Direct, uncapped files (opened O_APPEND). */
export class PlainLogs implements VmLogs {
  async open(req: LogRequest): Promise<OpenedLogs> {
    await mkdir(sameDir(req), { recursive: true, mode: 0o700 });
    const files: FileHandle[] = [];
    const close = async () => {
      await Promise.all(files.map((f) => f.close().catch(() => undefined)));
    };
    try {
      files.push(await open(req.consoleLog, "a", 0o600), await open(req.vmmLog, "a", 0o600));
    } catch (e) {
      await close();
      throw fdError(req.consoleLog, e);
    }
    return { console: files[0]!.fd, vmm: files[1]!.fd, loggerPid: null, close };
  }
}

function fdError(file: string, e: unknown): BangerError {
  const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  return new BangerError(ErrorCodes.PREFLIGHT_FAILED, `cannot open ${file} for the VMM: ${why}`, {
    cause: e,
  });
}

const run = promisify(execFile);

/** A pipe as two fds: a FIFO made, opened at both ends, and unlinked (Node has no pipe(2)). */
export async function makePipe(dir: string): Promise<{ read: FileHandle; write: FileHandle }> {
  const fifo = path.join(dir, `.fifo-${randomBytes(6).toString("hex")}`);
  try {
    await run("mkfifo", ["-m", "600", "--", fifo]);
    const read = await open(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const write = await open(fifo, constants.O_WRONLY).catch(async (e: unknown) => {
      await read.close();
      throw e;
    });
    return { read, write };
  } catch (e) {
    throw new BangerError(ErrorCodes.INTERNAL, `cannot make a pipe in ${dir}: ${(e as Error).message}`, {
      cause: e,
    });
  } finally {
    await rm(fifo, { force: true });
  }
}

export interface RotatingLogsOptions {
  /** The banger-logger binary (built on first use). */
  binary: () => Promise<string>;
  caps: () => LogCaps;
}

/** Capped, rotated logs written by a banger-logger process that outlives the daemon. */
export class RotatingLogs implements VmLogs {
  constructor(private readonly opts: RotatingLogsOptions) {}

  async open(req: LogRequest): Promise<OpenedLogs> {
    const dir = sameDir(req);
    const bin = await this.opts.binary();
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (req.identity) await chown(dir, req.identity.uid, req.identity.gid);
    // A logger left from an earlier boot writes these files until its VMM is gone (a moment after
    // the VMM died, it is still writing the last output); a second would race it.
    for (const pid of loggerPids(dir)) await waitForExit(pid, loggerMarker(dir), 2000);
    const old = loggerPids(dir);
    if (old.length > 0) {
      throw new BangerError(
        ErrorCodes.CONFLICT,
        `a log writer (pid ${old.join(", ")}) still runs for ${dir}`,
        {
          hint: "it ends when its VMM exits; stop the VM's old VMM first",
        },
      );
    }
    const held: FileHandle[] = [];
    const closeAll = async () => {
      await Promise.all(held.splice(0).map((f) => f.close().catch(() => undefined)));
    };
    try {
      const con = await makePipe(dir);
      held.push(con.read, con.write);
      const vmm = await makePipe(dir);
      held.push(vmm.read, vmm.write);
      const pid = await spawnLogger({
        binary: bin,
        dir,
        caps: this.opts.caps(),
        streams: [
          { fd: con.read.fd, name: path.basename(req.consoleLog) },
          { fd: vmm.read.fd, name: path.basename(req.vmmLog) },
        ],
        identity: req.identity,
        tag: dir,
      });
      held.splice(0, held.length, con.write, vmm.write);
      await Promise.all([con.read.close(), vmm.read.close()]);
      await writeFile(loggerPidFile(dir), `${pid}\n`);
      return { console: con.write.fd, vmm: vmm.write.fd, loggerPid: pid, close: closeAll };
    } catch (e) {
      await closeAll();
      throw e;
    }
  }
}
