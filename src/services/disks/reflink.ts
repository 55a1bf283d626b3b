/**
 * Does a directory's filesystem support `cp --reflink=always` (XFS with
 * reflink=1, btrfs)? Asked once per directory by cloning a tiny temp file
 * there; the answer is cached (a failed probe is not).
 */
import { randomBytes } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { diskArgv } from "../../host/disk.js";
import type { CommandRunner } from "../../host/runner.js";

/** Try a reflink clone of a 4 KiB temp file inside `dir`; both files are removed afterwards. */
export async function probeReflink(runner: CommandRunner, dir: string): Promise<boolean> {
  const tag = `.banger-reflink-probe-${process.pid}-${randomBytes(4).toString("hex")}`;
  const src = path.join(dir, `${tag}-a`);
  const dst = path.join(dir, `${tag}-b`);
  try {
    await writeFile(src, randomBytes(4096), { flag: "wx", mode: 0o600 });
    const r = await runner.run(diskArgv.reflinkCopy(src, dst), { allowFailure: true });
    return r.code === 0;
  } finally {
    await Promise.all([rm(src, { force: true }), rm(dst, { force: true })]);
  }
}

/** probeReflink with a per-directory cache. Concurrent asks for one directory share one probe. */
export class ReflinkProbe {
  private readonly cache = new Map<string, Promise<boolean>>();

  constructor(private readonly runner: CommandRunner) {}

  supports(dir: string): Promise<boolean> {
    const key = path.resolve(dir);
    let p = this.cache.get(key);
    if (!p) {
      p = probeReflink(this.runner, key);
      this.cache.set(key, p);
      p.catch(() => this.cache.delete(key));
    }
    return p;
  }

  /** Forget the cached answer for `dir` (or all answers). */
  forget(dir?: string): void {
    if (dir === undefined) this.cache.clear();
    else this.cache.delete(path.resolve(dir));
  }
}
