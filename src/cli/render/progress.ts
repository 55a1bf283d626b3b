import type { RpcEvent } from "../../api/protocol.js";
import { type Out, paint } from "./output.js";

/**
 * Renders progress events on stderr: one line per finished stage with its
 * duration; on a TTY the running stage is shown in place until it ends.
 */
export function progressPrinter(out: Out, tty = !!process.stderr.isTTY): (e: RpcEvent) => void {
  let pending = "";
  const clear = () => {
    if (tty && pending) out.err("\r\u001b[2K");
    pending = "";
  };
  return (e) => {
    if (e.kind !== "progress") return;
    if (e.phase === "start") {
      clear();
      if (tty) {
        pending = e.message;
        out.err(`${paint(out, "dim", "…")} ${e.message}`);
      }
      return;
    }
    clear();
    if (e.phase === "done")
      out.err(
        `${paint(out, "green", "✓")} ${e.message}${e.ms !== undefined ? paint(out, "dim", ` (${formatMs(e.ms)})`) : ""}\n`,
      );
    else if (e.phase === "warn") out.err(`${paint(out, "yellow", "!")} ${e.message}\n`);
    else out.err(`  ${e.message}\n`);
  };
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** The one line a command prints when its VM had suspended itself and was woken for it. */
export function wakeLine(c: { out: Out }): (e: RpcEvent) => void {
  return (e) => {
    if (e.kind === "progress" && e.stage === "wake") c.out.err(`banger: ${e.message}\n`);
  };
}
