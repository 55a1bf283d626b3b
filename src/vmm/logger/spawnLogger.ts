/**
 * Start banger-logger detached (its own session: it outlives the daemon), as
 * the VMM's user, with nothing but its fds: the log directory, and the read
 * end of each stream's pipe. It is executed through /proc/self/fd/N, so the
 * VMM user needs no path to the binary (only its mode bits).
 */
import { spawn } from "node:child_process";
import { open } from "node:fs/promises";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { LogCaps, LogIdentity } from "./types.js";

export interface LoggerLaunch {
  binary: string;
  /** The log directory (opened here, handed over as an fd). */
  dir: string;
  caps: LogCaps;
  /** Read ends of the pipes (fds of this process) and the file each is written to. */
  streams: Array<{ fd: number; name: string }>;
  identity: LogIdentity | null;
  /** Carried in the command line so the logger of a VM can be found (loggerMarker). */
  tag: string;
}

/** The logger's argv for fds numbered from 3: the directory, the binary, then one per stream. */
export function loggerArgv(l: Pick<LoggerLaunch, "caps" | "streams" | "tag">): string[] {
  const args = ["--max", String(l.caps.maxBytes), "--keep", String(l.caps.keep), "--dir", "3"];
  for (const [i, s] of l.streams.entries()) args.push("--in", `${5 + i}:${s.name}`);
  return [...args, "--tag", l.tag];
}

/** Spawn the logger; resolves with its pid once it runs. The caller closes its copies of the stream fds. */
export async function spawnLogger(l: LoggerLaunch): Promise<number> {
  const dir = await open(l.dir, "r");
  const bin = await open(l.binary, "r").catch(async (e: unknown) => {
    await dir.close();
    throw new BangerError(ErrorCodes.PREFLIGHT_FAILED, `cannot open the log writer ${l.binary}`, {
      cause: e,
    });
  });
  try {
    const child = spawn("/proc/self/fd/4", loggerArgv(l), {
      argv0: "banger-logger",
      detached: true,
      stdio: ["ignore", "ignore", "ignore", dir.fd, bin.fd, ...l.streams.map((s) => s.fd)],
      env: { PATH: "/usr/bin:/bin", LC_ALL: "C" },
      ...(l.identity ? { uid: l.identity.uid, gid: l.identity.gid } : {}),
    });
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", (e) =>
        reject(new BangerError(ErrorCodes.VMM, `could not start the log writer: ${e.message}`, { cause: e })),
      );
    });
    child.on("error", () => undefined);
    child.unref();
    return child.pid!;
  } finally {
    await Promise.all([dir.close(), bin.close()]);
  }
}
