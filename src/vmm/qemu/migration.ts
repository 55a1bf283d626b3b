/**
 * Saving and loading a QEMU VM's device state through QEMU's migration
 * stream, with the x-ignore-shared capability: guest RAM lives in a shared
 * memory-backend-file, so the stream carries only device and vCPU state
 * (hundreds of KiB) and takes milliseconds.
 *
 * Outgoing: QEMU 7.2 can only migrate to a socket it connects to, to a named
 * fd (getfd needs SCM_RIGHTS, which Node cannot send) or through exec (denied
 * by the seccomp sandbox). So the daemon listens in the VMM-owned directory,
 * QEMU connects through /proc/self/fd/N/NAME, and the daemon writes what it
 * receives to the state file. Incoming: `migrate-incoming fd:N` on an
 * inherited fd of the state file.
 */
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { chmod, chown, rename, rm, stat } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import { syncFile } from "./memoryFile.js";
import type { QmpClient } from "./Qmp.js";
import type { VmmIdentity } from "./spawn.js";

const IGNORE_SHARED = [{ capability: "x-ignore-shared", state: true }];

interface MigrateStatus {
  status?: string;
  "error-desc"?: string;
}

/** Poll query-migrate until it completes; a failure or the deadline throws. */
async function waitMigration(qmp: QmpClient, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st = await qmp.execute<MigrateStatus>("query-migrate");
    if (st?.status === "completed") return;
    if (st?.status === "failed" || st?.status === "cancelled") {
      throw new BangerError(ErrorCodes.VMM, `${what} failed: ${st["error-desc"] ?? st.status}`);
    }
    if (Date.now() > deadline) {
      throw new BangerError(
        ErrorCodes.VMM,
        `${what} did not finish in ${timeoutMs} ms (status ${st?.status})`,
      );
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Receive one connection's bytes into `file` (fsynced); resolves with the byte count. */
async function receiveInto(server: net.Server, file: string): Promise<number> {
  const [sock] = (await once(server, "connection")) as [net.Socket];
  const out = createWriteStream(file, { mode: 0o600 });
  sock.pipe(out);
  await once(out, "finish");
  await syncFile(file);
  return (await stat(file)).size;
}

export interface SaveOptions {
  vmmDir: string;
  /** The child's fd number of vmmDir. */
  vmmDirFd: number;
  socketName: string;
  identity: VmmIdentity | null;
  timeoutMs: number;
}

/** Write the paused VM's device state to `stateFile` (atomically: a temp file renamed into place). */
export async function saveDeviceState(qmp: QmpClient, stateFile: string, o: SaveOptions): Promise<number> {
  const st = await qmp.execute<{ status?: string; running?: boolean }>("query-status");
  if (st?.running) {
    throw new BangerError(ErrorCodes.CONFLICT, "the VM must be paused before its state is saved");
  }
  const sockPath = path.join(o.vmmDir, o.socketName);
  await rm(sockPath, { force: true });
  const server = net.createServer();
  server.listen(sockPath);
  await once(server, "listening");
  const tmp = `${stateFile}.tmp`;
  try {
    await chmod(sockPath, 0o600);
    if (o.identity) await chown(sockPath, o.identity.uid, o.identity.gid);
    const received = receiveInto(server, tmp);
    received.catch(() => undefined);
    await qmp.execute("migrate-set-capabilities", { capabilities: IGNORE_SHARED });
    await qmp.execute("migrate", { uri: `unix:/proc/self/fd/${o.vmmDirFd}/${o.socketName}` });
    await waitMigration(qmp, "saving the VM state", o.timeoutMs);
    const bytes = await withDeadline(received, o.timeoutMs, "receiving the VM state");
    await rename(tmp, stateFile);
    await syncFile(path.dirname(stateFile)).catch(() => undefined);
    return bytes;
  } finally {
    server.close();
    await rm(sockPath, { force: true });
    await rm(tmp, { force: true });
  }
}

/** Load the state from the inherited fd (QEMU started with -incoming defer); the VM stays paused. */
export async function loadDeviceState(qmp: QmpClient, fd: number, timeoutMs: number): Promise<void> {
  await qmp.execute("migrate-set-capabilities", { capabilities: IGNORE_SHARED });
  await qmp.execute("migrate-incoming", { uri: `fd:${fd}` });
  await waitMigration(qmp, "loading the saved VM state", timeoutMs);
}

function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BangerError(ErrorCodes.VMM, `${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
