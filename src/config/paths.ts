import path from "node:path";
import { BangerError, ErrorCodes } from "../errors/index.js";

/** Every directory and file banger uses, all absolute. */
export interface Paths {
  configDir: string;
  configFile: string;
  stateDir: string;
  cacheDir: string;
  runtimeDir: string;
  sshDir: string;
  logsDir: string;
  vmsDir: string;
  imagesDir: string;
  kernelsDir: string;
  dbFile: string;
  socket: string;
  daemonLog: string;
  pidFile: string;
}

export type Env = Readonly<Record<string, string | undefined>>;

/** Longest path a Unix socket can bind to on Linux (sun_path is 108 bytes with the NUL). */
export const MAX_SOCKET_PATH = 107;

function absoluteOrThrow(name: string, value: string): string {
  if (!path.isAbsolute(value)) {
    throw new BangerError(ErrorCodes.PATHS_INVALID, `${name} is "${value}", which is not an absolute path`, {
      hint: `set ${name} to an absolute path (or unset it) so banger never writes into the current directory`,
    });
  }
  return path.normalize(value);
}

function home(env: Env): string {
  const h = env.HOME;
  if (h === undefined || h === "") {
    throw new BangerError(
      ErrorCodes.PATHS_INVALID,
      "HOME is not set, so the XDG directories cannot be resolved",
      {
        hint: "set HOME, or set XDG_CONFIG_HOME, XDG_STATE_HOME and XDG_CACHE_HOME to absolute paths",
      },
    );
  }
  return absoluteOrThrow("HOME", h);
}

/** An XDG base directory: the variable if set and non-empty, else HOME/fallback. */
function xdg(env: Env, name: string, fallback: string): string {
  const v = env[name];
  if (v !== undefined && v !== "") return absoluteOrThrow(name, v);
  return path.join(home(env), fallback);
}

/**
 * Resolve the XDG layout. Pure: reads only `env`. Throws PATHS_INVALID when
 * anything would be relative or the socket path would be too long to bind.
 */
export function resolvePaths(env: Env): Paths {
  const configDir = path.join(xdg(env, "XDG_CONFIG_HOME", ".config"), "banger");
  const stateDir = path.join(xdg(env, "XDG_STATE_HOME", ".local/state"), "banger");
  const cacheDir = path.join(xdg(env, "XDG_CACHE_HOME", ".cache"), "banger");
  const rt = env.XDG_RUNTIME_DIR;
  const runtimeDir =
    rt !== undefined && rt !== ""
      ? path.join(absoluteOrThrow("XDG_RUNTIME_DIR", rt), "banger")
      : path.join(stateDir, "run");
  const socket = path.join(runtimeDir, "bangerd.sock");
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
    throw new BangerError(
      ErrorCodes.PATHS_INVALID,
      `the daemon socket path ${socket} is ${Buffer.byteLength(socket)} bytes, longer than the ${MAX_SOCKET_PATH} a Unix socket allows`,
      { hint: "set XDG_RUNTIME_DIR (or XDG_STATE_HOME) to a shorter absolute path" },
    );
  }
  const logsDir = path.join(stateDir, "logs");
  return {
    configDir,
    configFile: path.join(configDir, "config.toml"),
    stateDir,
    cacheDir,
    runtimeDir,
    sshDir: path.join(stateDir, "ssh"),
    logsDir,
    vmsDir: path.join(stateDir, "vms"),
    imagesDir: path.join(stateDir, "images"),
    kernelsDir: path.join(stateDir, "kernels"),
    dbFile: path.join(stateDir, "banger.db"),
    socket,
    daemonLog: path.join(logsDir, "bangerd.log"),
    pidFile: path.join(runtimeDir, "bangerd.pid"),
  };
}

/** Expand a leading `~/` (or a lone `~`) against HOME. `~user/` is not supported and is left as is. */
export function expandHome(p: string, env: Env): string {
  if (p === "~") return home(env);
  if (p.startsWith("~/")) return path.join(home(env), p.slice(2));
  return p;
}
