/** The TUI's state, the requests it queues and the actions its reducer takes (see state.ts). */
import type { HealthReport, VmStats } from "../api/agent.js";
import type { CatalogEntryView, KernelView } from "../api/catalog.js";
import type { ProgressEvent } from "../api/protocol.js";
import type { ImageView, VmCreateParams, VmView } from "../api/vms.js";

/** The create form's key actions (applied in form.ts). */
export type FormAction =
  | { type: "form-next" }
  | { type: "form-prev" }
  | { type: "form-type"; text: string }
  | { type: "form-backspace" }
  | { type: "form-choice"; delta: number }
  | { type: "form-cancel" }
  | { type: "form-submit" };

export type Tab = "vms" | "images" | "kernels";
export const TABS: readonly Tab[] = ["vms", "images", "kernels"];
export const SORT_KEYS = [
  "name",
  "state",
  "image",
  "vcpu",
  "memory",
  "ip",
  "uptime",
  "cpu",
  "rss",
  "health",
] as const;
export type SortKey = (typeof SORT_KEYS)[number];
export type Artifact = "image" | "kernel";

export interface ErrorInfo {
  code: string;
  message: string;
  hint?: string;
}

export interface Status {
  kind: "info" | "error";
  text: string;
  hint?: string;
}

export type Conn =
  | { status: "connecting"; attempt: number }
  | { status: "connected"; watch: "events" | "polling" }
  | { status: "reconnecting"; attempt: number; retryInMs: number; reason: string };

/** The resolved VM defaults (from the doctor report), shown as placeholders in the create form. */
export interface Defaults {
  vcpu: number | null;
  memoryMib: number | null;
  diskSizeBytes: number | null;
}

export interface CreateForm {
  name: string;
  /** Index into imageChoices(state). */
  image: number;
  vcpu: string;
  memory: string;
  disk: string;
  /** Index into FORM_FIELDS. */
  focus: number;
  error: string | null;
}

export type ConfirmTarget = { what: "vm"; name: string; running: boolean } | { what: Artifact; name: string };

export interface ProgressLine {
  stage: string;
  message: string;
  phase: ProgressEvent["phase"];
  ms?: number;
  current?: number;
  total?: number;
}

export type Mode =
  | { kind: "list" }
  | { kind: "help"; scroll: number }
  | { kind: "confirm"; target: ConfirmTarget }
  | { kind: "form"; form: CreateForm }
  | { kind: "creating"; reqId: number; lines: ProgressLine[]; error: ErrorInfo | null; form: CreateForm }
  | {
      kind: "logs";
      name: string;
      source: "console" | "vmm";
      streamId: number;
      lines: string[];
      partial: string;
      /** Lines scrolled up from the bottom; 0 follows new output. */
      scroll: number;
      ended: string | null;
    }
  | { kind: "details"; name: string; scroll: number };

export type VmOp = "start" | "stop" | "restart" | "delete";

export type Request =
  | { id: number; kind: "vm-op"; op: VmOp; name: string; force?: boolean }
  | { id: number; kind: "create"; params: VmCreateParams; pull: string | null }
  | { id: number; kind: "pull"; what: Artifact; name: string }
  | { id: number; kind: "artifact-delete"; what: Artifact; name: string }
  | { id: number; kind: "ssh"; name: string }
  | { id: number; kind: "logs-open"; streamId: number; name: string; source: "console" | "vmm" }
  | { id: number; kind: "logs-close"; streamId: number }
  | { id: number; kind: "quit" };
/** A Request before the reducer numbers it. */
export type NewRequest = Request extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

/** An operation in flight (its latest progress, for the status line and progress bars). */
export interface Op {
  req: Request;
  last: ProgressLine | null;
}

export interface TuiState {
  tab: Tab;
  mode: Mode;
  conn: Conn;
  vms: VmView[];
  problems: string[];
  stats: Record<string, VmStats>;
  health: Record<string, HealthReport>;
  images: ImageView[];
  imageCatalog: CatalogEntryView[];
  kernels: KernelView[];
  kernelCatalog: CatalogEntryView[];
  /** RPC methods the daemon does not have (answered UNKNOWN_METHOD). */
  unsupported: string[];
  defaults: Defaults | null;
  selected: Record<Tab, string | null>;
  sort: { key: SortKey; desc: boolean };
  filter: { text: string; editing: boolean };
  status: Status | null;
  ops: Record<number, Op>;
  outbox: Request[];
  nextId: number;
  now: number;
  screen: { width: number; height: number };
}

export type Action =
  | { type: "conn-connecting"; attempt: number }
  | { type: "conn-up"; watch: "events" | "polling" }
  | { type: "conn-down"; reason: string; attempt: number; retryInMs: number }
  | { type: "vms-loaded"; vms: VmView[]; problems: string[] }
  | { type: "vm-upsert"; vm: VmView }
  | { type: "vm-removed"; name: string }
  | { type: "stats-loaded"; stats: VmStats[] }
  | { type: "health"; report: HealthReport }
  | { type: "images-loaded"; images: ImageView[] }
  | { type: "kernels-loaded"; kernels: KernelView[] }
  | { type: "catalog-loaded"; what: Artifact; entries: CatalogEntryView[] }
  | { type: "unsupported"; method: string }
  | { type: "defaults"; defaults: Defaults }
  | { type: "tick"; now: number }
  | { type: "resize"; width: number; height: number }
  | { type: "op-progress"; id: number; event: ProgressEvent }
  | { type: "op-done"; id: number; vm?: VmView }
  | { type: "op-failed"; id: number; error: ErrorInfo }
  | { type: "outbox-taken"; ids: number[] }
  | { type: "log-data"; streamId: number; data: string }
  | { type: "log-end"; streamId: number; reason: string }
  | { type: "ssh-returned"; name: string; vm: VmView | null; error: ErrorInfo | null }
  | { type: "error"; error: ErrorInfo }
  | { type: "move"; delta: number }
  | { type: "move-to"; where: "top" | "bottom" }
  | { type: "page"; delta: number }
  | { type: "tab"; tab: Tab }
  | { type: "tab-next" }
  | { type: "sort-next" }
  | { type: "sort-reverse" }
  | { type: "filter-start" }
  | { type: "filter-type"; text: string }
  | { type: "filter-backspace" }
  | { type: "filter-done" }
  | { type: "escape" }
  | { type: "help" }
  | { type: "vm-op"; op: Exclude<VmOp, "delete"> }
  | { type: "ask-delete" }
  | { type: "confirm"; yes: boolean }
  | { type: "open-create" }
  | FormAction
  | { type: "open-logs" }
  | { type: "logs-source" }
  | { type: "open-details" }
  | { type: "back" }
  | { type: "ssh" }
  | { type: "pull" }
  | { type: "quit" };
