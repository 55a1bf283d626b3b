import { Box } from "ink";
import type { VmView } from "../../api/vms.js";
import { fit, formatBytes, formatCpu, formatMemory, formatUptimeShort, healthLabel } from "../format.js";
import { healthOf, uptimeOf, visibleVms } from "../selectors.js";
import type { SortKey, TuiState } from "../state.js";
import { Line, stateTone } from "./text.js";

interface Column {
  key: SortKey;
  title: string;
  /** 0: shares the space left (name, image). */
  width: number;
  right?: boolean;
  /** Columns dropped first when the terminal is narrow (higher goes first). */
  drop: number;
  value(vm: VmView, s: TuiState): string;
}

const COLUMNS: Column[] = [
  { key: "name", title: "NAME", width: 0, drop: 0, value: (v) => v.name },
  { key: "state", title: "STATE", width: 8, drop: 0, value: (v) => v.state },
  { key: "image", title: "IMAGE", width: 0, drop: 0, value: (v) => v.image.name },
  { key: "vcpu", title: "VCPU", width: 4, right: true, drop: 9, value: (v) => String(v.spec.vcpu) },
  {
    key: "memory",
    title: "MEM",
    width: 5,
    right: true,
    drop: 8,
    value: (v) => formatMemory(v.spec.memoryMib),
  },
  { key: "ip", title: "IP", width: 15, drop: 3, value: (v) => v.ip ?? "-" },
  {
    key: "uptime",
    title: "UP",
    width: 6,
    right: true,
    drop: 4,
    value: (v, s) => formatUptimeShort(uptimeOf(v, s.now)),
  },
  {
    key: "cpu",
    title: "CPU%",
    width: 5,
    right: true,
    drop: 6,
    value: (v, s) => formatCpu(s.stats[v.name]?.cpuPercent),
  },
  {
    key: "rss",
    title: "RSS",
    width: 5,
    right: true,
    drop: 7,
    value: (v, s) => formatBytes(s.stats[v.name]?.rssBytes ?? null),
  },
  { key: "health", title: "HEALTH", width: 8, drop: 5, value: (v, s) => healthLabel(healthOf(s, v)) },
];

const MARKER = 2;
const MIN_FLEX = 11;

/** The columns that fit in `width`, with the flexible ones sized. */
export function layoutColumns(width: number): Array<Column & { w: number }> {
  let cols = [...COLUMNS];
  const need = (cs: Column[]) => MARKER + cs.reduce((a, c) => a + c.width + 1, -1) + MIN_FLEX * 2;
  while (need(cols) > width) {
    const victim = cols.reduce((a, c) => (c.drop > a.drop ? c : a));
    if (victim.drop === 0) break;
    cols = cols.filter((c) => c !== victim);
  }
  const fixed = MARKER + cols.reduce((a, c) => a + c.width + 1, -1);
  const flex = Math.max(2 * 6, width - fixed);
  const name = Math.min(32, Math.ceil(flex * 0.55));
  const image = Math.min(24, flex - name);
  return cols.map((c) => ({ ...c, w: c.width || (c.key === "name" ? name : image) }));
}

function row(cols: Array<Column & { w: number }>, cells: string[]): string {
  return cols
    .map((c, i) => fit(cells[i] ?? "", c.w, c.right ? "right" : "left"))
    .join(" ")
    .trimEnd();
}

function header(s: TuiState, cols: Array<Column & { w: number }>): string {
  const arrow = s.sort.desc ? "▼" : "▲";
  return `  ${row(
    cols,
    cols.map((c) => (c.key === s.sort.key ? `${c.title}${arrow}` : c.title)),
  )}`;
}

/** The first row to show so that the selected one is visible. */
export function windowStart(selected: number, count: number, height: number): number {
  if (count <= height || selected < 0) return 0;
  return Math.min(Math.max(0, selected - height + 1), count - height);
}

function FilterLine({ s, shown }: { s: TuiState; shown: number }) {
  const f = s.filter;
  const filter = f.editing
    ? `filter: ${f.text}▏`
    : f.text
      ? `filter: "${f.text}" (Esc clears)`
      : "/ to filter";
  const sort = `sort: ${s.sort.key} ${s.sort.desc ? "▼ descending" : "▲ ascending"}`;
  const count =
    shown === s.vms.length ? `${shown} VM${shown === 1 ? "" : "s"}` : `${shown} of ${s.vms.length} VMs`;
  return <Line text={`${count} · ${sort} · ${filter}`} tone={f.editing ? "accent" : "dim"} />;
}

function EmptyState({ s }: { s: TuiState }) {
  if (s.conn.status !== "connected" && s.vms.length === 0)
    return <Line text="  waiting for the daemon…" tone="dim" />;
  if (s.vms.length === 0)
    return (
      <Box flexDirection="column">
        <Line text="  No VMs yet." />
        <Line text="  Press c to create one (or run `banger vm create`)." />
      </Box>
    );
  return <Line text={`  No VM matches "${s.filter.text}" — Esc clears the filter.`} />;
}

/** The VM table: one line per VM, the selected one marked with ">". */
export function VmList({ s, width, height }: { s: TuiState; width: number; height: number }) {
  const vms = visibleVms(s);
  const cols = layoutColumns(width - 1);
  const rowsHeight = Math.max(1, height - 2);
  const sel = vms.findIndex((v) => v.name === s.selected.vms);
  const start = windowStart(sel, vms.length, rowsHeight);
  return (
    <Box flexDirection="column" height={height}>
      <FilterLine s={s} shown={vms.length} />
      <Line text={header(s, cols)} bold />
      {vms.length === 0 ? <EmptyState s={s} /> : null}
      {vms.slice(start, start + rowsHeight).map((vm) => {
        const on = vm.name === s.selected.vms;
        const text = `${on ? ">" : " "} ${row(
          cols,
          cols.map((c) => c.value(vm, s)),
        )}`;
        return <Line key={vm.id} text={text} tone={on ? undefined : stateTone(vm.state)} inverse={on} />;
      })}
    </Box>
  );
}
