import { spawn } from "node:child_process";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import { type CommandRunner, formatArgv, type RunOptions, type RunResult } from "../runner.js";

const MAX_OUTPUT = 8 * 1024 * 1024;

/** Where Debian keeps admin tools (mkfs.ext4, debugfs, depmod, ip, nft): not on a normal user's PATH. */
export const SBIN_DIRS: readonly string[] = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

/**
 * The environment a command runs with: PATH gains the sbin directories it
 * lacks (appended, so the caller's own PATH still wins), for the lookup of
 * the command itself and for the tools it runs in turn.
 */
export function childEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const dirs = (env.PATH ?? "/usr/local/bin:/usr/bin:/bin").split(":").filter((d) => d !== "");
  const missing = SBIN_DIRS.filter((d) => !dirs.includes(d));
  return missing.length === 0 ? env : { ...env, PATH: [...dirs, ...missing].join(":") };
}

/** The real runner: child_process.spawn with an argv, no shell. */
export class NodeCommandRunner implements CommandRunner {
  run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const [cmd, ...args] = argv;
    if (cmd === undefined) return Promise.reject(new BangerError(ErrorCodes.INTERNAL, "empty argv"));
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, args, {
        cwd: opts.cwd,
        env: childEnv(opts.env ? { ...process.env, ...opts.env } : process.env),
        stdio: ["pipe", "pipe", "pipe"],
        timeout: opts.timeoutMs,
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let outLen = 0;
      let errLen = 0;
      child.stdout.on("data", (b: Buffer) => {
        if (outLen < MAX_OUTPUT) out.push(b);
        outLen += b.length;
      });
      child.stderr.on("data", (b: Buffer) => {
        if (errLen < MAX_OUTPUT) err.push(b);
        errLen += b.length;
        opts.onStderr?.(b.toString("utf8"));
      });
      child.on("error", (e: NodeJS.ErrnoException) => {
        const missing = e.code === "ENOENT";
        reject(
          new BangerError(
            missing ? ErrorCodes.PREFLIGHT_FAILED : ErrorCodes.COMMAND_FAILED,
            missing
              ? `${cmd} is not installed or not on PATH`
              : `could not run ${formatArgv(argv)}: ${e.message}`,
            {
              cause: e,
              ...(missing
                ? { hint: "run `banger doctor` to see what is missing and how to install it" }
                : {}),
            },
          ),
        );
      });
      child.stdin.on("error", () => {
        /* the command may exit before reading its input */
      });
      child.stdin.end(opts.input ?? "");
      child.on("close", (code, signal) => {
        const result: RunResult = {
          argv: [...argv],
          code: code ?? (signal ? 128 : 1),
          stdout: Buffer.concat(out).toString("utf8"),
          stderr: Buffer.concat(err).toString("utf8"),
        };
        if (result.code !== 0 && !opts.allowFailure) {
          const tail = result.stderr.trim().split("\n").slice(-5).join("\n");
          reject(
            new BangerError(
              ErrorCodes.COMMAND_FAILED,
              `${formatArgv(argv)} exited with ${signal ? `signal ${signal}` : `code ${result.code}`}${tail ? `: ${tail}` : ""}`,
              { details: result },
            ),
          );
          return;
        }
        resolve(result);
      });
    });
  }
}
