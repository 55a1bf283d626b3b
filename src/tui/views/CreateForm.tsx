import { Box } from "ink";
import { FORM_FIELDS, type FormField } from "../form.js";
import { fit, formatMemory, formatMs, progressBar, wrap } from "../format.js";
import { imageChoices } from "../selectors.js";
import type { CreateForm as Form, ProgressLine, TuiState } from "../state.js";
import { Line, Lines } from "./text.js";

const LABELS: Record<FormField, string> = {
  name: "Name",
  image: "Image",
  vcpu: "vCPUs",
  memory: "Memory",
  disk: "Disk",
};

function placeholder(s: TuiState, field: FormField): string {
  const d = s.defaults;
  switch (field) {
    case "name":
      return "empty: a random name";
    case "vcpu":
      return `empty: default${d?.vcpu ? ` (${d.vcpu})` : ""}`;
    case "memory":
      return `empty: default${d?.memoryMib ? ` (${formatMemory(d.memoryMib)})` : ""}, e.g. 512M, 2G`;
    case "disk":
      return `empty: default${d?.diskSizeBytes ? ` (${formatMemory(d.diskSizeBytes / 1024 ** 2)})` : ""}, e.g. 8G`;
    default:
      return "";
  }
}

function fieldLine(s: TuiState, form: Form, field: FormField, width: number): string {
  const focused = FORM_FIELDS[form.focus] === field;
  const mark = focused ? ">" : " ";
  const label = fit(LABELS[field], 7);
  if (field === "image") {
    const choices = imageChoices(s);
    const c = choices[form.image];
    return `${mark} ${label} < ${c?.label ?? "-"} >  (${form.image + 1} of ${choices.length}${focused ? ", ←→ to choose" : ""})`;
  }
  const value = form[field];
  const box = fit(`${value}${focused ? "▏" : ""}`, Math.min(24, width - 14));
  return `${mark} ${label} [${box}]  ${value ? "" : placeholder(s, field)}`;
}

/** The create form: empty fields take the daemon's defaults (shown). */
export function CreateForm({ s, form, width }: { s: TuiState; form: Form; width: number }) {
  return (
    <Box flexDirection="column">
      <Line text="Create a VM" bold />
      <Line text="" />
      {FORM_FIELDS.map((f) => (
        <Line key={f} text={fieldLine(s, form, f, width)} inverse={FORM_FIELDS[form.focus] === f} />
      ))}
      <Line text="" />
      {form.error
        ? wrap(`error: ${form.error}`, width, "  ").map((t) => <Line key={t} text={t} tone="bad" />)
        : null}
      <Line text="Enter creates and starts it; the stages show as they run." tone="dim" />
    </Box>
  );
}

export function progressLineText(l: ProgressLine, width: number): string {
  if (l.current !== undefined && l.total !== undefined)
    return `  ${l.message} ${progressBar(l.current, l.total, Math.max(20, width - l.message.length - 4))}`;
  const mark = l.phase === "done" ? "✓" : l.phase === "start" ? "…" : l.phase === "warn" ? "!" : " ";
  return `${mark} ${l.message}${l.ms !== undefined ? ` (${formatMs(l.ms)})` : ""}`;
}

/** A create in progress: its stages as they run, then the error if it failed. */
export function Creating({ s, width, height }: { s: TuiState; width: number; height: number }) {
  if (s.mode.kind !== "creating") return null;
  const m = s.mode;
  const name = m.form.name.trim() || "a VM";
  const title = m.error ? `Creating ${name} failed` : `Creating ${name}…`;
  const errLines = m.error
    ? [
        ...wrap(`error: ${m.error.message}`, width, "  "),
        ...(m.error.hint ? wrap(`hint: ${m.error.hint}`, width, "  ") : []),
      ]
    : [];
  const room = Math.max(1, height - 2 - errLines.length);
  const lines = m.lines.slice(-room);
  return (
    <Box flexDirection="column" height={height}>
      <Line text={title} bold tone={m.error ? "bad" : undefined} />
      <Line text="" />
      {lines.length === 0 && !m.error ? <Line text="… asking the daemon" tone="dim" /> : null}
      <Lines
        lines={lines.map((l) => ({
          text: progressLineText(l, width),
          tone: l.phase === "warn" ? "busy" : l.phase === "done" ? "good" : undefined,
        }))}
      />
      <Lines lines={errLines.map((text) => ({ text, tone: "bad" as const }))} />
    </Box>
  );
}
