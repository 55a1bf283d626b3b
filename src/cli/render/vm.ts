import type { VmView } from "../../api/vms.js";
import { formatSize } from "../../config/sizes.js";
import { formatUptime, type Out, paint, table } from "./output.js";
import { formatMs } from "./progress.js";

/** 1.5G, 512M, 20K: for people, not round trips. */
export function humanBytes(n: number): string {
  const units = ["B", "K", "M", "G", "T"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 10 || i === 0 ? Math.round(v) : v.toFixed(1)}${units[i]}`;
}

export function vmListTable(vms: VmView[]): string {
  const rows = vms.map((v) => [
    v.name,
    v.state,
    v.image.name,
    String(v.spec.vcpu),
    `${v.spec.memoryMib}M`,
    v.ip ?? "-",
    v.uptimeSec === null ? "-" : formatUptime(v.uptimeSec),
    v.stats?.cpuPercent == null ? "-" : `${v.stats.cpuPercent.toFixed(1)}%`,
    v.stats?.rssBytes == null ? "-" : humanBytes(v.stats.rssBytes),
  ]);
  return table([["NAME", "STATE", "IMAGE", "VCPU", "MEMORY", "IP", "UPTIME", "CPU", "RSS"], ...rows]);
}

/** "agent yes · sshd yes · ready when: the agent answers" (or "not detected yet"). */
export function capabilitiesText(
  caps: { agent: boolean; sshd: boolean } | null | undefined,
  readiness: "agent" | "ssh" | "started" | null | undefined,
): string {
  if (!caps) return "not detected yet";
  const yn = (b: boolean) => (b ? "yes" : "no");
  const when = { agent: "the agent answers", ssh: "sshd answers on port 22", started: "the VMM runs" };
  return `agent ${yn(caps.agent)} · sshd ${yn(caps.sshd)} · ready when ${when[readiness ?? "agent"]}`;
}

export function renderVm(out: Out, v: VmView): void {
  const state =
    v.state === "running"
      ? paint(out, "green", v.state)
      : v.state === "crashed" || v.state === "error"
        ? paint(out, "red", v.state)
        : v.state;
  const lines: string[][] = [
    ["name", v.name],
    ["id", v.id],
    ["state", `${state}${v.uptimeSec !== null ? ` (up ${formatUptime(v.uptimeSec)})` : ""}`],
    ["image", v.image.name],
    ["guest", capabilitiesText(v.image.capabilities, v.image.readiness)],
    ["spec", `${v.spec.vcpu} vcpu · ${v.spec.memoryMib} MiB · ${formatSize(v.spec.diskSizeBytes)} disk`],
    [
      "driver",
      v.driver
        ? `${v.driver}${v.acceleration ? ` (${v.acceleration.toUpperCase()})` : ""}${v.driverReason ? ` — ${v.driverReason}` : ""}`
        : "-",
    ],
    ["pid", v.pid === null ? "-" : String(v.pid)],
    ...(v.cgroup ? [["cgroup", cgroupLine(v.cgroup)]] : []),
    ["address", v.ip ? `${v.ip} (mac ${v.mac}${v.tap ? `, tap ${v.tap}` : ""})` : "-"],
    [
      "egress",
      v.egress
        ? `${v.egress.policy}${v.egress.peers.length ? ` · peers ${v.egress.peers.join(", ")}` : ""} (banger vm egress ${v.name})`
        : "-",
    ],
    ["vsock cid", String(v.cid)],
    [
      "root",
      v.rootMode === "overlay"
        ? `${v.paths.rootDisk} (shared, read-only) + ${v.paths.cowDisk} (copy-on-write)`
        : (v.paths.rootDisk ?? "-"),
    ],
    ["work disk", `${v.paths.workDisk} (/root)`],
    ["console log", v.paths.consoleLog],
    ["vmm log", v.paths.vmmLog],
    ...(v.logWriter ? [["log writer", logWriterLine(v.logWriter)]] : []),
    ["vm dir", v.paths.vmDir],
    ["created", v.createdAt],
  ];
  if (v.startedAt) lines.push(["started", v.startedAt]);
  if (v.stoppedAt) lines.push(["stopped", v.stoppedAt]);
  if (v.saved)
    lines.push([
      "saved state",
      `${(v.saved.diskBytes / 1024 / 1024).toFixed(0)} MiB on disk, saved ${v.saved.savedAt} by ${v.saved.vmmVersion} (${v.saved.acceleration})`,
    ]);
  if (v.exit)
    lines.push(["exit", `code ${v.exit.code ?? "unknown"}${v.exit.signal ? `, ${v.exit.signal}` : ""}`]);
  out.write(table(lines.map(([k, val]) => [`${k}:`, val ?? ""])));
  if (v.bootTimings?.length) {
    const total = v.bootTimings.reduce((a, t) => a + t.ms, 0);
    out.write(`last boot stages (${formatMs(total)} in all):\n`);
    out.write(table(v.bootTimings.map((t) => [`  ${t.name}`, formatMs(t.ms)])));
  }
  if (v.lastError) out.write(`${paint(out, "red", "last error:")}\n${v.lastError.replace(/^/gm, "  ")}\n`);
}

/** The log writer's state: a dead one means the console is no longer recorded. */
function logWriterLine(w: NonNullable<VmView["logWriter"]>): string {
  return w.running
    ? `pid ${w.pid} (capped, rotated: [logs] in config.toml)`
    : `pid ${w.pid} NOT RUNNING: console and VMM output are lost until the VM restarts`;
}

/** "v1 /banger/u0/ID: memory 1.2 GiB, pids 130, cpu 2" for `vm show`. */
function cgroupLine(c: NonNullable<VmView["cgroup"]>): string {
  const mem = c.memoryLimitBytes === null ? "unlimited" : humanBytes(c.memoryLimitBytes);
  return `v${c.version} ${c.path}: memory ${mem}, pids ${c.pidsLimit ?? "max"}, cpu ${c.cpus ?? "max"}`;
}
