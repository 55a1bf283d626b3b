/**
 * Compile the guest agent (data/guest/banger-agent.c) into a static binary
 * with the host's gcc, cached by the sha256 of the source and the flags.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { BangerError, ErrorCodes, isBangerError } from "../../errors/index.js";
import type { CommandRunner } from "../../host/runner.js";
import { packageRoot } from "./paths.js";

/** The agent's C source; image recipes hash it into their cache keys. */
export const AGENT_SOURCE_PATH = path.join(packageRoot(), "data", "guest", "banger-agent.c");

/** Every file of the agent's source (the first #includes the others): they all key its cache. */
export const AGENT_SOURCE_FILES: readonly string[] = [
  AGENT_SOURCE_PATH,
  path.join(path.dirname(AGENT_SOURCE_PATH), "banger-agent-files.c"),
];

/** The agent's whole source text, for cache keys. */
export async function readAgentSource(): Promise<string> {
  return (await Promise.all(AGENT_SOURCE_FILES.map((f) => readFile(f, "utf8")))).join("\0");
}

export const AGENT_BINARY_NAME = "banger-agent";

export const AGENT_CFLAGS: readonly string[] = ["-static", "-O2", "-Wall", "-Wextra", "-s"];

const GCC_HINT = "install a C compiler and the static C library: apt-get install gcc libc6-dev";

export interface BuildAgentOptions {
  runner: CommandRunner;
  outDir: string;
  /** Default AGENT_SOURCE_PATH. */
  source?: string;
  /** Default "gcc". */
  cc?: string;
}

/** sha256 of the source text and the compiler flags: the cache key of a built agent. */
export function agentHash(sourceText: string | Buffer, cflags: readonly string[] = AGENT_CFLAGS): string {
  return createHash("sha256")
    .update(sourceText)
    .update(`\0${cflags.join(" ")}`)
    .digest("hex");
}

/** Build outDir/banger-agent (or reuse it when built from the same source) and return its path. */
export async function buildAgent(opts: BuildAgentOptions): Promise<string> {
  const source = opts.source ?? AGENT_SOURCE_PATH;
  const cc = opts.cc ?? "gcc";
  const text = await (opts.source ? readFile(source) : readAgentSource()).catch((e: unknown) => {
    throw new BangerError(ErrorCodes.NOT_FOUND, `the guest agent source ${source} is missing`, {
      cause: e,
      hint: "reinstall banger: the package ships data/guest/banger-agent.c",
    });
  });
  const hash = agentHash(text);
  const out = path.join(opts.outDir, AGENT_BINARY_NAME);
  const stamp = `${out}.sha256`;
  if (existsSync(out) && (await readFile(stamp, "utf8").catch(() => "")).trim() === hash) return out;
  await mkdir(opts.outDir, { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    await compile(opts.runner, cc, source, tmp);
    await chmod(tmp, 0o755);
    await rm(stamp, { force: true });
    await rename(tmp, out);
    await writeFile(stamp, `${hash}\n`);
  } finally {
    await rm(tmp, { force: true });
  }
  return out;
}

async function compile(runner: CommandRunner, cc: string, source: string, out: string): Promise<void> {
  let res: Awaited<ReturnType<CommandRunner["run"]>>;
  try {
    res = await runner.run([cc, ...AGENT_CFLAGS, "-o", out, source], { allowFailure: true });
  } catch (e) {
    if (isBangerError(e) && e.code === ErrorCodes.PREFLIGHT_FAILED) {
      throw new BangerError(
        ErrorCodes.PREFLIGHT_FAILED,
        `${cc} is not installed: cannot build the guest agent`,
        {
          cause: e,
          hint: GCC_HINT,
        },
      );
    }
    throw e;
  }
  if (res.code === 0) return;
  const tail = res.stderr.trim().split("\n").slice(-6).join("\n");
  const noLibc = /cannot find -lc\b|crt1\.o|stdio\.h: No such file/.test(res.stderr);
  throw new BangerError(
    ErrorCodes.COMMAND_FAILED,
    `compiling the guest agent failed (${cc} exited ${res.code}): ${tail}`,
    {
      hint: noLibc ? GCC_HINT : `the source is ${source}`,
      details: res,
    },
  );
}
