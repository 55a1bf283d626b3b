/** Pure views over the TUI state: the VM list as shown (filtered, sorted), artifact rows, choices. */
import type { VmView } from "../api/vms.js";
import { VM_STATES } from "../model/vm.js";
import type { Artifact, SortKey, Tab, TuiState } from "./types.js";

/** Seconds a running VM has been up, counted from its start time and the state's clock. */
export function uptimeOf(vm: VmView, now: number): number | null {
  if (vm.state !== "running" && vm.state !== "stopping") return null;
  if (vm.startedAt) return Math.max(0, Math.floor((now - Date.parse(vm.startedAt)) / 1000));
  return vm.uptimeSec;
}

/** "healthy", "starting", "unreachable", "stopped", or null when unknown. */
export function healthOf(s: TuiState, vm: VmView): string | null {
  if (vm.state !== "running" && vm.state !== "starting") return null;
  return s.health[vm.name]?.status ?? null;
}

function ipNumber(ip: string | null): number | null {
  if (!ip) return null;
  return ip.split(".").reduce((a, o) => a * 256 + Number(o), 0);
}

const HEALTH_ORDER = ["healthy", "starting", "unreachable", "stopped"];

function sortValue(s: TuiState, vm: VmView, key: SortKey): string | number | null {
  switch (key) {
    case "name":
      return vm.name;
    case "state":
      return VM_STATES.indexOf(vm.state);
    case "image":
      return vm.image.name;
    case "vcpu":
      return vm.spec.vcpu;
    case "memory":
      return vm.spec.memoryMib;
    case "ip":
      return ipNumber(vm.ip);
    case "uptime":
      return uptimeOf(vm, s.now);
    case "cpu":
      return s.stats[vm.name]?.cpuPercent ?? null;
    case "rss":
      return s.stats[vm.name]?.rssBytes ?? null;
    case "health": {
      const h = healthOf(s, vm);
      return h === null ? null : HEALTH_ORDER.indexOf(h);
    }
  }
}

function compare(a: string | number | null, b: string | number | null): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b));
}

/** Sorted by the sort key (unknown values last either way), ties by name. */
export function sortVms(s: TuiState, vms: readonly VmView[]): VmView[] {
  const { key, desc } = s.sort;
  return [...vms].sort((x, y) => {
    const a = sortValue(s, x, key);
    const b = sortValue(s, y, key);
    if (a === null || b === null) {
      if (a !== b) return a === null ? 1 : -1;
    } else {
      const c = compare(a, b);
      if (c !== 0) return desc ? -c : c;
    }
    return x.name.localeCompare(y.name);
  });
}

/** The filter matches name, state, image and IP, case-insensitively. */
export function matchesFilter(vm: VmView, text: string): boolean {
  const f = text.trim().toLowerCase();
  if (!f) return true;
  return [vm.name, vm.state, vm.image.name, vm.ip ?? ""].some((x) => x.toLowerCase().includes(f));
}

export function visibleVms(s: TuiState): VmView[] {
  return sortVms(
    s,
    s.vms.filter((v) => matchesFilter(v, s.filter.text)),
  );
}

export interface ArtifactRow {
  /** "local:NAME" or "available:NAME" (selection key). */
  key: string;
  name: string;
  local: boolean;
  version: string;
  arch: string;
  sizeBytes: number | null;
  /** Used by (local) or the description (available). */
  detail: string;
}

/** Local objects first, then catalog entries not installed yet. */
export function artifactRows(s: TuiState, what: Artifact): ArtifactRow[] {
  const local =
    what === "image"
      ? s.images.map((i) => ({
          name: i.name,
          version: i.version,
          arch: i.arch,
          sizeBytes: i.sizeBytes,
          usedBy: i.usedBy,
        }))
      : s.kernels.map((k) => ({
          name: k.name,
          version: k.version,
          arch: k.arch,
          sizeBytes: null,
          usedBy: k.usedBy,
        }));
  const names = new Set(local.map((l) => l.name));
  const catalog = what === "image" ? s.imageCatalog : s.kernelCatalog;
  return [
    ...local.map((l) => ({
      key: `local:${l.name}`,
      name: l.name,
      local: true,
      version: l.version,
      arch: l.arch,
      sizeBytes: l.sizeBytes,
      detail: l.usedBy.length ? `used by ${l.usedBy.join(", ")}` : "unused",
    })),
    ...catalog
      .filter((e) => !names.has(e.name))
      .map((e) => ({
        key: `available:${e.name}`,
        name: e.name,
        local: false,
        version: e.version,
        arch: e.arch,
        sizeBytes: e.sizeBytes,
        detail: e.description,
      })),
  ];
}

/** The keys the cursor moves over on a tab, in display order. */
export function selectableKeys(s: TuiState, tab: Tab): string[] {
  if (tab === "vms") return visibleVms(s).map((v) => v.name);
  return artifactRows(s, tab === "images" ? "image" : "kernel").map((r) => r.key);
}

export interface ImageChoice {
  /** Empty: let the daemon pick its default image. */
  name: string;
  /** Needs an image.pull before the create. */
  pull: boolean;
  label: string;
}

/** What the create form offers: local images, then catalog images that a create would pull first. */
export function imageChoices(s: TuiState): ImageChoice[] {
  const rows = artifactRows(s, "image");
  if (!rows.length) return [{ name: "", pull: false, label: "(the configured default image)" }];
  return rows.map((r) => ({
    name: r.name,
    pull: !r.local,
    label: r.local ? r.name : `${r.name} (pull first)`,
  }));
}
