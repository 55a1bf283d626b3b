/**
 * Follow a rotated log (see rotate.ts) without losing or repeating a byte:
 * read the open file to its end; when the path names another file, the one we
 * hold was renamed away and is complete, so read it to its end once more and
 * go on with its successor (the file rotated in after it, found by where ours
 * now sits: NAME.k's successor is NAME.(k-1), NAME.1's is NAME) from byte 0.
 */
import type { Stats } from "node:fs";
import { type FileHandle, open, stat } from "node:fs/promises";
import { rotatedName } from "./rotate.js";

const CHUNK = 64 * 1024;
/** Rotated names searched for the file we hold (keep is at most 20). */
const MAX_SCAN = 32;

function isMissing(e: unknown): boolean {
  return (e as NodeJS.ErrnoException).code === "ENOENT";
}

async function statOrNull(file: string): Promise<Stats | null> {
  return stat(file).catch((e: unknown) => {
    if (isMissing(e)) return null;
    throw e;
  });
}

const same = (a: Stats, b: { dev: number; ino: number }) => a.dev === b.dev && a.ino === b.ino;

export class LogFollower {
  private fh: FileHandle | null = null;
  private id = { dev: 0, ino: 0 };
  private pos = 0;

  constructor(readonly file: string) {}

  /** Start at the last `tailBytes` of the current file (everything when undefined). */
  async start(tailBytes?: number): Promise<void> {
    if (!(await this.openCurrent())) return;
    const size = (await this.fh!.stat()).size;
    this.pos = tailBytes === undefined ? 0 : Math.max(0, size - tailBytes);
  }

  private async adopt(fh: FileHandle): Promise<void> {
    const st = await fh.stat();
    this.fh = fh;
    this.id = { dev: st.dev, ino: st.ino };
    this.pos = 0;
  }

  private async openCurrent(): Promise<boolean> {
    try {
      await this.adopt(await open(this.file, "r"));
      return true;
    } catch (e) {
      if (isMissing(e)) return false;
      throw e;
    }
  }

  /** Read the held file from pos to its end, passing each chunk on. */
  private async drain(emit: (b: Buffer) => void, stop: () => boolean): Promise<void> {
    const fh = this.fh;
    if (!fh) return;
    while (!stop()) {
      const buf = Buffer.alloc(CHUNK);
      const { bytesRead } = await fh.read(buf, 0, CHUNK, this.pos);
      if (bytesRead === 0) return;
      this.pos += bytesRead;
      emit(buf.subarray(0, bytesRead));
    }
  }

  /** Where the held file sits now: 0 for NAME, k for NAME.k, -1 when it is gone. */
  private async indexOfHeld(): Promise<{ at: number; oldest: number }> {
    let oldest = 0;
    for (let i = 0; i <= MAX_SCAN; i++) {
      const st = await statOrNull(rotatedName(this.file, i));
      if (!st) continue;
      if (same(st, this.id)) return { at: i, oldest: i };
      oldest = i;
    }
    return { at: -1, oldest };
  }

  /** The file rotated in after the held one, opened; null when the held file is still NAME. */
  private async successor(): Promise<FileHandle | null> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const { at, oldest } = await this.indexOfHeld();
      if (at === 0) return null;
      // Gone (the follower fell more than `keep` rotations behind): go on with the oldest left.
      const next = at === -1 ? oldest : at - 1;
      const fh = await open(rotatedName(this.file, next), "r").catch((e: unknown) => {
        if (isMissing(e)) return null;
        throw e;
      });
      if (!fh) continue;
      if ((await this.indexOfHeld()).at === at) return fh;
      await fh.close(); // a rotation moved the names meanwhile: look again
    }
    return null; // a rotation is half done: the next poll looks again
  }

  /**
   * Pass on everything written since the last call, across any number of
   * rotations. `stop` ends the read early (the caller went away).
   */
  async poll(emit: (b: Buffer) => void, stop: () => boolean = () => false): Promise<void> {
    if (!this.fh && !(await this.openCurrent())) return;
    for (;;) {
      await this.drain(emit, stop);
      if (stop()) return;
      const now = await statOrNull(this.file);
      // Missing: between a rename and the new file; the next poll goes on.
      if (!now) return;
      if (same(now, this.id)) {
        if (now.size < this.pos) this.pos = 0; // truncated in place (not by banger): start over
        return;
      }
      await this.drain(emit, stop); // the held file is complete now
      const next = await this.successor();
      if (!next) return;
      await this.fh!.close();
      await this.adopt(next);
    }
  }

  async close(): Promise<void> {
    await this.fh?.close();
    this.fh = null;
  }
}
