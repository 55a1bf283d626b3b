import type { CommandRunner, RunOptions, RunResult } from "./runner.js";

/**
 * The one privilege wrapper: privileged argv go through `sudo -n` unless the
 * process already runs as root, in which case they run directly.
 */
export class Sudo {
  constructor(
    private readonly runner: CommandRunner,
    private readonly uid: number = process.getuid?.() ?? 0,
  ) {}

  /** The argv that will actually run. */
  wrap(argv: readonly string[]): string[] {
    return this.uid === 0 ? [...argv] : ["sudo", "-n", "--", ...argv];
  }

  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return this.runner.run(this.wrap(argv), opts);
  }
}
