import { Box } from "ink";
import { bodyHeight, clip, opText, wrap } from "../format.js";
import { type Hint, keyHints } from "../keys.js";
import type { ConfirmTarget, TuiState } from "../state.js";
import { Artifacts } from "./Artifacts.js";
import { CreateForm, Creating } from "./CreateForm.js";
import { Details } from "./Details.js";
import { Help } from "./Help.js";
import { Logs } from "./Logs.js";
import { ColorContext, Line, Lines, type Tone } from "./text.js";
import { VmList } from "./VmList.js";

const TAB_TITLES = [
  ["vms", "1 VMs"],
  ["images", "2 Images"],
  ["kernels", "3 Kernels"],
] as const;

export function connText(s: TuiState): string {
  const c = s.conn;
  if (c.status === "connecting") return "connecting to the daemon…";
  if (c.status === "reconnecting")
    return `reconnecting… (try ${c.attempt}, next in ${Math.ceil(c.retryInMs / 1000)}s)`;
  return c.watch === "events" ? "● live" : "polling every 2s";
}

function headerText(s: TuiState, width: number): string {
  const tabs = TAB_TITLES.map(([t, title]) => (t === s.tab ? `[${title}]` : ` ${title} `)).join(" ");
  const left = `banger  ${tabs}`;
  const right = connText(s);
  const gap = width - 1 - left.length - right.length;
  return gap >= 2 ? `${left}${" ".repeat(gap)}${right}` : clip(`${left}  ${right}`, width - 1);
}

function statusLines(s: TuiState): Array<{ text: string; tone?: Tone }> {
  const st = s.status;
  if (st?.kind === "error") {
    const lines: Array<{ text: string; tone?: Tone }> = [{ text: `error: ${st.text}`, tone: "bad" }];
    if (st.hint) lines.push({ text: `  hint: ${st.hint}`, tone: "bad" });
    return lines;
  }
  if (s.conn.status === "reconnecting")
    return [{ text: `reconnecting… lost the daemon: ${s.conn.reason}`, tone: "busy" }];
  const ops = Object.values(s.ops);
  if (ops.length) {
    const more = ops.length > 1 ? ` (+${ops.length - 1} more)` : "";
    return [{ text: `${opText(ops[ops.length - 1]!)}${more}`, tone: "busy" }];
  }
  if (st) return [{ text: st.text }];
  if (s.problems.length)
    return [{ text: `warning: ${s.problems.length} VM record(s) could not be read`, tone: "busy" }];
  return [{ text: "" }];
}

/** Fit the hints that have room, always keeping the tail (help, quit or back). */
export function helpBarText(s: TuiState, width: number): string {
  const { hints, tail } = keyHints(s);
  const fmt = (h: Hint) => `${h[0]} ${h[1]}`;
  const tailText = tail.map(fmt).join("  ");
  let out = "";
  for (const h of hints) {
    const next = out ? `${out}  ${fmt(h)}` : fmt(h);
    if (next.length + 2 + tailText.length > width - 1) break;
    out = next;
  }
  return out ? `${out}  ${tailText}` : tailText;
}

export function confirmText(t: ConfirmTarget): string {
  if (t.what !== "vm") return `Delete ${t.what} ${t.name}? (the daemon refuses while something uses it)`;
  return t.running
    ? `Delete VM ${t.name}? It is running: it is stopped first, then its disks are deleted.`
    : `Delete VM ${t.name} and its disks?`;
}

function confirmLines(t: ConfirmTarget, width: number): string[] {
  return [...wrap(confirmText(t), Math.min(width, 100) - 4), "y: delete    n, Esc or Enter: keep it"];
}

function Confirm({ lines, width }: { lines: string[]; width: number }) {
  return (
    <Box flexDirection="column" borderStyle="single" width={Math.min(width, 100)} paddingX={1}>
      <Lines lines={lines.map((text, i) => ({ text, bold: i < lines.length - 1 }))} />
    </Box>
  );
}

function Body({ s, width, height }: { s: TuiState; width: number; height: number }) {
  const m = s.mode;
  if (m.kind === "help") return <Help s={s} height={height} />;
  if (m.kind === "form") return <CreateForm s={s} form={m.form} width={width} />;
  if (m.kind === "creating") return <Creating s={s} width={width} height={height} />;
  if (m.kind === "logs") return <Logs s={s} height={height} />;
  if (m.kind === "details") return <Details s={s} width={width} height={height} />;
  const confirm = m.kind === "confirm" ? confirmLines(m.target, width) : [];
  const listHeight = confirm.length ? Math.max(2, height - confirm.length - 2) : height;
  return (
    <Box flexDirection="column" height={height}>
      {s.tab === "vms" ? <VmList s={s} width={width} height={listHeight} /> : null}
      {s.tab === "images" ? <Artifacts s={s} what="image" width={width} height={listHeight} /> : null}
      {s.tab === "kernels" ? <Artifacts s={s} what="kernel" width={width} height={listHeight} /> : null}
      {confirm.length ? <Confirm lines={confirm} width={width} /> : null}
    </Box>
  );
}

/** The whole screen: tab bar, the current view, status line(s), help bar. Exactly `screen.height` lines. */
export function Screen({ s, color }: { s: TuiState; color: boolean }) {
  const { width, height } = s.screen;
  return (
    <ColorContext.Provider value={color}>
      <Box flexDirection="column" width={width} height={height}>
        <Line text={headerText(s, width)} bold />
        <Box height={bodyHeight(s)} overflow="hidden">
          <Body s={s} width={width} height={bodyHeight(s)} />
        </Box>
        <Lines lines={statusLines(s)} />
        <Line text={helpBarText(s, width)} tone="dim" />
      </Box>
    </ColorContext.Provider>
  );
}
