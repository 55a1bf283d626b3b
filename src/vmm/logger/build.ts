/**
 * banger-logger is compiled from data/host/banger-logger.c with the host's gcc
 * and the guest agent's flags (static), cached by the hash of source + flags.
 * (buildAgent.ts is left as it is: its text keys the shared test-guest cache.)
 */
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { BangerError, ErrorCodes, isBangerError } from "../../errors/index.js";
import { AGENT_CFLAGS, agentHash } from "../../guest/agent/buildAgent.js";
import { packageRoot } from "../../guest/agent/paths.js";
import type { CommandRunner } from "../../host/runner.js";

export const LOGGER_SOURCE_PATH = path.join(packageRoot(), "data", "host", "banger-logger.c");
export const LOGGER_BINARY_NAME = "banger-logger";

const GCC_HINT = "install a C compiler and the static C library: apt-get install gcc libc6-dev";

async function compile(runner: CommandRunner, source: string, out: string): Promise<void> {
  const res = await runner
    .run(["gcc", ...AGENT_CFLAGS, "-o", out, source], { allowFailure: true })
    .catch((e) => {
      if (isBangerError(e) && e.code === ErrorCodes.PREFLIGHT_FAILED) {
        throw new BangerError(
          ErrorCodes.PREFLIGHT_FAILED,
          "gcc is not installed: cannot build the log writer",
          {
            cause: e,
            hint: GCC_HINT,
          },
        );
      }
      throw e;
    });
  if (res.code === 0) return;
  const tail = res.stderr.trim().split("\n").slice(-6).join("\n");
  throw new BangerError(
    ErrorCodes.COMMAND_FAILED,
    `compiling the log writer failed (gcc exited ${res.code}): ${tail}`,
    {
      hint: /cannot find -lc\b|crt1\.o|\.h: No such file/.test(res.stderr)
        ? GCC_HINT
        : `the source is ${source}`,
      details: res,
    },
  );
}

/** Build outDir/banger-logger (or reuse it when built from the same source) and return its path. */
export async function buildLogger(
  runner: CommandRunner,
  outDir: string,
  source = LOGGER_SOURCE_PATH,
): Promise<string> {
  const text = await readFile(source).catch((e: unknown) => {
    throw new BangerError(ErrorCodes.NOT_FOUND, `the log writer source ${source} is missing`, {
      cause: e,
      hint: "reinstall banger: the package ships data/host/banger-logger.c",
    });
  });
  const hash = agentHash(text);
  const out = path.join(outDir, LOGGER_BINARY_NAME);
  const stamp = `${out}.sha256`;
  if (existsSync(out) && (await readFile(stamp, "utf8").catch(() => "")).trim() === hash) return out;
  await mkdir(outDir, { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    await compile(runner, source, tmp);
    await chmod(tmp, 0o755);
    await rm(stamp, { force: true });
    await rename(tmp, out);
    await writeFile(stamp, `${hash}\n`);
  } finally {
    await rm(tmp, { force: true });
  }
  return out;
}

/** One build per process, shared by every boot (a failed build is retried on the next boot). */
export function loggerBinary(runner: CommandRunner, outDir: string): () => Promise<string> {
  let pending: Promise<string> | null = null;
  return () => {
    pending ??= buildLogger(runner, outDir).catch((e: unknown) => {
      pending = null;
      throw e;
    });
    return pending;
  };
}
