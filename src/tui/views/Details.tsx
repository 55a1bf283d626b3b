import { Box } from "ink";
import { detailLines } from "../format.js";
import type { TuiState } from "../state.js";
import { Line, Lines } from "./text.js";

/** A scrollable page of lines with a title. */
export function Pager({
  title,
  lines,
  scroll,
  height,
}: {
  title: string;
  lines: string[];
  scroll: number;
  height: number;
}) {
  const room = Math.max(1, height - 1);
  const top = Math.min(scroll, Math.max(0, lines.length - room));
  const more = lines.length > top + room ? ` — ${lines.length - top - room} more lines (↓)` : "";
  return (
    <Box flexDirection="column" height={height}>
      <Line text={`${title}${more}`} bold />
      <Lines lines={lines.slice(top, top + room)} />
    </Box>
  );
}

export function Details({ s, width, height }: { s: TuiState; width: number; height: number }) {
  if (s.mode.kind !== "details") return null;
  const name = s.mode.name;
  const vm = s.vms.find((v) => v.name === name);
  const lines = vm ? detailLines(s, vm, width) : [`${name} is gone (deleted).`];
  return <Pager title={`VM ${name}`} lines={lines} scroll={s.mode.scroll} height={height} />;
}
