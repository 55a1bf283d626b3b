import { open, stat } from "node:fs/promises";
import type { VmLogsParams } from "../api/vms.js";
import type { HandlerContext } from "../rpc/server.js";

const CHUNK = 64 * 1024;

/**
 * Stream a log file as `log` events: the last `tailBytes`, then (with
 * follow) whatever is appended, until the caller disconnects or `alive()`
 * turns false. A file that shrinks (capped) is followed from its new end.
 */
export async function streamLog(
  file: string,
  p: VmLogsParams,
  ctx: HandlerContext,
  alive: () => boolean,
  pollMs = 250,
): Promise<{ bytes: number }> {
  let size = (await stat(file).catch(() => ({ size: 0 }))).size;
  let pos = Math.max(0, size - (p.tailBytes ?? CHUNK));
  let sent = 0;
  for (;;) {
    if (size > pos) {
      const fh = await open(file, "r");
      try {
        while (pos < size && !ctx.signal.aborted) {
          const buf = Buffer.alloc(Math.min(CHUNK, size - pos));
          const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
          if (bytesRead === 0) break;
          pos += bytesRead;
          sent += bytesRead;
          ctx.emit({ kind: "log", data: buf.subarray(0, bytesRead).toString("utf8") });
        }
      } finally {
        await fh.close();
      }
    }
    if (!p.follow || ctx.signal.aborted || !alive()) return { bytes: sent };
    await new Promise((r) => setTimeout(r, pollMs));
    size = (await stat(file).catch(() => ({ size: 0 }))).size;
    if (size < pos) pos = 0;
  }
}
