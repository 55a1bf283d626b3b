/**
 * Key presses -> reducer actions (pure), and the key documentation shown in
 * the help bar and the `?` screen. One table per mode, so what a key does is
 * decided here and nowhere else.
 */
import type { Key } from "ink";
import type { Action, TuiState } from "./types.js";

type KeyLike = Partial<Key>;

/** Printable text typed (not a control key or a chord). */
function typed(input: string, key: KeyLike): string | null {
  if (key.ctrl || key.meta || key.escape || key.return || key.tab) return null;
  if (!input || /[\u0000-\u001f\u007f]/.test(input)) return null;
  return input;
}

/** Arrows, pages, Home/End and their vi letters. */
function navigation(input: string, key: KeyLike): Action | null {
  if (key.upArrow || input === "k") return { type: "move", delta: -1 };
  if (key.downArrow || input === "j") return { type: "move", delta: 1 };
  if (key.pageUp) return { type: "page", delta: -1 };
  if (key.pageDown || input === " ") return { type: "page", delta: 1 };
  if (key.home || input === "g") return { type: "move-to", where: "top" };
  if (key.end || input === "G") return { type: "move-to", where: "bottom" };
  return null;
}

const VM_KEYS: Record<string, Action> = {
  "/": { type: "filter-start" },
  s: { type: "sort-next" },
  o: { type: "sort-reverse" },
  c: { type: "open-create" },
  n: { type: "open-create" },
  S: { type: "vm-op", op: "start" },
  x: { type: "vm-op", op: "stop" },
  R: { type: "vm-op", op: "restart" },
  d: { type: "ask-delete" },
  e: { type: "ssh" },
  l: { type: "open-logs" },
  i: { type: "open-details" },
};

const ARTIFACT_KEYS: Record<string, Action> = {
  "/": { type: "filter-start" },
  p: { type: "pull" },
  d: { type: "ask-delete" },
  c: { type: "open-create" },
};

function listKey(s: TuiState, input: string, key: KeyLike): Action | null {
  if (s.filter.editing) return filterKey(input, key);
  if (input === "q") return { type: "quit" };
  if (input === "?") return { type: "help" };
  if (input === "1" || input === "2" || input === "3")
    return { type: "tab", tab: (["vms", "images", "kernels"] as const)[Number(input) - 1]! };
  if (key.tab) return { type: "tab-next" };
  if (key.escape) return { type: "escape" };
  const nav = navigation(input, key);
  if (nav) return nav;
  if (s.tab === "vms") {
    if (key.return) return { type: "open-details" };
    if (key.delete) return { type: "ask-delete" };
    return VM_KEYS[input] ?? null;
  }
  if (s.tab === "kernels" && input === "c") return null;
  return ARTIFACT_KEYS[input] ?? null;
}

function filterKey(input: string, key: KeyLike): Action | null {
  if (key.escape) return { type: "escape" };
  if (key.return) return { type: "filter-done" };
  if (key.backspace || key.delete) return { type: "filter-backspace" };
  if (key.upArrow) return { type: "move", delta: -1 };
  if (key.downArrow) return { type: "move", delta: 1 };
  const t = typed(input, key);
  return t ? { type: "filter-type", text: t } : null;
}

function formKey(input: string, key: KeyLike): Action | null {
  if (key.escape) return { type: "form-cancel" };
  if (key.return) return { type: "form-submit" };
  if ((key.tab && key.shift) || key.upArrow) return { type: "form-prev" };
  if (key.tab || key.downArrow) return { type: "form-next" };
  if (key.leftArrow) return { type: "form-choice", delta: -1 };
  if (key.rightArrow) return { type: "form-choice", delta: 1 };
  if (key.backspace || key.delete) return { type: "form-backspace" };
  const t = typed(input, key);
  return t ? { type: "form-type", text: t } : null;
}

const DETAIL_KEYS: Record<string, Action> = {
  S: { type: "vm-op", op: "start" },
  x: { type: "vm-op", op: "stop" },
  R: { type: "vm-op", op: "restart" },
  e: { type: "ssh" },
  l: { type: "open-logs" },
  d: { type: "ask-delete" },
};

function overlayKey(s: TuiState, input: string, key: KeyLike): Action | null {
  const m = s.mode;
  const leave = key.escape || input === "q";
  switch (m.kind) {
    case "help":
      if (key.upArrow || key.downArrow || key.pageUp || key.pageDown) return navigation(input, key);
      return { type: "help" };
    case "confirm":
      return input === "y" || input === "Y"
        ? { type: "confirm", yes: true }
        : { type: "confirm", yes: false };
    case "form":
      return formKey(input, key);
    case "creating":
      return leave || (m.error && key.return) ? { type: "back" } : null;
    case "logs":
      if (leave) return { type: "back" };
      if (input === "v") return { type: "logs-source" };
      if (input === "f") return { type: "move-to", where: "bottom" };
      return navigation(input, key);
    case "details":
      if (leave) return { type: "back" };
      return navigation(input, key) ?? DETAIL_KEYS[input] ?? null;
    default:
      return null;
  }
}

const CONTROL_KEYS: Record<string, KeyLike> = {
  "\t": { tab: true },
  "\r": { return: true },
  "\n": { return: true },
  "\u007f": { delete: true },
  "\b": { backspace: true },
  "\u001b": { escape: true },
};

/**
 * A chunk of several keys read at once (typed fast, pasted, or sent by tmux) arrives as one
 * string; split it into single keys so "web\t" types and then moves on. Escape sequences are
 * left whole (the terminal's arrows and function keys are parsed before this).
 */
export function splitKeys(input: string, key: KeyLike): Array<[string, KeyLike]> {
  if (input.length <= 1 || !/[\t\r\n\u007f\b]/.test(input) || input.includes("\u001b")) return [[input, key]];
  return [...input].map((ch): [string, KeyLike] => {
    const k = CONTROL_KEYS[ch];
    return k ? ["", k] : [ch, {}];
  });
}

/** The action for a key press in this state, or null when the key does nothing here. */
export function keyAction(s: TuiState, input: string, key: KeyLike): Action | null {
  if (key.ctrl && input === "c") return { type: "quit" };
  if (s.mode.kind === "list") return listKey(s, input, key);
  return overlayKey(s, input, key);
}

export type Hint = [key: string, what: string];

const LIST_HINTS: Record<TuiState["tab"], Hint[]> = {
  vms: [
    ["c", "create"],
    ["S", "start"],
    ["x", "stop"],
    ["R", "restart"],
    ["d", "delete"],
    ["e", "ssh"],
    ["l", "logs"],
    ["⏎", "details"],
    ["/", "filter"],
    ["s", "sort"],
    ["1-3", "tabs"],
  ],
  images: [
    ["p", "pull"],
    ["d", "delete"],
    ["c", "create VM"],
    ["1-3", "tabs"],
  ],
  kernels: [
    ["p", "pull"],
    ["d", "delete"],
    ["1-3", "tabs"],
  ],
};

type HintBar = { hints: Hint[]; tail: Hint[] };

const BACK: Hint[] = [["q/Esc", "back"]];

/** The help bars that depend on the mode alone. */
const MODE_HINTS: Record<"help" | "confirm" | "form" | "logs" | "details", HintBar> = {
  help: { hints: [["↑↓", "scroll"]], tail: [["any key", "close"]] },
  confirm: {
    hints: [],
    tail: [
      ["y", "yes"],
      ["n/Esc", "no"],
    ],
  },
  form: {
    hints: [
      ["Tab/↑↓", "field"],
      ["←→", "image"],
    ],
    tail: [
      ["⏎", "create"],
      ["Esc", "cancel"],
    ],
  },
  logs: {
    hints: [
      ["↑↓/PgUp/PgDn", "scroll"],
      ["End/f", "follow"],
      ["v", "console/vmm"],
    ],
    tail: BACK,
  },
  details: {
    hints: [
      ["↑↓", "scroll"],
      ["e", "ssh"],
      ["l", "logs"],
      ["x", "stop"],
      ["S", "start"],
    ],
    tail: BACK,
  },
};

const FILTER_HINTS: HintBar = {
  hints: [["type", "filter"]],
  tail: [
    ["⏎", "keep"],
    ["Esc", "clear"],
  ],
};

const LIST_TAIL: Hint[] = [
  ["?", "keys"],
  ["q", "quit"],
];

/** The help bar for this state, most important first; the view keeps the tail ("? keys", "q quit"). */
export function keyHints(s: TuiState): HintBar {
  const m = s.mode;
  if (m.kind === "list")
    return s.filter.editing ? FILTER_HINTS : { hints: LIST_HINTS[s.tab], tail: LIST_TAIL };
  if (m.kind === "creating")
    return { hints: [], tail: m.error ? [["⏎/Esc", "back to the form"]] : [["Esc", "hide (keeps going)"]] };
  return MODE_HINTS[m.kind];
}

/** Every key, for the `?` screen. */
export const ALL_KEYS: ReadonlyArray<[section: string, keys: Hint[]]> = [
  [
    "Everywhere",
    [
      ["1 2 3 / Tab", "VMs, images, kernels tab"],
      ["↑↓ j k", "move"],
      ["PgUp PgDn Space", "page"],
      ["Home End g G", "first, last"],
      ["?", "this help"],
      ["q", "quit (in a view: back)"],
      ["Ctrl+C", "quit"],
    ],
  ],
  [
    "VMs",
    [
      ["c n", "create a VM (form)"],
      ["S", "start the selected VM"],
      ["x", "stop it"],
      ["R", "restart it"],
      ["d Delete", "delete it (asks y/N)"],
      ["e", "ssh into it (the TUI steps aside until you exit)"],
      ["l", "follow its console log (v: VMM log)"],
      ["Enter i", "details: spec, driver, paths, boot stages"],
      ["/", "filter by name, state, image or IP (Enter keeps, Esc clears)"],
      ["s", "sort by the next column"],
      ["o", "reverse the sort order"],
      ["Esc", "clear the filter, then the status line"],
    ],
  ],
  [
    "Images and kernels",
    [
      ["p", "pull the selected available entry"],
      ["d", "delete the selected local one (asks y/N)"],
      ["c", "create a VM from the selected image"],
    ],
  ],
  [
    "Create form",
    [
      ["Tab ↓ / Shift+Tab ↑", "next / previous field"],
      ["← →", "choose the image"],
      ["Enter", "create (empty fields take the defaults)"],
      ["Esc", "cancel"],
    ],
  ],
  [
    "Logs and details",
    [
      ["↑↓ PgUp PgDn", "scroll"],
      ["End f", "back to following new output"],
      ["q Esc", "back to the list"],
    ],
  ],
];
