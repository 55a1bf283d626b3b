import { Box } from "ink";
import type { TuiState } from "../state.js";
import { Line, Lines } from "./text.js";

/** A followed log (vm.logs with follow): the newest lines, or older ones when scrolled up. */
export function Logs({ s, height }: { s: TuiState; height: number }) {
  if (s.mode.kind !== "logs") return null;
  const m = s.mode;
  const room = Math.max(1, height - 1);
  const lines = m.partial ? [...m.lines, m.partial] : m.lines;
  const end = Math.max(0, lines.length - m.scroll);
  const shown = lines.slice(Math.max(0, end - room), end);
  const where = m.ended
    ? `ended: ${m.ended}`
    : m.scroll > 0
      ? `paused, ${m.scroll} lines up (End follows)`
      : "following";
  return (
    <Box flexDirection="column" height={height}>
      <Line
        text={`Logs of ${m.name} (${m.source === "console" ? "guest console" : "VMM log"}) — ${where}`}
        bold
      />
      {shown.length === 0 ? <Line text={m.ended ? "(empty)" : "(waiting for output…)"} tone="dim" /> : null}
      <Lines lines={shown} />
    </Box>
  );
}
