/** banger-logger is compiled from data/host/banger-logger.c with the host's gcc, like the guest agent, cached by source hash. */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import { buildStaticC } from "../../guest/agent/buildAgent.js";
import { packageRoot } from "../../guest/agent/paths.js";
import type { CommandRunner } from "../../host/runner.js";

export const LOGGER_SOURCE_PATH = path.join(packageRoot(), "data", "host", "banger-logger.c");
export const LOGGER_BINARY_NAME = "banger-logger";

/** Build outDir/banger-logger (or reuse it) and return its path. */
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
  return buildStaticC({ runner, outDir, source, text, name: LOGGER_BINARY_NAME, what: "the log writer" });
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
