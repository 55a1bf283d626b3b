import type * as ChildProcess from "node:child_process";

/**
 * node:child_process, loaded on first use rather than when the CLI starts:
 * loading it costs ~2 ms of every `banger` run, and most runs spawn nothing.
 */
export function childProcess(): typeof ChildProcess {
  return process.getBuiltinModule("node:child_process");
}
