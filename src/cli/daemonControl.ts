/**
 * Finding, starting and replacing the daemon. Builds are ordered by version,
 * then build time (buildInfo.compareBuilds). A CLI replaces a running daemon
 * only when that daemon is an older build, and only after it drained its
 * requests in flight; an older CLI never replaces a newer daemon: it talks to
 * it when they speak the same protocol, else says what to do instead.
 */
import { closeSync, mkdirSync, openSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { PingResult } from "../api/methods.js";
import { PROTOCOL_VERSION } from "../api/protocol.js";
import { type BuildInfo, buildInfo, compareBuilds, describeBuild } from "../buildInfo.js";
import type { Paths } from "../config/paths.js";
import { BangerError, ErrorCodes, type ErrorPayload } from "../errors/index.js";
import { RpcClient } from "../rpc/client.js";
import { childProcess } from "../util/lazyBuiltins.js";
import { waitFor } from "../util/poll.js";
import { rotateIfOver } from "../vmm/logger/rotate.js";

const DAEMON_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "bin", "bangerd.js");
const START_TIMEOUT_MS = 15_000;
/** The daemon's default drain bound (Daemon.DRAIN_MS) plus time to close and exit. */
const REPLACE_TIMEOUT_MS = 30_000 + 20_000;

export interface Connected {
  client: RpcClient;
  ping: PingResult;
  /** True when this call started (or replaced) the daemon. */
  started: boolean;
  /** Set when the daemon is another build that this CLI talks to as it is (a newer one). */
  notice?: string;
}

/** How the running daemon's build stands to this CLI's. */
export type DaemonRelation = "same" | "older" | "newer" | "unordered";

export function relationTo(
  daemon: Pick<PingResult, "version" | "buildId" | "builtAt">,
  mine: BuildInfo,
): DaemonRelation {
  if (daemon.buildId === mine.buildId) return "same";
  const c = compareBuilds({ version: daemon.version, builtAt: daemon.builtAt ?? "" }, mine);
  return c < 0 ? "older" : c > 0 ? "newer" : "unordered";
}

/** The error for a CLI that may not replace the running daemon and cannot talk to it. */
export function olderCliError(ping: PingResult, mine: BuildInfo): BangerError {
  const theirs = describeBuild({ version: ping.version, builtAt: ping.builtAt ?? "" });
  const use = ping.bin ? `use the newer banger at ${ping.bin}` : "use the newer banger that started it";
  return new BangerError(
    ErrorCodes.DAEMON_UNAVAILABLE,
    `this banger (${describeBuild(mine)}) is older than the running daemon (${theirs}, pid ${ping.pid}) and speaks protocol ${PROTOCOL_VERSION}, the daemon ${ping.protocol}`,
    { hint: `${use}, or run \`banger daemon restart\` with this one to go back to it` },
  );
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

type SpawnResult = { pid: number } | { alreadyRunning: true };

/** Spawn bangerd detached and wait for its one-line ready/error notice. */
export function spawnDaemon(paths: Paths, env: NodeJS.ProcessEnv = process.env): Promise<SpawnResult> {
  mkdirSync(paths.logsDir, { recursive: true, mode: 0o700 });
  const errLog = path.join(paths.logsDir, "bangerd.stderr.log");
  // The daemon's stderr (start-up errors, crashes) is small; capped at each start by the [logs] defaults (the CLI reads no config).
  rotateIfOver(errLog, 4 * 1024 * 1024, 2);
  const seeLogs = { hint: `see ${errLog} and ${paths.daemonLog}` };
  const errFd = openSync(errLog, "a", 0o600);
  return new Promise((resolve, reject) => {
    const child = childProcess().spawn(process.execPath, [DAEMON_ENTRY, "--notify"], {
      detached: true,
      stdio: ["ignore", "pipe", errFd],
      env,
    });
    closeSync(errFd);
    let buf = "";
    const timer = setTimeout(() => {
      const secs = START_TIMEOUT_MS / 1000;
      finish(
        new BangerError(
          ErrorCodes.DAEMON_UNAVAILABLE,
          `bangerd did not become ready within ${secs} s`,
          seeLogs,
        ),
      );
    }, START_TIMEOUT_MS);
    const finish = (r: Error | SpawnResult) => {
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
      if (buf.includes("\n")) return;
      finish(
        new BangerError(
          ErrorCodes.DAEMON_UNAVAILABLE,
          `bangerd exited with code ${code} while starting`,
          seeLogs,
        ),
      );
    });
    child.stdout?.on("data", (b: Buffer) => {
      buf += b.toString("utf8");
      const nl = buf.indexOf("\n");
      if (nl !== -1) finish(parseNotice(buf.slice(0, nl), child.pid));
    });
  });
}

/** What bangerd's one-line notice says: ready (with its pid), already running, or an error. */
function parseNotice(line: string, childPid: number | undefined): Error | SpawnResult {
  let msg: { ready?: boolean; pid?: number; error?: ErrorPayload };
  try {
    msg = JSON.parse(line);
  } catch {
    return new BangerError(ErrorCodes.DAEMON_UNAVAILABLE, `bangerd said something unexpected: ${line}`);
  }
  if (msg.error?.code === ErrorCodes.DAEMON_RUNNING) return { alreadyRunning: true };
  if (msg.error) return BangerError.fromPayload(msg.error);
  return { pid: msg.pid ?? childPid ?? 0 };
}

/** Wait until no daemon answers on the socket (after a shutdown). */
async function waitGone(paths: Paths, pid: number, timeoutMs = 10_000): Promise<void> {
  const gone = () => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  };
  await waitFor(gone, {
    timeoutMs,
    intervalMs: 25,
    what: `bangerd (pid ${pid}) to stop`,
    onTimeout: () =>
      new BangerError(ErrorCodes.TIMEOUT, `bangerd (pid ${pid}) did not stop within ${timeoutMs / 1000} s`, {
        hint: `see ${paths.daemonLog}; kill ${pid} if it hangs`,
      }),
  });
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
    await waitGone(paths, r.pid, (r.drainMs ?? 30_000) + 15_000);
    return r.pid;
  } finally {
    c.client.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A connected client: to a daemon of this build (started when none runs,
 * replacing an older one after it drained), or to a newer daemon that speaks
 * this CLI's protocol (with a notice). A draining daemon is waited out.
 */
export async function ensureDaemon(
  paths: Paths,
  env: NodeJS.ProcessEnv = process.env,
  notify: (line: string) => void = () => {},
): Promise<Connected> {
  const mine = buildInfo();
  let started = false;
  const deadline = Date.now() + REPLACE_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const c = await tryConnect(paths);
    if (c && !c.ping.draining) {
      const rel = relationTo(c.ping, mine);
      if (rel === "same") return { ...c, started };
      if (rel !== "older") {
        if (c.ping.protocol !== PROTOCOL_VERSION) {
          c.client.close();
          throw olderCliError(c.ping, mine);
        }
        return { ...c, started, notice: newerNotice(c.ping, mine, rel) };
      }
      c.client.close();
      notify(
        `replacing the older bangerd (${describeBuild({ version: c.ping.version, builtAt: c.ping.builtAt ?? "" })}, pid ${c.ping.pid}) with this build; it finishes its requests first`,
      );
      await stopDaemon(paths, c.ping.buildId);
      continue;
    }
    c?.client.close();
    if (c) {
      await sleep(100); // an older daemon still drains; it exits within its bound
      continue;
    }
    const r = await spawnDaemon(paths, env);
    if ("alreadyRunning" in r)
      await sleep(100); // another CLI started one, or one drains
    else started = true;
  }
  throw new BangerError(ErrorCodes.DAEMON_UNAVAILABLE, "could not reach a bangerd of this build", {
    hint: `see ${paths.daemonLog}`,
  });
}

function newerNotice(ping: PingResult, mine: BuildInfo, rel: DaemonRelation): string {
  const theirs = describeBuild({ version: ping.version, builtAt: ping.builtAt ?? "" });
  return rel === "newer"
    ? `note: the running bangerd (${theirs}) is newer than this banger (${describeBuild(mine)}); using it as it is`
    : `note: the running bangerd is another build of ${ping.version} (${ping.buildId}, this is ${mine.buildId}); using it as it is`;
}

/**
 * The one transport choice: with BANGER_HOST=ssh://... the daemon of that
 * host through an ssh stdio bridge (`banger system dial-stdio` there);
 * otherwise this user's local daemon over its Unix socket, started or
 * replaced as needed.
 */
export async function connectDaemon(
  paths: Paths,
  env: NodeJS.ProcessEnv = process.env,
  notify: (line: string) => void = () => {},
): Promise<Connected> {
  if (env.BANGER_HOST) {
    const { dialSsh, parseHost } = await import("../rpc/sshTransport.js");
    return { ...(await dialSsh(parseHost(env.BANGER_HOST), env)), started: false };
  }
  return ensureDaemon(paths, env, notify);
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
