/**
 * An ext4 image unpacked into a directory tree without mounting it:
 * `debugfs rdump`, run inside the build namespace so owners come out as the
 * image's ids. rdump loses two things, put back from a listing of the image:
 * setuid/setgid bits (it chmods before it chowns, and chown clears them) and
 * hard links (it writes each name as its own file).
 */
import path from "node:path";
import { BangerError, ErrorCodes } from "../errors/index.js";
import { DEBUGFS_ENV, debugfsErrors, debugfsQuote } from "../host/disk.js";
import type { CommandRunner } from "../host/runner.js";

export interface ImageEntry {
  /** Absolute path in the image. */
  path: string;
  ino: number;
  /** Full mode with type bits. */
  mode: number;
}

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const SPECIAL_BITS = 0o6000;

/** Parse a `debugfs -f -` session of `ls -p DIR` requests into entries (without . and ..). */
export function parseLsSession(stdout: string): ImageEntry[] {
  const out: ImageEntry[] = [];
  let dir: string | undefined;
  for (const line of stdout.split("\n")) {
    const req = /^debugfs: ls -p (.*)$/.exec(line);
    if (req) {
      dir = unquote(req[1]!);
      continue;
    }
    const m = /^\/(\d+)\/([0-7]+)\/\d+\/\d+\/(.*)\/[^/]*\/$/.exec(line);
    if (!m || dir === undefined) continue;
    const name = m[3]!;
    if (name === "." || name === "..") continue;
    out.push({ path: path.posix.join(dir, name), ino: Number(m[1]), mode: Number.parseInt(m[2]!, 8) });
  }
  return out;
}

function unquote(s: string): string {
  return s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1).replace(/""/g, '"') : s;
}

/** Directories listed per debugfs run: keeps each run's output far below the runner's output cap. */
const DIRS_PER_RUN = 500;

/** Every entry of the image, directory level by directory level (debugfs runs of DIRS_PER_RUN directories). */
export async function listImage(image: string, runner: CommandRunner): Promise<ImageEntry[]> {
  const all: ImageEntry[] = [];
  let dirs = ["/"];
  while (dirs.length > 0) {
    const level: ImageEntry[] = [];
    for (let i = 0; i < dirs.length; i += DIRS_PER_RUN) {
      level.push(...(await listDirs(image, dirs.slice(i, i + DIRS_PER_RUN), runner)));
    }
    all.push(...level);
    dirs = level.filter((e) => (e.mode & S_IFMT) === S_IFDIR && e.path !== "/lost+found").map((e) => e.path);
  }
  return all;
}

/** One debugfs run listing `dirs`; every directory must show up in its output (none cut off). */
async function listDirs(image: string, dirs: string[], runner: CommandRunner): Promise<ImageEntry[]> {
  const input = `${dirs.map((d) => `ls -p ${debugfsQuote(d)}`).join("\n")}\n`;
  const r = await runner.run(["debugfs", "-f", "-", image], { input, env: { ...DEBUGFS_ENV } });
  const errors = debugfsErrors(r.stderr);
  const listed = r.stdout.split("\n").filter((l) => l.startsWith("debugfs: ls -p ")).length;
  if (errors.length > 0 || listed !== dirs.length) {
    throw new BangerError(
      ErrorCodes.COMMAND_FAILED,
      `debugfs cannot list ${image} (${listed} of ${dirs.length} directories): ${errors.slice(0, 3).join("; ")}`,
    );
  }
  return parseLsSession(r.stdout);
}

/** What rdump cannot keep: chmod for special bits, ln for extra names of one inode. */
export function repairPlan(entries: readonly ImageEntry[]): {
  chmods: ImageEntry[];
  links: Array<[string, string]>;
} {
  const first = new Map<number, string>();
  const chmods: ImageEntry[] = [];
  const links: Array<[string, string]> = [];
  for (const e of entries) {
    if ((e.mode & S_IFMT) !== S_IFREG) continue;
    const target = first.get(e.ino);
    if (target !== undefined) {
      links.push([target, e.path]); // one inode: its mode is fixed through the first name
      continue;
    }
    first.set(e.ino, e.path);
    if ((e.mode & SPECIAL_BITS) !== 0) chmods.push(e);
  }
  return { chmods, links };
}

/**
 * Unpack IMAGE into DEST (created; the runner is the build namespace), then
 * restore special bits and hard links. lost+found is left out.
 */
export async function unpackImage(image: string, dest: string, ns: CommandRunner): Promise<void> {
  await ns.run(["mkdir", "-p", "--", dest]);
  const r = await ns.run(["debugfs", "-R", `rdump / ${debugfsQuote(dest)}`, image], {
    env: { ...DEBUGFS_ENV },
  });
  const errors = debugfsErrors(r.stderr);
  if (errors.length > 0) {
    throw new BangerError(
      ErrorCodes.COMMAND_FAILED,
      `debugfs cannot unpack ${image}: ${errors.slice(0, 3).join("; ")}`,
    );
  }
  await ns.run(["rm", "-rf", "--", path.join(dest, "lost+found")]);
  const { chmods, links } = repairPlan(await listImage(image, ns));
  for (const [target, name] of links) {
    await ns.run(["ln", "-f", "--", path.join(dest, target), path.join(dest, name)]);
  }
  const byMode = new Map<string, string[]>();
  for (const e of chmods) {
    const mode = (e.mode & 0o7777).toString(8);
    byMode.set(mode, [...(byMode.get(mode) ?? []), path.join(dest, e.path)]);
  }
  for (const [mode, files] of byMode) await ns.run(["chmod", mode, "--", ...files]);
}
