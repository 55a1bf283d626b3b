import { BangerError, ErrorCodes } from "../../errors/index.js";
import { type CommandRunner, formatArgv, type RunOptions, type RunResult } from "../runner.js";

export type FakeResponder = (
  argv: readonly string[],
  opts: RunOptions,
) => Partial<RunResult> | Error | undefined;

/** Test double: records every argv and answers from responders (first match wins). */
export class FakeCommandRunner implements CommandRunner {
  readonly calls: string[][] = [];
  private readonly responders: FakeResponder[] = [];

  /** Answer commands whose argv starts with `prefix`. */
  on(prefix: readonly string[], answer: Partial<RunResult> | Error | FakeResponder): this {
    this.responders.push((argv, opts) => {
      if (!prefix.every((p, i) => argv[i] === p)) return undefined;
      return typeof answer === "function" ? answer(argv, opts) : answer;
    });
    return this;
  }

  async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    this.calls.push([...argv]);
    for (const r of this.responders) {
      const a = r(argv, opts);
      if (a === undefined) continue;
      if (a instanceof Error) throw a;
      const res: RunResult = {
        argv: [...argv],
        code: a.code ?? 0,
        stdout: a.stdout ?? "",
        stderr: a.stderr ?? "",
      };
      if (res.code !== 0 && !opts.allowFailure) {
        throw new BangerError(ErrorCodes.COMMAND_FAILED, `${formatArgv(argv)} exited with code ${res.code}`, {
          details: res,
        });
      }
      return res;
    }
    return { argv: [...argv], code: 0, stdout: "", stderr: "" };
  }
}
