/**
 * How the SDK reaches a daemon: the one injectable piece. Today a Unix
 * socket; a remote host (ssh://) supplies its own `open` that bridges ssh's
 * stdio to the far daemon (RpcClient.fromStream).
 */
import { resolvePaths } from "../config/paths.js";
import { BangerError, ErrorCodes } from "../errors/index.js";
import { RpcClient } from "../rpc/client.js";

export interface Transport {
  /** Where it leads, for messages ("unix:/run/user/0/banger/bangerd.sock"). */
  readonly target: string;
  /**
   * Open one more connection. The SDK keeps one for short calls and opens one
   * per long call (exec stream, events, ready), closing it to cancel that call.
   */
  open(): Promise<RpcClient>;
  /** Make sure a daemon answers (start it if this transport can); called once by connect. */
  prepare?(): Promise<void>;
}

/** The daemon on this machine at `socketPath`; `start` starts (or replaces) it as the CLI does. */
export function unixSocket(socketPath: string, start?: () => Promise<void>): Transport {
  return {
    target: `unix:${socketPath}`,
    open: () => RpcClient.connect(socketPath),
    ...(start ? { prepare: start } : {}),
  };
}

export interface TransportOptions {
  /** The daemon's socket (default: the user's, from XDG_RUNTIME_DIR). No daemon is started for it. */
  socket?: string;
  /** "ssh://[user@]host[:port]" for a remote daemon (needs the remote-host transport). */
  host?: string;
  env?: NodeJS.ProcessEnv;
}

/** The default transport: the user's own daemon, started when none runs (never replaced). */
export function defaultTransport(o: TransportOptions): Transport {
  const host = o.host ?? o.env?.BANGER_HOST;
  if (host) {
    throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `host: "${host}" needs the remote-host transport`, {
      hint: "this build talks to the local daemon only; pass { transport } for another one",
    });
  }
  if (o.socket) return unixSocket(o.socket);
  const env = o.env ?? process.env;
  const paths = resolvePaths(env);
  // Start a daemon when none answers; never replace a running one of another
  // build (the user's CLI owns it): the handshake's apiVersion decides instead.
  return unixSocket(paths.socket, async () => {
    const { spawnDaemon, tryConnect } = await import("../cli/daemonControl.js");
    const running = await tryConnect(paths);
    if (running) running.client.close();
    else await spawnDaemon(paths, env);
  });
}
