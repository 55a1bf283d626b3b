/**
 * Stopping a QEMU VM: the guest is asked to shut down (Ctrl-Alt-Del, then the
 * ACPI power button), then QEMU to quit, then it is killed; the VM's sockets,
 * pid file, migration directory and (unless kept for a suspend) its RAM file go.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { StopOptions, VmmHandle } from "../driver.js";
import { type QemuPaths, qemuPaths, qmpMarkers } from "./argv.js";
import { isPidAlive, killPid, type ProcOps, waitForExit } from "./proc.js";
import { QmpClient } from "./Qmp.js";

const CTRL_ALT_DEL = ["ctrl", "alt", "delete"].map((k) => ({ type: "qcode", data: k }));
const GRACEFUL_STOP: Array<[string, Record<string, unknown>?]> = [
  ["send-key", { keys: CTRL_ALT_DEL }],
  ["system_powerdown"],
];

export interface StopDeps {
  proc: ProcOps;
  qmpTimeoutMs: number;
  /** How long QEMU gets after `quit` (or SIGTERM) before SIGKILL. */
  quitGraceMs: number;
}

/** The VM's files a stopped QEMU leaves; the RAM file stays when `keepMemory` (its state was saved). */
export async function removeVmFiles(paths: QemuPaths, keepMemory = false): Promise<void> {
  const files = [
    paths.qmpSocket,
    paths.agentSocket,
    paths.pidFile,
    ...(keepMemory ? [] : [paths.memoryFile]),
  ];
  await Promise.all(files.map((p) => fs.rm(p, { force: true })));
  await fs.rm(paths.vmmDir, { recursive: true, force: true });
}

/** Run QMP commands in order on one connection; true when all were accepted. */
async function qmpCommand(
  socket: string,
  commands: string | Array<[string, Record<string, unknown>?]>,
  timeoutMs: number,
): Promise<boolean> {
  let qmp: QmpClient | undefined;
  try {
    // No retries: a missing or refusing socket will not come back while we stop.
    qmp = await QmpClient.connect(socket, { timeoutMs, commandTimeoutMs: timeoutMs, retry: false });
    for (const [cmd, args] of typeof commands === "string" ? [[commands] as [string]] : commands) {
      await qmp.execute(cmd, args);
    }
    return true;
  } catch {
    return false;
  } finally {
    qmp?.close();
  }
}

/** Graceful stop, then `quit`, then SIGKILL; idempotent. timeoutMs 0 skips the graceful attempt. */
export async function stopQemu(handle: VmmHandle, opts: StopOptions, d: StopDeps): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const paths: QemuPaths = {
    ...qemuPaths(path.dirname(handle.controlSocket)),
    qmpSocket: handle.controlSocket,
    agentSocket: handle.agentSocket,
  };
  const marker = qmpMarkers(handle.controlSocket);
  const { pid } = handle;
  const wait = (ms: number) => waitForExit(pid, marker, ms, { proc: d.proc });
  if (isPidAlive(pid, marker, d.proc)) {
    const started = Date.now();
    const qmpMs = Math.min(d.qmpTimeoutMs, Math.max(1000, timeoutMs));
    // Ctrl-Alt-Del lets the guest's init sync and reboot (and -no-reboot ends QEMU), like
    // Firecracker's SendCtrlAltDel; the ACPI power button covers guests that handle only that.
    const asked = timeoutMs > 0 && (await qmpCommand(handle.controlSocket, GRACEFUL_STOP, qmpMs));
    let gone = asked && (await wait(Math.max(0, timeoutMs - (Date.now() - started))));
    if (!gone) {
      // `quit` is QEMU's orderly exit (disks flushed); SIGTERM does the same when QMP is unreachable.
      const quitMs = Math.min(d.qmpTimeoutMs, 3000);
      if (!(await qmpCommand(handle.controlSocket, "quit", quitMs))) killPid(pid, marker, "SIGTERM", d.proc);
      gone = await wait(d.quitGraceMs);
    }
    if (!gone) {
      killPid(pid, marker, "SIGKILL", d.proc);
      if (!(await wait(5000))) {
        throw new BangerError(ErrorCodes.VMM, `QEMU (pid ${pid}) is still alive after SIGKILL`);
      }
    }
  }
  await removeVmFiles(paths, opts.keepMemory === true);
}
