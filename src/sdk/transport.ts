/**
 * How the SDK reaches a daemon: the one injectable piece. Today a Unix
 * socket; a remote host (ssh://) supplies its own `open` that bridges ssh's
 * stdio to the far daemon (RpcClient.fromStream).
 */
import { resolvePaths } from "../config/paths.js";
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
  /** "ssh://[user@]host[:port]": that user's daemon on that host, through `ssh host banger system dial-stdio`. */
  host?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * A remote daemon through ssh: each connection is one `ssh HOST banger system
 * dial-stdio` (the far side starts its daemon if needed; its keys stay there).
 * BANGER_SSH and BANGER_REMOTE_BIN in `env` work as for the CLI.
 */
export function sshHost(host: string, env: NodeJS.ProcessEnv = process.env): Transport {
  return {
    target: host,
    open: async () => {
      const { dialSsh, parseHost } = await import("../rpc/sshTransport.js");
      return (await dialSsh(parseHost(host), env)).client;
    },
  };
}

/** The default transport: `host` (or BANGER_HOST) through ssh, else the user's own daemon, started when none runs (never replaced). */
export function defaultTransport(o: TransportOptions): Transport {
  const host = o.host ?? (o.env ?? process.env).BANGER_HOST;
  if (host) return sshHost(host, o.env ?? process.env);
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
