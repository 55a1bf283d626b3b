/** Port: read-only questions about the host, for doctor checks and preflights. */
import type { RunResult } from "./runner.js";

export interface HostProbe {
  /** Absolute path of an executable found on PATH (or the path itself when absolute and executable), else null. */
  which(bin: string): Promise<string | null>;
  /** True when `path` is accessible with the given fs.constants mode (R_OK | W_OK ...). */
  access(path: string, mode: number): Promise<boolean>;
  exists(path: string): Promise<boolean>;
  /** A small text file's content (for /proc files), or null when unreadable. */
  readText(path: string): Promise<string | null>;
  /** Run a command; null when it could not be started. Never throws on non-zero exit. */
  run(argv: readonly string[], timeoutMs?: number): Promise<RunResult | null>;
  /** Free bytes available to this user on the filesystem holding `path` (nearest existing ancestor). */
  freeBytes(path: string): Promise<number | null>;
  /** Create `dir` if needed and prove a file can be written there; returns the error message or null. */
  tryWrite(dir: string): Promise<string | null>;
  readonly uid: number;
  readonly nodeVersion: string;
  readonly env: Readonly<Record<string, string | undefined>>;
}
