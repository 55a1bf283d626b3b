/** The create form: its fields, key actions and validation (pure; the reducer queues the request). */
import type { VmCreateParams } from "../api/vms.js";
import { MiB, tryParseSize } from "../config/sizes.js";
import { isValidVmName } from "../model/vm.js";
import { imageChoices } from "./selectors.js";
import type { CreateForm, Defaults, FormAction, TuiState } from "./types.js";

export type { FormAction } from "./types.js";

export const FORM_FIELDS = ["name", "image", "vcpu", "memory", "disk"] as const;
export type FormField = (typeof FORM_FIELDS)[number];

export function focusedField(form: CreateForm): FormField {
  return FORM_FIELDS[form.focus] ?? "name";
}

/** A fresh form; on the images tab the selected image is preselected. */
export function formFromState(s: TuiState): CreateForm {
  const choices = imageChoices(s);
  const sel = s.tab === "images" ? (s.selected.images ?? "").replace(/^[a-z]+:/, "") : "";
  const i = choices.findIndex((c) => c.name === sel);
  return { name: "", image: Math.max(0, i), vcpu: "", memory: "", disk: "", focus: 0, error: null };
}

type TextField = "name" | "vcpu" | "memory" | "disk";

function edit(form: CreateForm, f: (v: string) => string): CreateForm {
  const field = focusedField(form);
  if (field === "image") return form;
  return { ...form, [field as TextField]: f(form[field as TextField]), error: null };
}

function nextForm(s: TuiState, form: CreateForm, a: FormAction): CreateForm | null {
  const n = FORM_FIELDS.length;
  switch (a.type) {
    case "form-next":
      return { ...form, focus: (form.focus + 1) % n };
    case "form-prev":
      return { ...form, focus: (form.focus + n - 1) % n };
    case "form-type":
      return edit(form, (v) => (v + a.text.replace(/[\r\n\t]/g, "")).slice(0, 63));
    case "form-backspace":
      return edit(form, (v) => v.slice(0, -1));
    case "form-choice": {
      if (focusedField(form) !== "image") return form;
      const len = imageChoices(s).length;
      return { ...form, image: (form.image + a.delta + len) % len };
    }
    default:
      return null;
  }
}

export function applyFormAction(s: TuiState, a: FormAction): TuiState {
  if (s.mode.kind !== "form") return s;
  const form = nextForm(s, s.mode.form, a);
  if (form === null) return { ...s, mode: { kind: "list" } };
  return { ...s, mode: { kind: "form", form } };
}

export type Validated =
  | { ok: true; params: VmCreateParams; pull: string | null }
  | { ok: false; error: string; focus: number };

function bad(field: FormField, error: string): Validated {
  return { ok: false, error, focus: FORM_FIELDS.indexOf(field) };
}

function parseMemory(v: string): number | string {
  const r = tryParseSize(v);
  if (!r.ok) return r.message;
  if (r.value % MiB !== 0) return "memory must be a whole number of MiB (for example 1536M or 2G)";
  if (r.value < 128 * MiB) return "memory must be at least 128M";
  return r.value / MiB;
}

/** Empty fields mean "the default"; a filled one must parse like the CLI's flags. */
export function validateForm(s: TuiState, form: CreateForm): Validated {
  const name = form.name.trim();
  if (name && !isValidVmName(name))
    return bad("name", "name: lowercase letters, digits and '-' (a DNS label), at most 63");
  const params: VmCreateParams = name ? { name } : {};
  const vcpu = form.vcpu.trim();
  if (vcpu) {
    const n = Number(vcpu);
    if (!Number.isInteger(n) || n < 1 || n > 64) return bad("vcpu", "vcpu: a whole number from 1 to 64");
    params.vcpu = n;
  }
  if (form.memory.trim()) {
    const m = parseMemory(form.memory.trim());
    if (typeof m === "string") return bad("memory", `memory: ${m}`);
    params.memoryMib = m;
  }
  if (form.disk.trim()) {
    const d = tryParseSize(form.disk.trim());
    if (!d.ok) return bad("disk", `disk: ${d.message}`);
    params.diskSizeBytes = d.value;
  }
  const choice = imageChoices(s)[form.image];
  if (choice?.name) params.image = choice.name;
  return { ok: true, params, pull: choice?.pull ? choice.name : null };
}

/**
 * Parse the doctor report's vm-defaults detail, e.g.
 * "vcpu 2 (auto) · memory 2048 MiB (auto) · disk 8G (builtin); override in ...".
 */
export function parseDefaults(detail: string): Defaults {
  const vcpu = /vcpu (\d+)/.exec(detail);
  const mem = /memory (\d+) MiB/.exec(detail);
  const disk = /disk (\d+(?:\.\d+)?[KMGT]?)/.exec(detail);
  const diskBytes = disk ? tryParseSize(disk[1]!) : null;
  return {
    vcpu: vcpu ? Number(vcpu[1]) : null,
    memoryMib: mem ? Number(mem[1]) : null,
    diskSizeBytes: diskBytes?.ok ? diskBytes.value : null,
  };
}
