/** Pure text formatting for the views: fitting to widths, values, and whole pages (details, help). */
import type { VmView } from "../api/vms.js";
import { formatSize, GiB, MiB } from "../config/sizes.js";
import { ALL_KEYS } from "./keys.js";
import { uptimeOf } from "./selectors.js";
import type { Op, Request, TuiState } from "./types.js";

/** Cut to `w` columns (with … when cut) and pad to exactly `w`. */
export function fit(s: string, w: number, align: "left" | "right" = "left"): string {
  if (w <= 0) return "";
  const t = s.length > w ? `${s.slice(0, Math.max(0, w - 1))}…` : s;
  return align === "right" ? t.padStart(w) : t.padEnd(w);
}

/** Cut to at most `w` columns. */
export function clip(s: string, w: number): string {
  return s.length > w ? `${s.slice(0, Math.max(0, w - 1))}…` : s;
}

function wrapPara(p: string, w: number, indent: string): string[] {
  const lines: string[] = [];
  let cur = "";
  const empty = () => cur === "" || cur === indent;
  for (let word of p.split(" ")) {
    for (;;) {
      const sep = empty() ? "" : " ";
      if ((cur + sep + word).length <= w) {
        cur += sep + word;
        break;
      }
      if (!empty()) {
        lines.push(cur);
        cur = indent;
        continue;
      }
      const room = w - cur.length;
      lines.push(cur + word.slice(0, room));
      cur = indent;
      word = word.slice(room);
    }
  }
  if (!empty() || lines.length === 0) lines.push(cur);
  return lines;
}

/** Break text into lines of at most `w` columns, on spaces where possible; later lines get `indent`. */
export function wrap(s: string, w: number, indent = ""): string[] {
  const ind = indent.length < w - 8 ? indent : "";
  return s.split("\n").flatMap((p) => wrapPara(p, Math.max(1, w), ind));
}

export function formatUptimeShort(sec: number | null): string {
  if (sec === null) return "-";
  if (sec < 60) return `${sec}s`;
  if (sec < 3600) return `${Math.floor(sec / 60)}m${sec % 60 ? `${sec % 60}s` : ""}`;
  const h = Math.floor(sec / 3600);
  if (h < 48) return `${h}h${Math.floor((sec % 3600) / 60)}m`;
  return `${Math.floor(h / 24)}d${h % 24}h`;
}

/** Compact bytes for tables: 512K, 180M, 1.5G. */
export function formatBytes(b: number | null): string {
  if (b === null) return "-";
  if (b < MiB) return `${Math.round(b / 1024)}K`;
  if (b < GiB) return `${Math.round(b / MiB)}M`;
  return `${Number((b / GiB).toFixed(1))}G`;
}

export function formatMemory(mib: number): string {
  return mib % 1024 === 0 ? `${mib / 1024}G` : `${mib}M`;
}

export function formatCpu(p: number | null | undefined): string {
  if (p === null || p === undefined) return "-";
  return p < 10 ? p.toFixed(1) : String(Math.round(p));
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** A text progress bar: [#####.....] 45% 120M/260M (counts as bytes when over 64 KiB). */
export function progressBar(current: number, total: number, width: number): string {
  const frac = total > 0 ? Math.min(1, Math.max(0, current / total)) : 0;
  const bytes = total > 64 * 1024;
  const tail = ` ${String(Math.floor(frac * 100)).padStart(3)}%${bytes ? ` ${formatBytes(current)}/${formatBytes(total)}` : ` ${current}/${total}`}`;
  const inner = Math.max(4, width - tail.length - 2);
  const filled = Math.round(frac * inner);
  return `[${"#".repeat(filled)}${".".repeat(inner - filled)}]${tail}`;
}

/** Health as a word that fits 8 columns. */
export function healthLabel(h: string | null): string {
  if (h === "unreachable") return "no reply";
  return h ?? "-";
}

const KEY_W = 13;

function kv(key: string, value: string, width: number): string[] {
  return wrap(`${key.padEnd(KEY_W)} ${value}`, width, " ".repeat(KEY_W + 1));
}

function driverText(vm: VmView): string {
  if (!vm.driver) return "- (chosen at start)";
  const accel = vm.acceleration ? ` (${vm.acceleration.toUpperCase()})` : "";
  return `${vm.driver}${accel}${vm.driverReason ? ` — ${vm.driverReason}` : ""}`;
}

function rootText(vm: VmView): string {
  if (vm.rootMode === "overlay")
    return `${vm.paths.rootDisk} (shared, read-only) + ${vm.paths.cowDisk} (copy-on-write)`;
  return vm.paths.rootDisk ? `${vm.paths.rootDisk}${vm.rootMode ? ` (${vm.rootMode})` : ""}` : "-";
}

function specLines(s: TuiState, vm: VmView): Array<[string, string]> {
  const up = uptimeOf(vm, s.now);
  return [
    ["name", vm.name],
    ["id", vm.id],
    ["state", `${vm.state}${up !== null ? ` (up ${formatUptimeShort(up)})` : ""}`],
    ["image", vm.image.name],
    [
      "spec",
      `${vm.spec.vcpu} vCPU · ${vm.spec.memoryMib} MiB memory · ${formatSize(vm.spec.diskSizeBytes)} disk`,
    ],
    ["driver", driverText(vm)],
    ["pid", vm.pid === null ? "-" : String(vm.pid)],
    ["address", vm.ip ? `${vm.ip} (${vm.name}.vm; mac ${vm.mac}${vm.tap ? `, tap ${vm.tap}` : ""})` : "-"],
    [
      "egress",
      vm.egress
        ? `${vm.egress.policy}${vm.egress.peers.length ? ` · peers ${vm.egress.peers.join(", ")}` : ""}`
        : "-",
    ],
    ["vsock cid", String(vm.cid)],
  ];
}

function pathLines(vm: VmView): Array<[string, string]> {
  const p = vm.paths;
  const out: Array<[string, string]> = [
    ["root", rootText(vm)],
    ["work disk", `${p.workDisk} (/root)`],
    ["console log", p.consoleLog],
    ["vmm log", p.vmmLog],
    ["vm dir", p.vmDir],
  ];
  if (p.controlSocket) out.push(["control", p.controlSocket]);
  if (p.agentSocket) out.push(["agent", p.agentSocket]);
  out.push(["created", vm.createdAt]);
  if (vm.startedAt) out.push(["started", vm.startedAt]);
  if (vm.stoppedAt) out.push(["stopped", vm.stoppedAt]);
  if (vm.exit)
    out.push(["exit", `code ${vm.exit.code ?? "unknown"}${vm.exit.signal ? `, ${vm.exit.signal}` : ""}`]);
  return out;
}

function liveLines(s: TuiState, vm: VmView): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const st = s.stats[vm.name];
  if (st) out.push(["usage", `CPU ${formatCpu(st.cpuPercent)}% · RSS ${formatBytes(st.rssBytes)}`]);
  const h = s.health[vm.name];
  if (h) out.push(["health", `${h.status}${h.reason ? ` — ${h.reason}` : ""}`]);
  const g = h?.guest ?? st?.guest;
  if (g) {
    const mem = `${formatBytes(g.memory.totalBytes - g.memory.availableBytes)} of ${formatBytes(g.memory.totalBytes)} used`;
    out.push(["guest", `load ${g.load.map((x) => x.toFixed(2)).join(" ")} · memory ${mem}`]);
    for (const d of g.disks)
      out.push([`disk ${d.mount}`, `${formatBytes(d.usedBytes)} of ${formatBytes(d.totalBytes)} used`]);
  }
  return out;
}

function bootLines(vm: VmView, width: number): string[] {
  const t = vm.bootTimings ?? [];
  if (!t.length) return ["last boot stages: none recorded"];
  const total = t.reduce((a, x) => a + x.ms, 0);
  const max = Math.max(...t.map((x) => x.ms), 1);
  const nameW = Math.min(24, Math.max(...t.map((x) => x.name.length)));
  const barW = Math.max(0, width - nameW - 14);
  return [
    `last boot stages (${formatMs(total)} in all):`,
    ...t.map(
      (x) =>
        `  ${x.name.padEnd(nameW).slice(0, nameW)} ${formatMs(x.ms).padStart(8)} ${"#".repeat(Math.round((x.ms / max) * barW))}`,
    ),
  ];
}

/** Everything about a VM, as lines of at most `width` columns. */
export function detailLines(s: TuiState, vm: VmView, width: number): string[] {
  const pairs = [...specLines(s, vm), ...pathLines(vm), ...liveLines(s, vm)];
  const out = pairs.flatMap(([k, v]) => kv(k, v, width));
  out.push("", ...bootLines(vm, width));
  if (vm.lastError)
    out.push("", "last error:", ...vm.lastError.split("\n").flatMap((l) => wrap(`  ${l}`, width, "  ")));
  return out;
}

export function helpLines(): string[] {
  const keyW = Math.max(...ALL_KEYS.flatMap(([, ks]) => ks.map(([k]) => k.length)));
  return ALL_KEYS.flatMap(([section, ks], i) => [
    ...(i ? [""] : []),
    section,
    ...ks.map(([k, what]) => `  ${k.padEnd(keyW)}  ${what}`),
  ]);
}

/** Lines the status area takes: an error with a hint takes two. */
export function statusHeight(s: TuiState): number {
  return s.status?.kind === "error" && s.status.hint ? 2 : 1;
}

/** Lines between the tab bar and the status area. */
export function bodyHeight(s: TuiState): number {
  return Math.max(3, s.screen.height - 2 - statusHeight(s));
}

/** How far a pager (details, help) can scroll. */
export function pagerMax(s: TuiState): number {
  const m = s.mode;
  const room = bodyHeight(s) - 1;
  if (m.kind === "help") return Math.max(0, helpLines().length - room);
  if (m.kind !== "details") return 0;
  const vm = s.vms.find((v) => v.name === m.name);
  return vm ? Math.max(0, detailLines(s, vm, s.screen.width).length - room) : 0;
}

/** The running VM's one-line note after an SSH session. */
export function sshNote(vm: VmView, now: number): string | null {
  if (vm.state !== "running") return null;
  const up = vm.startedAt ? Math.max(0, Math.floor((now - Date.parse(vm.startedAt)) / 1000)) : vm.uptimeSec;
  return `${vm.name} still running${up === null ? "" : ` (up ${formatUptimeShort(up)})`} — x to stop`;
}

export function opLabel(r: Request): string {
  switch (r.kind) {
    case "vm-op":
      return `${r.op === "stop" ? "stopping" : `${r.op.replace(/e$/, "")}ing`} ${r.name}`;
    case "create":
      return `creating ${r.params.name ?? "a VM"}`;
    case "pull":
      return `pulling ${r.what} ${r.name}`;
    case "artifact-delete":
      return `deleting ${r.what} ${r.name}`;
    default:
      return r.kind;
  }
}

export function opText(op: Op): string {
  const base = opLabel(op.req);
  return op.last ? `${base}: ${op.last.message}` : `${base}…`;
}

export function doneText(r: Request, vm: VmView | undefined): string {
  switch (r.kind) {
    case "vm-op":
      if (r.op === "delete") return `deleted ${r.name}`;
      return `${r.name} ${vm?.state ?? (r.op === "stop" ? "stopped" : "running")}${vm?.ip && vm.state === "running" ? ` at ${vm.ip}` : ""}`;
    case "create":
      return `created ${vm?.name ?? "VM"}${vm ? ` (${vm.state}${vm.ip ? ` at ${vm.ip}` : ""})` : ""}`;
    case "pull":
      return `pulled ${r.what} ${r.name}`;
    case "artifact-delete":
      return `deleted ${r.what} ${r.name}`;
    default:
      return "done";
  }
}

/** Strip escape sequences and control characters from console output (keeps tabs as spaces). */
export function cleanLog(s: string): string {
  return s
    .replace(/\u001b\[[0-9;?]*[ -/]*[@-~]/g, "")
    .replace(/\u001b[\]PX^_][^\u0007\u001b]*(\u0007|\u001b\\)?/g, "")
    .replace(/\t/g, "    ")
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, "");
}
