import { StringDecoder } from "node:string_decoder";
import type { VmLogsParams } from "../api/vms.js";
import type { HandlerContext } from "../rpc/server.js";
import { LogFollower } from "../vmm/logger/follow.js";

const CHUNK = 64 * 1024;

/**
 * Stream a log file as `log` events: the last `tailBytes`, then (with
 * follow) whatever is appended, until the caller disconnects or `alive()`
 * turns false. Rotations (the log renamed to NAME.1 and a new NAME begun) are
 * followed: every byte is sent once, none twice.
 */
export async function streamLog(
  file: string,
  p: VmLogsParams,
  ctx: HandlerContext,
  alive: () => boolean,
  pollMs = 250,
): Promise<{ bytes: number }> {
  const follower = new LogFollower(file);
  let sent = 0;
  const utf8 = new StringDecoder("utf8"); // a character split between two reads is sent whole
  const emit = (b: Buffer) => {
    sent += b.length;
    const data = utf8.write(b);
    if (data) ctx.emit({ kind: "log", data });
  };
  const stop = () => ctx.signal.aborted;
  try {
    await follower.start(p.tailBytes ?? CHUNK);
    for (;;) {
      await follower.poll(emit, stop);
      if (!p.follow || stop() || !alive()) return { bytes: sent };
      await new Promise((r) => setTimeout(r, pollMs));
    }
  } finally {
    await follower.close();
  }
}
