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
      const stdout = collect(child.stdout);
      const stderr = collect(child.stderr, opts.onStderr);
      child.on("error", (e: NodeJS.ErrnoException) => reject(spawnError(cmd, argv, e)));
      child.stdin.on("error", () => {
        /* the command may exit before reading its input */
      });
      child.stdin.end(opts.input ?? "");
      child.on("close", (code, signal) => {
        const result: RunResult = {
          argv: [...argv],
          code: code ?? (signal ? 128 : 1),
          stdout: stdout(),
          stderr: stderr(),
        };
        if (result.code !== 0 && !opts.allowFailure) reject(exitError(result, signal));
        else resolve(result);
      });
    });
  }
}

/** Keep up to MAX_OUTPUT bytes of a stream; the returned function gives them as text. */
function collect(stream: NodeJS.ReadableStream, onText?: (text: string) => void): () => string {
  const chunks: Buffer[] = [];
  let len = 0;
  stream.on("data", (b: Buffer) => {
    if (len < MAX_OUTPUT) chunks.push(b);
    len += b.length;
    onText?.(b.toString("utf8"));
  });
  return () => Buffer.concat(chunks).toString("utf8");
}

/** The command could not start: not installed (a preflight failure, see doctor), or another reason. */
function spawnError(cmd: string, argv: readonly string[], e: NodeJS.ErrnoException): BangerError {
  if (e.code === "ENOENT") {
    return new BangerError(ErrorCodes.PREFLIGHT_FAILED, `${cmd} is not installed or not on PATH`, {
      cause: e,
      hint: "run `banger doctor` to see what is missing and how to install it",
    });
  }
  return new BangerError(ErrorCodes.COMMAND_FAILED, `could not run ${formatArgv(argv)}: ${e.message}`, {
    cause: e,
  });
}

/** The command failed: its argv, how it ended, and the last lines of its stderr. */
function exitError(result: RunResult, signal: NodeJS.Signals | null): BangerError {
  const tail = result.stderr.trim().split("\n").slice(-5).join("\n");
  const how = signal ? `signal ${signal}` : `code ${result.code}`;
  return new BangerError(
    ErrorCodes.COMMAND_FAILED,
    `${formatArgv(result.argv)} exited with ${how}${tail ? `: ${tail}` : ""}`,
    { details: result },
  );
}
