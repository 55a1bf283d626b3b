import { open } from "node:fs/promises";
import { BangerError, ErrorCodes } from "../errors/index.js";

/**
 * Keep a log that a VMM appends to (O_APPEND) bounded: when the file is larger
 * than `maxBytes`, keep only its last `maxBytes / 2` bytes, starting at a line
 * boundary when there is one. The file is rewritten in place (never renamed)
 * so the writer's descriptor keeps pointing at it; with O_APPEND its next
 * write lands at the new end. Bytes written while the cap runs can be lost.
 * Returns the number of bytes dropped (0 when the file is small or missing).
 */
export async function capLogFile(path: string, maxBytes: number): Promise<number> {
  if (!Number.isInteger(maxBytes) || maxBytes < 2) {
    throw new BangerError(
      ErrorCodes.INTERNAL,
      `capLogFile: maxBytes must be an integer >= 2, got ${maxBytes}`,
    );
  }
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, "r+");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw e;
  }
  try {
    const { size } = await fh.stat();
    if (size <= maxBytes) return 0;
    const keep = Math.floor(maxBytes / 2);
    const buf = Buffer.alloc(keep);
    const { bytesRead } = await fh.read(buf, 0, keep, size - keep);
    let tail = buf.subarray(0, bytesRead);
    const nl = tail.indexOf(0x0a);
    if (nl >= 0 && nl < tail.length - 1) tail = tail.subarray(nl + 1);
    await fh.write(tail, 0, tail.length, 0);
    await fh.truncate(tail.length);
    return size - tail.length;
  } finally {
    await fh.close();
  }
}
