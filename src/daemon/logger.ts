import { mkdirSync } from "node:fs";
import path from "node:path";
import pino, { type Logger } from "pino";
import type { LogLevel } from "../config/types.js";

/** JSON lines to StateDir/logs/bangerd.log at the configured level. */
export function createLogger(file: string, level: LogLevel): { log: Logger; flush(): void } {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const dest = pino.destination({ dest: file, sync: true, mkdir: true });
  const log = pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
  return { log, flush: () => dest.flushSync() };
}
