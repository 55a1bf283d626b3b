/** Test data for the TUI's tests: VMs, images and a state holding them. */
import type { VmStats } from "../api/agent.js";
import type { ImageView, VmView } from "../api/vms.js";
import { type Action, initialState, reduce, type TuiState } from "./state.js";

export const NOW = Date.parse("2026-01-01T12:00:00Z");

export function vm(name: string, over: Partial<VmView> = {}): VmView {
  const id = Buffer.from(name).toString("hex").padEnd(16, "0").slice(0, 16);
  const dir = `/home/u/.local/state/banger/vms/${id}`;
  return {
    id,
    name,
    state: "running",
    image: { id: "img0000000000000", name: "debian-12" },
    spec: { vcpu: 2, memoryMib: 2048, diskSizeBytes: 8 * 1024 ** 3 },
    driver: "qemu",
    acceleration: "tcg",
    driverReason: "vmm = qemu (TCG software emulation: /dev/kvm is not usable)",
    pid: 4242,
    ip: "172.16.0.2",
    mac: "06:00:00:00:00:02",
    tap: "banger0t1",
    cid: 3,
    rootMode: "overlay",
    paths: {
      vmDir: dir,
      consoleLog: `${dir}/console.log`,
      vmmLog: `${dir}/vmm.log`,
      workDisk: `${dir}/work.ext4`,
      rootDisk: "/home/u/.local/state/banger/images/x/rootfs.ext4",
      cowDisk: `${dir}/cow.ext4`,
      controlSocket: `${dir}/qmp.sock`,
      agentSocket: `${dir}/agent.sock`,
    },
    createdAt: new Date(NOW - 600_000).toISOString(),
    startedAt: new Date(NOW - 180_000).toISOString(),
    stoppedAt: null,
    uptimeSec: 180,
    lastError: null,
    exit: null,
    bootTimings: [
      { name: "disks", ms: 120 },
      { name: "boot:spawn", ms: 40 },
    ],
    ...over,
  };
}

export function stopped(name: string, over: Partial<VmView> = {}): VmView {
  return vm(name, { state: "stopped", pid: null, tap: null, startedAt: null, uptimeSec: null, ...over });
}

export function image(name: string, usedBy: string[] = []): ImageView {
  return {
    id: `${name}`.padEnd(16, "0").slice(0, 16),
    name,
    version: "1",
    arch: "x86_64",
    kernel: { kind: "own", path: "/k", name: null },
    initrdPath: null,
    rootfsPath: "/r",
    workSeedPath: "/w",
    sizeBytes: 200 * 1024 ** 2,
    source: "local",
    description: "",
    createdAt: new Date(NOW).toISOString(),
    usedBy,
    capabilities: { agent: true, sshd: true },
    readiness: "agent",
  };
}

export function stats(name: string, cpuPercent: number, rssMib: number): VmStats {
  return { name, state: "running", cpuPercent, rssBytes: rssMib * 1024 ** 2, guest: null, sampledAt: null };
}

/** Apply actions in order. */
export function run(s: TuiState, ...actions: Action[]): TuiState {
  return actions.reduce(reduce, s);
}

/** A connected state with these VMs (first one selected). */
export function withVms(vms: VmView[], screen = { width: 80, height: 23 }): TuiState {
  return run(
    initialState(NOW, screen),
    { type: "conn-up", watch: "events" },
    { type: "vms-loaded", vms, problems: [] },
  );
}
