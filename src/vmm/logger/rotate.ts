/**
 * The rotation scheme every banger log shares (banger-logger.c does the same
 * in C): NAME is written until the next write would pass the cap, then
 * NAME.(keep-1) -> NAME.keep, ..., NAME -> NAME.1 (renames, never a truncation)
 * and a fresh NAME. A write is cut at its last line end that fits, so files
 * end on whole lines unless a line is longer than the cap. A follower that
 * holds NAME open reads it to its end and then moves on to the next file.
 */
import { closeSync, fstatSync, openSync, renameSync, statSync, writeSync } from "node:fs";

/** NAME for i = 0, NAME.i after i rotations. */
export function rotatedName(file: string, i: number): string {
  return i === 0 ? file : `${file}.${i}`;
}

/** Shift NAME.(keep-1) .. NAME to NAME.keep .. NAME.1 (NAME.keep is replaced); missing files are skipped. */
export function rotateSync(file: string, keep: number): void {
  for (let i = keep; i >= 1; i--) {
    try {
      renameSync(rotatedName(file, i - 1), rotatedName(file, i));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
  }
}

/** Rotate `file` when it holds `maxBytes` or more (for logs appended by others, checked before each start). */
export function rotateIfOver(file: string, maxBytes: number, keep: number): boolean {
  try {
    if (statSync(file).size < maxBytes) return false;
  } catch {
    return false;
  }
  rotateSync(file, keep);
  return true;
}

/** How many bytes of `data` to write into a file with `room` bytes left (0: rotate first). */
export function cutAt(data: Buffer, room: number, fileEmpty: boolean): number {
  if (data.length <= room) return data.length;
  if (room <= 0) return 0;
  const nl = data.subarray(0, room).lastIndexOf(0x0a);
  if (nl >= 0) return nl + 1;
  return fileEmpty ? room : 0;
}

export interface RotatingFileOptions {
  maxBytes: number;
  keep: number;
  mode?: number;
}

/** A synchronous, size-capped, rotated append-only file (the daemon's own log). */
export class RotatingFile {
  private fd = -1;
  private size = 0;

  constructor(
    readonly file: string,
    private readonly opts: RotatingFileOptions,
  ) {
    this.open();
  }

  private open(): void {
    this.fd = openSync(this.file, "a", this.opts.mode ?? 0o600);
    this.size = fstatSync(this.fd).size;
  }

  private rotate(): void {
    closeSync(this.fd);
    this.fd = -1;
    rotateSync(this.file, this.opts.keep);
    this.open();
  }

  write(chunk: string | Buffer): void {
    let data = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    let tries = 0;
    while (data.length > 0) {
      const n = cutAt(data, this.opts.maxBytes - this.size, this.size === 0);
      if (n === 0) {
        if (++tries > 2) return;
        this.rotate();
        continue;
      }
      let off = 0;
      while (off < n) off += writeSync(this.fd, data, off, n - off);
      this.size += n;
      data = data.subarray(n);
      tries = 0;
    }
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
