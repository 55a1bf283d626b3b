import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import type { PingResult, ShutdownParams, ShutdownResult } from "../api/methods.js";
import { PROTOCOL_VERSION } from "../api/protocol.js";
import { API_VERSION } from "../api/schema/daemon.js";
import { withValidation } from "../api/schema/validate.js";
import { buildInfo } from "../buildInfo.js";
import type { Paths } from "../config/paths.js";
import type { ResolvedConfig } from "../config/types.js";
import { BangerError, ErrorCodes } from "../errors/index.js";
import { type EndlessCheck, type Handler, RpcServer } from "../rpc/server.js";
import { InstanceLock } from "./lock.js";

export interface DaemonDeps {
  paths: Paths;
  config: ResolvedConfig;
  log: Logger;
  /** Extra handlers (doctor, vms, ...), composed in main.ts. */
  handlers: Map<string, Handler>;
  /** Extra fields for ping (DNS status...). */
  status?: () => Partial<PingResult>;
  /** Called once while shutting down, after the socket is closed. */
  onClose?: () => Promise<void> | void;
}

/** How long shutdown waits for requests in flight before cutting them. */
export const DRAIN_MS = 30_000;

/** Requests that never end on their own: change events and followed logs. */
export const isEndless: EndlessCheck = (method, params) =>
  method === "events.watch" || (method === "vm.logs" && !!(params as { follow?: boolean })?.follow);

/** True when something answers on the Unix socket at `path`. */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection({ path });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** The daemon: owns the instance lock, the socket and the RPC server. */
export class Daemon {
  private lock: InstanceLock | undefined;
  private server: RpcServer | undefined;
  private readonly startedAt = new Date();
  private closing: Promise<void> | undefined;
  private methods: string[] = [];
  private drainMs = DRAIN_MS;
  /** Only a daemon that bound the socket may remove it. */
  private bound = false;
  /** Resolves when the daemon has shut down. */
  readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(private readonly deps: DaemonDeps) {
    this.done = new Promise((r) => {
      this.resolveDone = r;
    });
  }

  /** Take the lock, run `init` (open the store...), then serve. */
  async start(init?: () => Promise<void> | void): Promise<void> {
    const { paths, log } = this.deps;
    for (const d of [paths.stateDir, paths.runtimeDir, paths.logsDir])
      mkdirSync(d, { recursive: true, mode: 0o700 });
    this.lock = await InstanceLock.acquire(paths.stateDir);
    await this.reclaimSocket();
    await init?.();
    const handlers = new Map<string, Handler>(this.deps.handlers);
    handlers.set("ping", () => this.ping());
    handlers.set("shutdown", (p) => this.shutdownRequest(p as ShutdownParams));
    this.server = new RpcServer(withValidation(handlers), log);
    this.methods = [...handlers.keys()].sort();
    await this.server.listen(paths.socket);
    this.bound = true;
    writeFileSync(paths.pidFile, `${process.pid}\n`, { mode: 0o600 });
    log.info(
      { socket: paths.socket, build: buildInfo(), configFile: this.deps.config.file },
      "bangerd started",
    );
  }

  /** A socket file left by a dead daemon is removed; a live one means another daemon (other netns). */
  private async reclaimSocket(): Promise<void> {
    const { socket } = this.deps.paths;
    if (!existsSync(socket)) return;
    if (await socketAnswers(socket)) {
      throw new BangerError(ErrorCodes.DAEMON_RUNNING, `another bangerd answers on ${socket}`, {
        hint: "stop it with `banger daemon stop`",
      });
    }
    this.deps.log.warn({ socket }, "removing stale socket from a daemon that is gone");
    rmSync(socket, { force: true });
  }

  ping(): PingResult {
    const { paths } = this.deps;
    const b = buildInfo();
    return {
      version: b.version,
      buildId: b.buildId,
      builtAt: b.builtAt,
      draining: this.closing !== undefined,
      bin: fileURLToPath(new URL("../../../bin/banger", import.meta.url)),
      protocol: PROTOCOL_VERSION,
      apiVersion: API_VERSION,
      methods: this.methods,
      pid: process.pid,
      uptimeSec: Math.round((Date.now() - this.startedAt.getTime()) / 1000),
      startedAt: this.startedAt.toISOString(),
      socket: paths.socket,
      logPath: paths.daemonLog,
      ...this.deps.status?.(),
      paths: {
        configDir: paths.configDir,
        stateDir: paths.stateDir,
        cacheDir: paths.cacheDir,
        runtimeDir: paths.runtimeDir,
        socket: paths.socket,
        dbFile: paths.dbFile,
        logsDir: paths.logsDir,
      },
    };
  }

  private shutdownRequest(p: ShutdownParams): ShutdownResult {
    if (p.ifBuildId !== undefined && p.ifBuildId !== buildInfo().buildId) {
      return { shuttingDown: false, pid: process.pid, drainMs: 0 };
    }
    if (p.drainMs !== undefined) {
      if (!Number.isInteger(p.drainMs) || p.drainMs < 0 || p.drainMs > 600_000)
        throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `drainMs must be 0..600000, got ${p.drainMs}`);
      this.drainMs = p.drainMs;
    }
    // Answer first, then drain and close.
    setImmediate(() => void this.shutdown("rpc"));
    return { shuttingDown: true, pid: process.pid, drainMs: this.drainMs };
  }

  /** Drain requests in flight (bounded), close everything, release the lock. Idempotent. */
  shutdown(reason: string): Promise<void> {
    this.closing ??= (async () => {
      const { paths, log } = this.deps;
      log.info(
        { reason, drainMs: this.drainMs, inFlight: this.server?.inFlightMethods() },
        "bangerd shutting down",
      );
      if (this.server) {
        const d = await this.server.drain(this.drainMs, isEndless);
        if (d.abandoned.length)
          log.warn({ abandoned: d.abandoned }, "requests still running after the drain");
        log.info({ drained: d.drained }, "requests drained");
      }
      if (this.bound) {
        await this.server?.close();
        rmSync(paths.socket, { force: true });
        rmSync(paths.pidFile, { force: true });
      }
      try {
        await this.deps.onClose?.();
      } catch (e) {
        log.error({ err: (e as Error).message }, "error while closing");
      }
      this.lock?.release();
      log.info("bangerd stopped");
      this.resolveDone();
    })();
    return this.closing;
  }
}
