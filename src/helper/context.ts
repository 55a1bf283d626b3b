/**
 * What every verb of the privileged helper gets: who called it, whose uid
 * owns the VMM-side resources, and a command runner with a fixed, trusted
 * environment. Nothing here reads the caller's environment or files.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { VMM_SYSTEM_USER } from "./protocol.js";

/** A refused or failed verb: `code` travels to the daemon as the error's code. */
export class HelperError extends Error {
  constructor(
    readonly code:
      | "INVALID_ARGUMENT"
      | "PERMISSION"
      | "NOT_FOUND"
      | "CONFLICT"
      | "COMMAND_FAILED"
      | "UNKNOWN_VERB",
    message: string,
  ) {
    super(message);
  }
}

export interface HelperRunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface HelperRunOptions {
  input?: string;
  /** Return a non-zero exit instead of throwing. */
  allowFailure?: boolean;
}

export interface HelperContext {
  /** The calling user's uid (SUDO_UID, or the helper's own uid when not started through sudo). */
  uid: number;
  gid: number;
  /** Owner of VMM resources (TAPs, VMM processes): the caller, or banger-vmm when the caller is root (-1: missing). */
  vmmUid: number;
  vmmGid: number;
  /** Runs a command with PATH=/usr/sbin:/usr/bin:/sbin:/bin and nothing else from the caller's environment. */
  run(argv: readonly string[], opts?: HelperRunOptions): Promise<HelperRunResult>;
}

/** The only environment a command started by the helper sees. */
export const TRUSTED_ENV: Readonly<Record<string, string>> = {
  PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
  LC_ALL: "C",
};

const ID_RE = /^(0|[1-9][0-9]{0,9})$/;

/** The caller from SUDO_UID/SUDO_GID when the helper runs as root through sudo; else the helper's own ids. */
export function callerIds(
  env: Readonly<Record<string, string | undefined>>,
  self: { uid: number; gid: number },
): { uid: number; gid: number } {
  if (self.uid !== 0) return self;
  const u = env.SUDO_UID;
  const g = env.SUDO_GID;
  if (u === undefined) return self;
  if (!ID_RE.test(u) || (g !== undefined && !ID_RE.test(g))) {
    throw new HelperError("INVALID_ARGUMENT", "SUDO_UID/SUDO_GID are not numeric ids");
  }
  return { uid: Number(u), gid: g === undefined ? Number(u) : Number(g) };
}

/** uid and gid of a user from an /etc/passwd text, or null. */
export function passwdEntry(passwd: string, name: string): { uid: number; gid: number } | null {
  for (const line of passwd.split("\n")) {
    const f = line.split(":");
    if (f[0] === name && f.length >= 4 && ID_RE.test(f[2] ?? "") && ID_RE.test(f[3] ?? "")) {
      return { uid: Number(f[2]), gid: Number(f[3]) };
    }
  }
  return null;
}

/** The dedicated VMM user's ids from /etc/passwd, or null when it does not exist. */
export function lookupVmmUser(readPasswd: () => string = () => readFileSync("/etc/passwd", "utf8")): {
  uid: number;
  gid: number;
} | null {
  try {
    return passwdEntry(readPasswd(), VMM_SYSTEM_USER);
  } catch {
    return null;
  }
}

const MAX_OUTPUT = 4 * 1024 * 1024;

/** Run argv with the trusted environment; rejects with COMMAND_FAILED (naming the command) unless allowFailure. */
export function trustedRun(argv: readonly string[], opts: HelperRunOptions = {}): Promise<HelperRunResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return Promise.reject(new HelperError("COMMAND_FAILED", "empty argv"));
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...TRUSTED_ENV }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => {
      if (stdout.length < MAX_OUTPUT) stdout += s;
    });
    child.stderr.setEncoding("utf8").on("data", (s: string) => {
      if (stderr.length < MAX_OUTPUT) stderr += s;
    });
    child.on("error", (e) => reject(new HelperError("COMMAND_FAILED", `${argv.join(" ")}: ${e.message}`)));
    child.on("close", (code) => {
      const r = { code: code ?? 1, stdout, stderr };
      if (r.code !== 0 && !opts.allowFailure) {
        const why = stderr.trim().split("\n").slice(-3).join("; ") || `exit code ${r.code}`;
        reject(new HelperError("COMMAND_FAILED", `\`${argv.join(" ")}\` failed: ${why}`));
      } else resolve(r);
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(opts.input ?? "");
  });
}
