/**
 * Start a confined QEMU: the daemon opens every file and socket the VMM needs
 * and hands them over as inherited fds, then starts QEMU detached (its own
 * session, so VMs outlive the daemon), as the VMM identity when one is given.
 * The parent's copies are closed once the child runs.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { constants } from "node:fs";
import { type FileHandle, open, rename, rm } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { FdSource, QemuLaunch } from "./argv.js";

/** Who the VMM runs as (null: the daemon's own user). */
export interface VmmIdentity {
  uid: number;
  gid: number;
}

export interface SpawnedVmm {
  pid: number;
  /** The exit, once the child has exited (while the daemon that started it still runs). */
  exit(): { code: number | null; signal: string | null } | null;
}

export interface SpawnOptions {
  /** Write-only fds (see vmm/logger): the console stream, and QEMU's stdout and stderr (its own log). */
  logs: { console: number; vmm: number };
  identity: VmmIdentity | null;
}

/** The only environment the VMM gets. */
const VMM_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" };

type Opened = { close(): Promise<void>; fd: number };

/**
 * A listening Unix socket at `final` whose fd can be inherited. libuv unlinks
 * a pipe server's path when it closes, so it binds a temporary name and renames
 * it: closing the daemon's copy then leaves the VMM's socket in place.
 */
async function listenAt(final: string): Promise<Opened> {
  const tmp = path.join(path.dirname(final), `.l${randomBytes(4).toString("hex")}`);
  const server = net.createServer((s) => s.destroy());
  server.listen(tmp);
  await once(server, "listening");
  await rename(tmp, final);
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) {
    server.close();
    throw new BangerError(ErrorCodes.INTERNAL, `no fd for the listening socket ${final}`);
  }
  return { fd, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function openFile(src: Extract<FdSource, { kind: "file" | "dir" }>): Promise<Opened> {
  let fh: FileHandle;
  try {
    const flags = src.kind === "dir" ? constants.O_RDONLY | constants.O_DIRECTORY : src.flags;
    fh = await open(src.path, flags, 0o600);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new BangerError(ErrorCodes.PREFLIGHT_FAILED, `cannot open ${src.path} for the VMM: ${why}`);
  }
  return { fd: fh.fd, close: () => fh.close() };
}

/** An fd the caller owns (and closes). */
function given(fd: number): Opened {
  return { fd, close: async () => undefined };
}

async function openAll(launch: QemuLaunch, logs: SpawnOptions["logs"]): Promise<Opened[]> {
  const opened: Opened[] = [given(logs.vmm)];
  try {
    for (const src of launch.fds) {
      if (src.kind === "console") opened.push(given(logs.console));
      else opened.push(src.kind === "listen" ? await listenAt(src.path) : await openFile(src));
    }
    return opened;
  } catch (e) {
    await Promise.all(opened.map((o) => o.close().catch(() => undefined)));
    for (const src of launch.fds) if (src.kind === "listen") await rm(src.path, { force: true });
    throw e;
  }
}

/** Spawn the launch's argv with its fds; resolves once the child runs (rejects when it cannot be executed). */
export async function spawnVmm(launch: QemuLaunch, opts: SpawnOptions): Promise<SpawnedVmm> {
  const [cmd, ...args] = launch.argv;
  if (cmd === undefined) throw new BangerError(ErrorCodes.INTERNAL, "empty VMM argv");
  const opened = await openAll(launch, opts.logs);
  const [log, ...rest] = opened.map((o) => o.fd);
  let exit: { code: number | null; signal: string | null } | null = null;
  try {
    const child = spawn(cmd, args, {
      detached: true,
      stdio: ["ignore", log!, log!, ...rest],
      env: { ...VMM_ENV },
      ...(opts.identity ? { uid: opts.identity.uid, gid: opts.identity.gid } : {}),
    });
    child.on("exit", (code, signal) => {
      exit = { code, signal };
    });
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", (e) =>
        reject(new BangerError(ErrorCodes.VMM, `could not start ${cmd}: ${e.message}`, { cause: e })),
      );
    });
    child.unref();
    return { pid: child.pid!, exit: () => exit };
  } finally {
    await Promise.all(opened.map((o) => o.close().catch(() => undefined)));
  }
}
