/**
 * Finding, starting and replacing the daemon. The CLI never talks to a daemon
 * of another build: a mismatch is shut down (only if it is still that build)
 * and a fresh one is started.
 */
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { PingResult } from "../api/methods.js";
import { buildInfo } from "../buildInfo.js";
import type { Paths } from "../config/paths.js";
import { BangerError, ErrorCodes, type ErrorPayload } from "../errors/index.js";
import { RpcClient } from "../rpc/client.js";

const DAEMON_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "bin", "bangerd.js");
const START_TIMEOUT_MS = 15_000;

export interface Connected {
  client: RpcClient;
  ping: PingResult;
  /** True when this call started (or replaced) the daemon. */
  started: boolean;
}

/** Connect and ping; null when no daemon answers. */
export async function tryConnect(paths: Paths): Promise<{ client: RpcClient; ping: PingResult } | null> {
  let client: RpcClient;
  try {
    client = await RpcClient.connect(paths.socket);
  } catch {
    return null;
  }
  try {
    const ping = await client.call("ping", {}, { timeoutMs: 5000 });
    return { client, ping };
  } catch (e) {
    client.close();
    if (e instanceof BangerError && e.code === ErrorCodes.DAEMON_UNAVAILABLE) return null;
    throw e;
  }
}

/** Spawn bangerd detached and wait for its one-line ready/error notice. */
export function spawnDaemon(paths: Paths): Promise<{ pid: number } | { alreadyRunning: true }> {
  mkdirSync(paths.logsDir, { recursive: true, mode: 0o700 });
  const errLog = path.join(paths.logsDir, "bangerd.stderr.log");
  const errFd = openSync(errLog, "a", 0o600);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DAEMON_ENTRY, "--notify"], {
      detached: true,
      stdio: ["ignore", "pipe", errFd],
      env: process.env,
    });
    closeSync(errFd);
    let buf = "";
    const timer = setTimeout(() => {
      finish(
        new BangerError(
          ErrorCodes.DAEMON_UNAVAILABLE,
          `bangerd did not become ready within ${START_TIMEOUT_MS / 1000} s`,
          {
            hint: `see ${errLog} and ${paths.daemonLog}`,
          },
        ),
      );
    }, START_TIMEOUT_MS);
    const finish = (r: Error | { pid: number } | { alreadyRunning: true }) => {
      clearTimeout(timer);
      child.stdout?.destroy();
      child.unref();
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    child.on("error", (e) =>
      finish(new BangerError(ErrorCodes.DAEMON_UNAVAILABLE, `cannot start bangerd: ${e.message}`)),
    );
    child.on("exit", (code) => {
      if (!buf.includes("\n")) {
        finish(
          new BangerError(ErrorCodes.DAEMON_UNAVAILABLE, `bangerd exited with code ${code} while starting`, {
            hint: `see ${errLog} and ${paths.daemonLog}`,
          }),
        );
      }
    });
    child.stdout?.on("data", (b: Buffer) => {
      buf += b.toString("utf8");
      const nl = buf.indexOf("\n");
      if (nl === -1) return;
      let msg: { ready?: boolean; pid?: number; error?: ErrorPayload };
      try {
        msg = JSON.parse(buf.slice(0, nl));
      } catch {
        finish(
          new BangerError(
            ErrorCodes.DAEMON_UNAVAILABLE,
            `bangerd said something unexpected: ${buf.slice(0, nl)}`,
          ),
        );
        return;
      }
      if (msg.error?.code === ErrorCodes.DAEMON_RUNNING) finish({ alreadyRunning: true });
      else if (msg.error) finish(BangerError.fromPayload(msg.error));
      else finish({ pid: msg.pid ?? child.pid ?? 0 });
    });
  });
}

/** Wait until no daemon answers on the socket (after a shutdown). */
async function waitGone(paths: Paths, pid: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (!alive) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new BangerError(
    ErrorCodes.TIMEOUT,
    `bangerd (pid ${pid}) did not stop within ${timeoutMs / 1000} s`,
    {
      hint: `see ${paths.daemonLog}; kill ${pid} if it hangs`,
    },
  );
}

/** Ask the daemon to stop and wait for it to exit. Returns the pid it had, or null when none ran. */
export async function stopDaemon(paths: Paths, ifBuildId?: string): Promise<number | null> {
  const c = await tryConnect(paths);
  if (!c) return null;
  try {
    const r = await c.client.call("shutdown", ifBuildId === undefined ? {} : { ifBuildId }, {
      timeoutMs: 5000,
    });
    if (!r.shuttingDown) return null;
    await waitGone(paths, r.pid);
    return r.pid;
  } finally {
    c.client.close();
  }
}

/**
 * A connected client to a daemon of this very build: started when none runs,
 * replaced when the running one is another build.
 */
export async function ensureDaemon(paths: Paths): Promise<Connected> {
  const mine = buildInfo().buildId;
  let started = false;
  for (let attempt = 0; attempt < 4; attempt++) {
    const c = await tryConnect(paths);
    if (c && c.ping.buildId === mine) return { ...c, started };
    if (c) {
      c.client.close();
      await stopDaemon(paths, c.ping.buildId);
    }
    const r = await spawnDaemon(paths);
    started = started || !("alreadyRunning" in r);
  }
  throw new BangerError(ErrorCodes.DAEMON_UNAVAILABLE, "could not reach a bangerd of this build", {
    hint: `see ${paths.daemonLog}`,
  });
}

/**
 * The one transport choice: with BANGER_HOST=ssh://... the daemon of that
 * host through an ssh stdio bridge (`banger system dial-stdio` there);
 * otherwise this user's local daemon over its Unix socket, started or
 * replaced as needed.
 */
export async function connectDaemon(paths: Paths, env: NodeJS.ProcessEnv = process.env): Promise<Connected> {
  if (env.BANGER_HOST) {
    const { dialSsh, parseHost } = await import("../rpc/sshTransport.js");
    return { ...(await dialSsh(parseHost(env.BANGER_HOST), env)), started: false };
  }
  return ensureDaemon(paths);
}

/**
 * For long-lived clients (the TUI) reconnecting after a daemon restart: start
 * a daemon when none runs, but never replace a running one of another build —
 * that one is newer than this process; the caller should be restarted instead.
 */
export async function reconnectDaemon(paths: Paths): Promise<Connected> {
  let c = await tryConnect(paths);
  let started = false;
  if (!c) {
    const r = await spawnDaemon(paths);
    started = !("alreadyRunning" in r);
    c = await tryConnect(paths);
  }
  if (!c)
    throw new BangerError(ErrorCodes.DAEMON_UNAVAILABLE, "could not reach bangerd", {
      hint: `see ${paths.daemonLog}`,
    });
  if (c.ping.buildId !== buildInfo().buildId) {
    c.client.close();
    throw new BangerError(
      ErrorCodes.DAEMON_UNAVAILABLE,
      `the daemon now runs another build (${c.ping.buildId}) than this program`,
      {
        hint: "banger was upgraded: quit and start it again",
      },
    );
  }
  return { ...c, started };
}
