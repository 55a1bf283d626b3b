/**
 * A full disk, said plainly: recognise "no space left on device" wherever it
 * surfaces (an errno, a command's stderr, a wrapped cause), and turn it into
 * one error naming the directory, what the operation needs, what is free, and
 * what to do about it.
 */
import { statfs } from "node:fs/promises";
import path from "node:path";
import { BangerError, ErrorCodes } from "../errors/index.js";

const NO_SPACE = /No space left on device|ENOSPC|Disk quota exceeded|EDQUOT|database or disk is full/;
const MiB = 1024 ** 2;

/** True when `e` (or a cause of it, or the output of the command it reports) says the disk is full. */
export function isNoSpace(e: unknown): boolean {
  for (let x = e, depth = 0; x !== undefined && x !== null && depth < 8; depth++) {
    const err = x as { code?: unknown; message?: unknown; details?: unknown; cause?: unknown };
    if (err.code === "ENOSPC" || err.code === "EDQUOT" || err.code === "SQLITE_FULL") return true;
    if (typeof err.message === "string" && NO_SPACE.test(err.message)) return true;
    const d = err.details as { stderr?: unknown; result?: { stderr?: unknown } } | undefined;
    const stderr = d?.stderr ?? d?.result?.stderr;
    if (typeof stderr === "string" && NO_SPACE.test(stderr)) return true;
    x = err.cause;
  }
  return false;
}

/** Bytes an unprivileged writer may still use on the filesystem holding `p` (its nearest existing ancestor); null if unknown. */
export async function freeBytes(p: string): Promise<number | null> {
  for (let d = path.resolve(p); ; d = path.dirname(d)) {
    try {
      const s = await statfs(d);
      return s.bavail * s.bsize;
    } catch {
      if (d === path.dirname(d)) return null;
    }
  }
}

/** "12.3 MiB" */
export function mib(n: number): string {
  return `${(n / MiB).toFixed(1)} MiB`;
}

export interface NoSpaceContext {
  /** Where the operation writes (the state directory's images/ or vms/). */
  dir: string;
  /** What failed, e.g. `pulling image "web" failed` (a cause message starting so is not repeated). */
  doing: string;
  /** About how much the operation writes there; null if unknown. */
  needBytes: number | null;
  cause: unknown;
  details?: unknown;
}

/** The error of an operation that ran out of space (call after undoing it: "free" is what is left now). */
export async function noSpaceError(c: NoSpaceContext): Promise<BangerError> {
  const free = await freeBytes(c.dir);
  const freeText = free === null ? "free space unknown" : `${mib(free)} free`;
  const need = c.needBytes === null ? "more space" : `about ${mib(c.needBytes)}`;
  const short = c.needBytes !== null && free !== null && c.needBytes > free ? c.needBytes - free : null;
  const said = c.cause instanceof Error ? c.cause.message : String(c.cause);
  const why = said.startsWith(`${c.doing}: `) ? said.slice(c.doing.length + 2) : said;
  const more = short === null ? "" : `, at least ${mib(short)} more`;
  return new BangerError(
    ErrorCodes.COMMAND_FAILED,
    `${c.doing}: no space left on device in ${c.dir}: it needs ${need}, ${freeText} (${why})`,
    {
      cause: c.cause,
      hint: `free disk space on the filesystem holding ${c.dir} (see \`df -h ${c.dir}\`${more}): delete unused VMs (\`banger vm delete\`) or images (\`banger image delete\`), or move banger's state to a larger disk (XDG_STATE_HOME)`,
      ...(c.details === undefined ? {} : { details: c.details }),
    },
  );
}
