import { mkdirSync } from "node:fs";
import path from "node:path";
import pino, { type Logger } from "pino";
import type { LogLevel } from "../config/types.js";
import { RotatingFile, type RotatingFileOptions } from "../vmm/logger/rotate.js";

/**
 * JSON lines to StateDir/logs/bangerd.log at the configured level, size-capped
 * and rotated (bangerd.log.1 ...) like the VMs' logs (config [logs]). Writes
 * are synchronous: nothing is lost when the daemon is killed.
 */
export function createLogger(
  file: string,
  level: LogLevel,
  caps: RotatingFileOptions,
): { log: Logger; flush(): void } {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const out = new RotatingFile(file, caps);
  const dest = { write: (line: string) => out.write(line) };
  const log = pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
  return { log, flush: () => undefined };
}
