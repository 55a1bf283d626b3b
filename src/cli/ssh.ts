import type { SshInfo } from "../api/vms.js";
import { BangerError, ErrorCodes } from "../errors/index.js";
import { sshArgv as remoteSshArgv, type SshTarget } from "../rpc/sshTransport.js";
import { childProcess } from "../util/lazyBuiltins.js";
import { shellQuote } from "../util/shellQuote.js";

/**
 * ssh joins the remote command's words with spaces for the guest's shell. One
 * word is taken as a shell command line (`vm ssh x -- 'ls | wc -l'`); several
 * words are quoted one by one, so `vm ssh x -- sh -c 'echo hi'` keeps its argv.
 */
export function remoteCommand(words: string[]): string[] {
  if (words.length <= 1) return words;
  return [shellQuote(words)];
}

/** The system ssh's argv: banger's key, the VM's pinned host key (no blind trust), a TTY when interactive. */
export function sshArgv(info: SshInfo, command: string[], tty: boolean): string[] {
  return [
    "-i",
    info.identityFile,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    `UserKnownHostsFile=${info.knownHostsFile}`,
    "-o",
    `HostKeyAlias=${info.hostKeyAlias}`,
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ConnectTimeout=10",
    ...(command.length === 0 && tty ? ["-t"] : []),
    // "--" ends ssh's options, so a command that starts with "-" reaches the guest intact
    "--",
    `${info.user}@${info.ip}`,
    ...remoteCommand(command),
  ];
}

/** Run the system ssh with the terminal handed over; resolves with its exit code. */
export function runSsh(info: SshInfo, command: string[]): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const child = childProcess().spawn("ssh", sshArgv(info, command, !!process.stdin.isTTY), {
      stdio: "inherit",
    });
    child.on("error", (e) =>
      reject(
        new BangerError(ErrorCodes.PREFLIGHT_FAILED, `cannot run ssh: ${e.message}`, {
          hint: "sudo apt-get install openssh-client",
        }),
      ),
    );
    child.on("close", (code, sig) => resolve(code ?? (sig ? 128 : 1)));
  });
}

/** Run banger on a remote host over ssh with the terminal handed over (vm ssh / vm run shells). */
export function runRemoteBanger(target: SshTarget, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const argv = remoteSshArgv(target, args, {
    tty: !!process.stdin.isTTY,
    ...(env.BANGER_REMOTE_BIN ? { remoteBin: env.BANGER_REMOTE_BIN } : {}),
  });
  return new Promise<number>((resolve, reject) => {
    const child = childProcess().spawn(env.BANGER_SSH ?? "ssh", argv, { stdio: "inherit", env });
    child.on("error", (e) =>
      reject(
        new BangerError(ErrorCodes.PREFLIGHT_FAILED, `cannot run ssh: ${e.message}`, {
          hint: "sudo apt-get install openssh-client",
        }),
      ),
    );
    child.on("close", (code, sig) => resolve(code ?? (sig ? 128 : 1)));
  });
}

/** `vm ssh NAME [-- CMD]` on the remote host: the remote's managed key never leaves it. */
export function remoteVmSsh(
  target: SshTarget,
  name: string,
  command: string[],
  env: NodeJS.ProcessEnv,
): Promise<number> {
  return runRemoteBanger(target, ["vm", "ssh", name, ...(command.length ? ["--", ...command] : [])], env);
}

/** Run a command over ssh with its output collected (for --json); no TTY, no stdin. */
export function captureSsh(
  info: SshInfo,
  command: string[],
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = childProcess().spawn("ssh", ["-T", ...sshArgv(info, command, false)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString("utf8")));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString("utf8")));
    child.on("error", (e) =>
      reject(
        new BangerError(ErrorCodes.PREFLIGHT_FAILED, `cannot run ssh: ${e.message}`, {
          hint: "sudo apt-get install openssh-client",
        }),
      ),
    );
    child.on("close", (code, sig) => resolve({ exitCode: code ?? (sig ? 128 : 1), stdout, stderr }));
  });
}
