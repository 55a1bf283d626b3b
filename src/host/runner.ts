import { shellQuote } from "../util/shellQuote.js";

/** Port: run an external command from an argument array (never a shell string). */
export interface RunOptions {
  /** Data written to stdin. */
  input?: string | Buffer;
  env?: Record<string, string | undefined>;
  cwd?: string;
  timeoutMs?: number;
  /** Do not throw on a non-zero exit; return it. */
  allowFailure?: boolean;
  /** Called with each chunk of stderr as it arrives (it is collected in the result too). */
  onStderr?: (chunk: string) => void;
}

export interface RunResult {
  argv: string[];
  code: number;
  stdout: string;
  stderr: string;
}

export interface CommandRunner {
  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
}

/** Render an argv for messages and logs (quoted where needed); never executed. */
export function formatArgv(argv: readonly string[]): string {
  return shellQuote(argv);
}
