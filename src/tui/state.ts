/**
 * The TUI's state and its pure reducer: (state, action) -> state, over
 * daemon events, RPC results and key presses. No I/O here: what must happen
 * outside (an RPC call, a stream, SSH, quitting) is queued in `outbox` as a
 * Request, which the app hands to the effects and then clears.
 */
import type { ProgressEvent } from "../api/protocol.js";
import type { VmView } from "../api/vms.js";
import { isVmActive } from "../model/vm.js";
import { applyFormAction, type FormAction, formFromState, validateForm } from "./form.js";
import { bodyHeight, cleanLog, doneText, opLabel, pagerMax, sshNote } from "./format.js";
import { artifactRows, selectableKeys, visibleVms } from "./selectors.js";
import {
  type Action,
  type Artifact,
  type Conn,
  type ErrorInfo,
  type NewRequest,
  type ProgressLine,
  type Request,
  SORT_KEYS,
  type Status,
  TABS,
  type Tab,
  type TuiState,
  type VmOp,
} from "./types.js";

export * from "./types.js";

export function initialState(now: number, screen = { width: 80, height: 24 }): TuiState {
  return {
    tab: "vms",
    mode: { kind: "list" },
    conn: { status: "connecting", attempt: 0 },
    vms: [],
    problems: [],
    stats: {},
    health: {},
    images: [],
    imageCatalog: [],
    kernels: [],
    kernelCatalog: [],
    unsupported: [],
    defaults: null,
    selected: { vms: null, images: null, kernels: null },
    sort: { key: "name", desc: false },
    filter: { text: "", editing: false },
    status: null,
    ops: {},
    outbox: [],
    nextId: 1,
    now,
    screen,
  };
}

const LOG_MAX_LINES = 5000;

/** Queue a request; long operations are also recorded in `ops`. */
export function enqueue(s: TuiState, r: NewRequest): TuiState {
  if (s.conn.status !== "connected" && r.kind !== "quit" && r.kind !== "logs-close") {
    return { ...s, status: { kind: "error", text: "not connected to the daemon; reconnecting…" } };
  }
  const req = { ...r, id: s.nextId } as Request;
  const tracked =
    req.kind === "vm-op" || req.kind === "create" || req.kind === "pull" || req.kind === "artifact-delete";
  return {
    ...s,
    nextId: s.nextId + 1,
    outbox: [...s.outbox, req],
    ops: tracked ? { ...s.ops, [req.id]: { req, last: null } } : s.ops,
  };
}

export function selectedVm(s: TuiState): VmView | undefined {
  const name = s.selected.vms;
  return visibleVms(s).find((v) => v.name === name);
}

/** Keep the selection valid: on the same key if it is still listed, else on the row at the same place. */
function fixSelection(prev: TuiState, next: TuiState, tab: Tab = next.tab): TuiState {
  const keys = selectableKeys(next, tab);
  const cur = next.selected[tab];
  if (cur !== null && keys.includes(cur)) return next;
  const oldKeys = selectableKeys(prev, tab);
  const at = cur === null ? 0 : Math.max(0, oldKeys.indexOf(cur));
  const pick = keys.length ? keys[Math.min(at, keys.length - 1)]! : null;
  return { ...next, selected: { ...next.selected, [tab]: pick } };
}

function fixAll(prev: TuiState, next: TuiState): TuiState {
  return TABS.reduce((acc, t) => fixSelection(prev, acc, t), next);
}

function move(s: TuiState, delta: number): TuiState {
  const keys = selectableKeys(s, s.tab);
  if (!keys.length) return s;
  const cur = s.selected[s.tab];
  const at = cur === null ? -1 : keys.indexOf(cur);
  const to = Math.min(keys.length - 1, Math.max(0, Math.max(at, 0) + delta));
  return { ...s, selected: { ...s.selected, [s.tab]: keys[to]! } };
}

/** Rows a page scrolls by: the list area of the screen. */
export function pageSize(s: TuiState): number {
  return Math.max(1, bodyHeight(s) - 3);
}

function upsertVm(s: TuiState, vm: VmView): TuiState {
  const i = s.vms.findIndex((v) => v.name === vm.name || v.id === vm.id);
  const vms = i < 0 ? [...s.vms, vm] : s.vms.map((v, j) => (j === i ? vm : v));
  // a health report is about one run of the VM: drop it when the VM stops running
  const { [vm.name]: _h, ...others } = s.health;
  const health = vm.state === "running" ? s.health : others;
  return fixSelection(s, { ...s, vms, health }, "vms");
}

function removeVm(s: TuiState, name: string): TuiState {
  const { [name]: _s, ...stats } = s.stats;
  const { [name]: _h, ...health } = s.health;
  return fixSelection(s, { ...s, vms: s.vms.filter((v) => v.name !== name), stats, health }, "vms");
}

function onOpDone(s: TuiState, a: { id: number; vm?: VmView }): TuiState {
  const op = s.ops[a.id];
  if (!op) return s;
  const { [a.id]: _, ...ops } = s.ops;
  let next: TuiState = { ...s, ops, status: { kind: "info", text: doneText(op.req, a.vm) } };
  if (op.req.kind === "vm-op" && op.req.op === "delete") next = removeVm(next, op.req.name);
  else if (a.vm) next = upsertVm(next, a.vm);
  if (op.req.kind === "create" && a.vm) {
    next = { ...next, tab: "vms", selected: { ...next.selected, vms: a.vm.name } };
    if (s.mode.kind === "creating" && s.mode.reqId === a.id) next = { ...next, mode: { kind: "list" } };
  }
  return next;
}

function onOpFailed(s: TuiState, a: { id: number; error: ErrorInfo }): TuiState {
  const op = s.ops[a.id];
  const { [a.id]: _, ...ops } = s.ops;
  const text = op ? `${opLabel(op.req)} failed: ${a.error.message}` : a.error.message;
  const next: TuiState = { ...s, ops, status: errorStatus(a.error, text) };
  if (s.mode.kind === "creating" && s.mode.reqId === a.id)
    return { ...next, mode: { ...s.mode, error: a.error } };
  return next;
}

function onOpProgress(s: TuiState, a: { id: number; event: ProgressEvent }): TuiState {
  const op = s.ops[a.id];
  if (!op) return s;
  const { kind: _k, ...line } = a.event;
  let next: TuiState = { ...s, ops: { ...s.ops, [a.id]: { ...op, last: line } } };
  if (s.mode.kind === "creating" && s.mode.reqId === a.id) {
    next = { ...next, mode: { ...s.mode, lines: mergeLine(s.mode.lines, line) } };
  }
  return next;
}

/** A stage's "done" replaces its "start" line; a progress count replaces the previous count of that stage. */
function mergeLine(lines: ProgressLine[], line: ProgressLine): ProgressLine[] {
  const last = lines[lines.length - 1];
  if (last && last.stage === line.stage && (last.phase === "start" || line.current !== undefined)) {
    return [...lines.slice(0, -1), line];
  }
  return [...lines, line].slice(-200);
}

export function errorStatus(e: ErrorInfo, text = e.message): Status {
  return e.hint ? { kind: "error", text, hint: e.hint } : { kind: "error", text };
}

function onLogData(s: TuiState, a: { streamId: number; data: string }): TuiState {
  const m = s.mode;
  if (m.kind !== "logs" || m.streamId !== a.streamId) return s;
  const parts = (m.partial + a.data).split("\n");
  const partial = parts.pop() ?? "";
  const added = parts.map(cleanLog);
  const all = [...m.lines, ...added];
  const lines = all.length > LOG_MAX_LINES ? all.slice(-LOG_MAX_LINES) : all;
  const scroll = m.scroll > 0 ? Math.min(m.scroll + added.length, lines.length) : 0;
  return { ...s, mode: { ...m, lines, partial, scroll } };
}

function openLogs(s: TuiState, name: string, source: "console" | "vmm"): TuiState {
  const streamId = s.nextId;
  const next = enqueue(s, { kind: "logs-open", streamId, name, source });
  if (next.outbox.length === s.outbox.length) return next;
  return {
    ...next,
    mode: { kind: "logs", name, source, streamId, lines: [], partial: "", scroll: 0, ended: null },
  };
}

/** Leave an overlay for the list; a logs view stops its stream. */
function back(s: TuiState): TuiState {
  const m = s.mode;
  const next: TuiState = { ...s, mode: { kind: "list" } };
  if (m.kind === "logs") return enqueue(next, { kind: "logs-close", streamId: m.streamId });
  if (m.kind === "creating" && m.error) return { ...s, mode: { kind: "form", form: m.form } };
  return next;
}

function scrollMode(s: TuiState, delta: number): TuiState {
  const m = s.mode;
  if (m.kind === "logs") {
    const max = Math.max(0, m.lines.length - (bodyHeight(s) - 1));
    return { ...s, mode: { ...m, scroll: Math.min(max, Math.max(0, m.scroll - delta)) } };
  }
  if (m.kind === "details" || m.kind === "help") {
    return { ...s, mode: { ...m, scroll: Math.min(pagerMax(s), Math.max(0, m.scroll + delta)) } };
  }
  return move(s, delta);
}

function vmOp(s: TuiState, op: Exclude<VmOp, "delete">): TuiState {
  const vm = selectedVm(s);
  if (!vm) return { ...s, status: { kind: "error", text: "no VM selected" } };
  if (op === "start" && isVmActive(vm.state))
    return { ...s, status: { kind: "error", text: `${vm.name} is already ${vm.state}` } };
  if (op !== "start" && !isVmActive(vm.state))
    return { ...s, status: { kind: "error", text: `${vm.name} is ${vm.state} — S to start it` } };
  return enqueue(s, { kind: "vm-op", op, name: vm.name });
}

function askDelete(s: TuiState): TuiState {
  if (s.tab === "vms") {
    const vm = selectedVm(s);
    if (!vm) return { ...s, status: { kind: "error", text: "no VM selected" } };
    return {
      ...s,
      mode: { kind: "confirm", target: { what: "vm", name: vm.name, running: isVmActive(vm.state) } },
    };
  }
  const what: Artifact = s.tab === "images" ? "image" : "kernel";
  const row = artifactRows(s, what).find((r) => r.key === s.selected[s.tab]);
  if (!row?.local) return { ...s, status: { kind: "error", text: `select a local ${what} to delete` } };
  return { ...s, mode: { kind: "confirm", target: { what, name: row.name } } };
}

function confirm(s: TuiState, yes: boolean): TuiState {
  if (s.mode.kind !== "confirm") return s;
  const t = s.mode.target;
  const listed: TuiState = { ...s, mode: { kind: "list" } };
  if (!yes)
    return {
      ...listed,
      status: { kind: "info", text: `kept ${t.what === "vm" ? "" : `${t.what} `}${t.name}` },
    };
  if (t.what === "vm")
    return enqueue(listed, { kind: "vm-op", op: "delete", name: t.name, force: t.running });
  return enqueue(listed, { kind: "artifact-delete", what: t.what, name: t.name });
}

function pull(s: TuiState): TuiState {
  if (s.tab === "vms") return s;
  const what: Artifact = s.tab === "images" ? "image" : "kernel";
  const row = artifactRows(s, what).find((r) => r.key === s.selected[s.tab]);
  if (!row || row.local)
    return { ...s, status: { kind: "error", text: `select an available ${what} to pull` } };
  return enqueue(s, { kind: "pull", what, name: row.name });
}

function forSelectedVm(s: TuiState, f: (vm: VmView) => TuiState): TuiState {
  const vm = selectedVm(s);
  return vm ? f(vm) : { ...s, status: { kind: "error", text: "no VM selected" } };
}

function ssh(s: TuiState): TuiState {
  return forSelectedVm(s, (vm) =>
    vm.state === "running"
      ? enqueue({ ...s, status: null }, { kind: "ssh", name: vm.name })
      : { ...s, status: { kind: "error", text: `${vm.name} is ${vm.state} — S to start it first` } },
  );
}

function onSshReturned(s: TuiState, a: Extract<Action, { type: "ssh-returned" }>): TuiState {
  let next = a.vm ? upsertVm(s, a.vm) : s;
  if (a.error) return { ...next, status: errorStatus(a.error) };
  const note = a.vm ? sshNote(a.vm, s.now) : null;
  next = { ...next, status: { kind: "info", text: note ?? `${a.name} is ${a.vm?.state ?? "gone"}` } };
  return next;
}

function onEscape(s: TuiState): TuiState {
  if (s.filter.editing || s.filter.text) return { ...s, filter: { text: "", editing: false } };
  return { ...s, status: null };
}

function onConnDown(s: TuiState, a: Extract<Action, { type: "conn-down" }>): TuiState {
  const conn: Conn = { status: "reconnecting", attempt: a.attempt, retryInMs: a.retryInMs, reason: a.reason };
  return { ...s, conn };
}

function onConnUp(s: TuiState, watch: "events" | "polling"): TuiState {
  const c = s.conn;
  const again = c.status === "reconnecting" || (c.status === "connecting" && c.attempt > 0);
  const status: Status | null = again ? { kind: "info", text: "reconnected to the daemon" } : s.status;
  return { ...s, conn: { status: "connected", watch }, status, unsupported: [] };
}

type Handlers = { [K in Action["type"]]: (s: TuiState, a: Extract<Action, { type: K }>) => TuiState };

const DATA: Partial<Handlers> = {
  "conn-connecting": (s, a) => ({ ...s, conn: { status: "connecting", attempt: a.attempt } }),
  "conn-up": (s, a) => onConnUp(s, a.watch),
  "conn-down": onConnDown,
  "vms-loaded": (s, a) => fixSelection(s, { ...s, vms: a.vms, problems: a.problems }, "vms"),
  "vm-upsert": (s, a) => upsertVm(s, a.vm),
  "vm-removed": (s, a) => removeVm(s, a.name),
  "stats-loaded": (s, a) => ({ ...s, stats: Object.fromEntries(a.stats.map((x) => [x.name, x])) }),
  health: (s, a) => ({ ...s, health: { ...s.health, [a.report.name]: a.report } }),
  "images-loaded": (s, a) => fixAll(s, { ...s, images: a.images }),
  "kernels-loaded": (s, a) => fixAll(s, { ...s, kernels: a.kernels }),
  "catalog-loaded": (s, a) =>
    fixAll(s, a.what === "image" ? { ...s, imageCatalog: a.entries } : { ...s, kernelCatalog: a.entries }),
  unsupported: (s, a) =>
    s.unsupported.includes(a.method) ? s : { ...s, unsupported: [...s.unsupported, a.method] },
  defaults: (s, a) => ({ ...s, defaults: a.defaults }),
  tick: (s, a) => ({ ...s, now: a.now }),
  resize: (s, a) => ({ ...s, screen: { width: a.width, height: a.height } }),
  "op-progress": onOpProgress,
  "op-done": onOpDone,
  "op-failed": onOpFailed,
  "outbox-taken": (s, a) => ({ ...s, outbox: s.outbox.filter((r) => !a.ids.includes(r.id)) }),
  "log-data": onLogData,
  "log-end": (s, a) =>
    s.mode.kind === "logs" && s.mode.streamId === a.streamId
      ? { ...s, mode: { ...s.mode, ended: a.reason } }
      : s,
  "ssh-returned": onSshReturned,
  error: (s, a) => ({ ...s, status: errorStatus(a.error) }),
};

const UI: Partial<Handlers> = {
  move: (s, a) => scrollMode(s, a.delta),
  page: (s, a) => scrollMode(s, a.delta * pageSize(s)),
  "move-to": (s, a) => scrollMode(s, a.where === "top" ? -1e9 : 1e9),
  tab: (s, a) => ({ ...s, tab: a.tab, mode: { kind: "list" } }),
  "tab-next": (s) => ({ ...s, tab: TABS[(TABS.indexOf(s.tab) + 1) % TABS.length]!, mode: { kind: "list" } }),
  "sort-next": (s) => ({
    ...s,
    sort: { key: SORT_KEYS[(SORT_KEYS.indexOf(s.sort.key) + 1) % SORT_KEYS.length]!, desc: s.sort.desc },
  }),
  "sort-reverse": (s) => ({ ...s, sort: { ...s.sort, desc: !s.sort.desc } }),
  "filter-start": (s) => ({ ...s, tab: "vms", filter: { ...s.filter, editing: true } }),
  "filter-type": (s, a) =>
    fixSelection(s, { ...s, filter: { text: s.filter.text + a.text, editing: true } }, "vms"),
  "filter-backspace": (s) =>
    fixSelection(s, { ...s, filter: { ...s.filter, text: s.filter.text.slice(0, -1) } }, "vms"),
  "filter-done": (s) => ({ ...s, filter: { ...s.filter, editing: false } }),
  escape: (s) => fixSelection(s, onEscape(s), "vms"),
  help: (s) => ({ ...s, mode: s.mode.kind === "help" ? { kind: "list" } : { kind: "help", scroll: 0 } }),
  "vm-op": (s, a) => vmOp(s, a.op),
  "ask-delete": askDelete,
  confirm: (s, a) => confirm(s, a.yes),
  "open-create": (s) => ({ ...s, mode: { kind: "form", form: formFromState(s) } }),
  "open-logs": (s) => forSelectedVm(s, (vm) => openLogs(s, vm.name, "console")),
  "logs-source": (s) => {
    if (s.mode.kind !== "logs") return s;
    const { name, source } = s.mode;
    return openLogs(back(s), name, source === "console" ? "vmm" : "console");
  },
  "open-details": (s) =>
    forSelectedVm(s, (vm) => ({ ...s, mode: { kind: "details", name: vm.name, scroll: 0 } })),
  back,
  ssh,
  pull,
  quit: (s) => enqueue(s, { kind: "quit" }),
};

function submitForm(s: TuiState): TuiState {
  if (s.mode.kind !== "form") return s;
  const form = s.mode.form;
  const v = validateForm(s, form);
  if (!v.ok) return { ...s, mode: { kind: "form", form: { ...form, error: v.error, focus: v.focus } } };
  const next = enqueue(s, { kind: "create", params: { ...v.params, start: true }, pull: v.pull });
  if (next.outbox.length === s.outbox.length) return next;
  return { ...next, mode: { kind: "creating", reqId: s.nextId, lines: [], error: null, form } };
}

export function reduce(s: TuiState, a: Action): TuiState {
  if (a.type.startsWith("form-"))
    return a.type === "form-submit" ? submitForm(s) : applyFormAction(s, a as FormAction);
  const h = (DATA[a.type] ?? UI[a.type]) as ((s: TuiState, a: Action) => TuiState) | undefined;
  return h ? h(s, a) : s;
}
