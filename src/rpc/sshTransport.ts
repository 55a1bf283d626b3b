/**
 * Reaching a daemon on another machine, the way Docker's ssh contexts do:
 * `ssh [-p PORT] [USER@]HOST -- <find banger> system dial-stdio` runs a
 * bridge on the far side between its stdio and that user's daemon socket
 * (started there when needed), and the RPC runs over ssh's stdio.
 */
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { Duplex } from "node:stream";
import type { PingResult } from "../api/methods.js";
import { BangerError, ErrorCodes } from "../errors/index.js";
import { childProcess } from "../util/lazyBuiltins.js";
import { shellQuote } from "../util/shellQuote.js";
import { RpcClient } from "./client.js";

export interface SshTarget {
  user?: string;
  host: string;
  port?: number;
}

const HOST_HINT =
  "use ssh://[user@]host[:port], for example BANGER_HOST=ssh://me@bigbox or ssh://bigbox:2222";

/** Parse `ssh://[user@]host[:port]`; a bad value is a usage error naming it. */
export function parseHost(url: string): SshTarget {
  const m = /^ssh:\/\/(?:([A-Za-z0-9._-]+)@)?([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?\/?$/.exec(
    url,
  );
  const port = m?.[3] === undefined ? undefined : Number(m[3]);
  if (!m || (port !== undefined && (port < 1 || port > 65535))) {
    throw new BangerError(ErrorCodes.USAGE, `BANGER_HOST / --host ${JSON.stringify(url)} is not an ssh URL`, {
      hint: HOST_HINT,
    });
  }
  return { host: m[2]!.replace(/^\[|\]$/g, ""), ...(m[1] ? { user: m[1] } : {}), ...(port ? { port } : {}) };
}

/**
 * The remote shell line that runs banger with `args`: BANGER_REMOTE_BIN (this
 * side's value) first, then PATH, then the install locations, since a
 * non-interactive ssh session's PATH often lacks ~/.local/bin.
 */
export const REMOTE_INSTALL_LOCATIONS: readonly string[] = [
  '"$HOME/.local/bin/banger"',
  "/usr/local/bin/banger",
];

export function remoteBangerCommand(
  args: readonly string[],
  remoteBin?: string,
  installLocations: readonly string[] = REMOTE_INSTALL_LOCATIONS,
): string {
  const candidates = [
    ...(remoteBin ? [shellQuote([remoteBin])] : []),
    '"$(command -v banger)"',
    ...installLocations,
  ];
  const find = `for b in ${candidates.join(" ")}; do if [ -n "$b" ] && [ -x "$b" ]; then exec "$b" "$@"; fi; done`;
  const fail =
    'echo "banger: banger is not installed on $(hostname) (looked in PATH, ~/.local/bin, /usr/local/bin); set BANGER_REMOTE_BIN to its path" >&2; exit 127';
  return `sh -c ${shellQuote([`${find}; ${fail}`])} banger ${shellQuote([...args])}`;
}

/** ssh's argv for a remote banger command; `tty` for interactive shells (vm ssh). */
export function sshArgv(
  target: SshTarget,
  args: readonly string[],
  opts: { tty: boolean; remoteBin?: string },
): string[] {
  return [
    opts.tty ? "-t" : "-T",
    "-o",
    "ServerAliveInterval=15",
    ...(target.port ? ["-p", String(target.port)] : []),
    "--",
    target.user ? `${target.user}@${target.host}` : target.host,
    remoteBangerCommand(args, opts.remoteBin),
  ];
}

/** ssh's stdio as one byte stream; destroying it ends ssh. */
function childStream(child: ChildProcessWithoutNullStreams): Duplex {
  const d = new Duplex({
    read() {
      child.stdout.resume();
    },
    write(chunk, _enc, cb) {
      child.stdin.write(chunk, cb);
    },
    final(cb) {
      child.stdin.end();
      cb();
    },
    destroy(err, cb) {
      if (child.exitCode === null) child.kill("SIGTERM");
      cb(err);
    },
  });
  child.stdout.on("data", (b: Buffer) => {
    if (!d.push(b)) child.stdout.pause();
  });
  child.stdout.on("end", () => d.push(null));
  child.stdin.on("error", () => undefined);
  child.on("close", () => d.destroy());
  return d;
}

/**
 * An RPC client to the daemon of `target` through ssh, pinged. Rejects with
 * DAEMON_UNAVAILABLE carrying ssh's own words when the bridge does not come up.
 */
export async function dialSsh(
  target: SshTarget,
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 60_000,
): Promise<{ client: RpcClient; ping: PingResult }> {
  const argv = sshArgv(target, ["system", "dial-stdio"], {
    tty: false,
    ...(env.BANGER_REMOTE_BIN ? { remoteBin: env.BANGER_REMOTE_BIN } : {}),
  });
  const child = childProcess().spawn(env.BANGER_SSH ?? "ssh", argv, { stdio: ["pipe", "pipe", "pipe"], env });
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => {
    stderr = (stderr + b.toString("utf8")).slice(-4000);
  });
  const exited = new Promise<string>((resolve) => {
    child.once("error", (e) => resolve(`cannot run ssh: ${e.message}`));
    child.once("close", (code) => resolve(`ssh exited with code ${code}`));
  });
  const client = RpcClient.fromStream(childStream(child));
  try {
    const ping = await client.call("ping", {}, { timeoutMs });
    return { client, ping };
  } catch (e) {
    client.close();
    const why = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r(""), 1000))]);
    const where = `${target.user ? `${target.user}@` : ""}${target.host}${target.port ? `:${target.port}` : ""}`;
    throw new BangerError(
      ErrorCodes.DAEMON_UNAVAILABLE,
      `cannot reach the banger daemon on ${where} through ssh: ${[why, stderr.trim()].filter(Boolean).join(": ") || (e as Error).message}`,
      {
        hint: `check that \`ssh ${where} banger version\` works; set BANGER_REMOTE_BIN if banger is installed elsewhere there`,
        cause: e,
      },
    );
  }
}
