import type { RpcEvent } from "../../api/protocol.js";
import { type Out, paint } from "./output.js";
import { progressPrinter } from "./progress.js";
import { humanBytes } from "./vm.js";

/**
 * Progress for pulls: stage lines like progressPrinter, and for events with
 * byte counts a bar with bytes, rate and ETA, redrawn in place on a TTY and
 * printed as a plain line every 10% otherwise.
 */
export function pullPrinter(out: Out, tty = !!process.stderr.isTTY): (e: RpcEvent) => void {
  const stages = progressPrinter(out, tty);
  const started = new Map<string, number>();
  let lastPct = -1;
  let drawing = false;
  return (e) => {
    if (e.kind !== "progress") return;
    if (e.total === undefined || e.current === undefined || e.total <= 0) {
      if (drawing) out.err("\n");
      drawing = false;
      lastPct = -1;
      stages(e);
      return;
    }
    const t0 = started.get(e.stage) ?? Date.now();
    started.set(e.stage, t0);
    const secs = Math.max(0.001, (Date.now() - t0) / 1000);
    const rate = e.current / secs;
    const eta = rate > 0 ? Math.round((e.total - e.current) / rate) : 0;
    const pct = Math.min(100, Math.floor((e.current / e.total) * 100));
    // The daemon's own line may already carry bytes, rate and ETA (downloads); add ours only when it does not.
    const figures = /\/s/.test(e.message)
      ? ""
      : ` ${humanBytes(e.current)}/${humanBytes(e.total)} ${humanBytes(rate)}/s ETA ${eta}s`;
    if (tty) {
      const width = 30;
      const fill = Math.round((pct / 100) * width);
      out.err(
        `\r\u001b[2K${e.message} [${paint(out, "green", "#".repeat(fill))}${" ".repeat(width - fill)}] ${pct}%${figures}`,
      );
      drawing = true;
    } else if (pct >= lastPct + 10 || pct === 100) {
      lastPct = pct - (pct % 10);
      out.err(`${e.message}: ${pct}%${figures}\n`);
    }
  };
}
