/** The real host side of the jail: run setfacl, launch the jail as root, find the uids jails use now. */
import { execFile, spawn } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import { type JailPlan, launchArgv, type UidRange } from "./jail.js";

/** Run argv to completion; the error names the command and carries its stderr. */
export function execArgv(argv: string[]): Promise<string> {
  const [cmd, ...args] = argv;
  return new Promise((resolve, reject) => {
    execFile(cmd as string, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (!err) return resolve(String(stdout));
      reject(
        new BangerError(
          ErrorCodes.COMMAND_FAILED,
          `${argv.join(" ")} failed: ${String(stderr).trim() || err.message}`,
          {
            cause: err,
            hint:
              (err as NodeJS.ErrnoException).code === "ENOENT"
                ? "install it (Debian: apt-get install acl)"
                : undefined,
          },
        ),
      );
    });
  });
}

/** The launcher script compiled beside this file. */
export const LAUNCHER_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), "jailLaunch.js");

/**
 * Launch the jail directly: only a root daemon can (the jailer mounts,
 * chroots and changes uid). A normal user's daemon passes a launcher that
 * goes through the privileged helper instead.
 */
export function launchAsRoot(getuid: () => number) {
  return async (plan: JailPlan, planFile: string, logPath: string): Promise<void> => {
    if (getuid() !== 0) {
      throw new BangerError(
        ErrorCodes.PREFLIGHT_FAILED,
        `a jailer sits beside ${plan.firecrackerBin}, and running Firecracker through it needs root (the daemon runs as uid ${getuid()})`,
        { hint: "install banger's privileged helper (banger sudoers --install), or run the daemon as root" },
      );
    }
    const [cmd, ...args] = launchArgv(process.execPath, LAUNCHER_SCRIPT, planFile);
    const fd = openSync(logPath, "a");
    try {
      // a fixed environment: nothing of the daemon's (or the user's) reaches what runs as root
      const env = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" };
      const child = spawn(cmd as string, args, { detached: true, stdio: ["ignore", fd, fd], env });
      const code = await new Promise<number | null>((resolve, reject) => {
        child.once("error", reject);
        child.once("exit", (c, sig) => resolve(sig ? null : c));
      });
      if (code !== 0) {
        throw new BangerError(
          ErrorCodes.VMM,
          `the jail launch (${cmd} ... ${plan.jailerBin}) exited with ${code ?? "a signal"}; see the console log ${logPath}`,
        );
      }
    } finally {
      closeSync(fd);
    }
  };
}

/** Real uids in `range` of every process alive now (from /proc/PID/status). */
export function uidsInUse(range: UidRange, procDir = "/proc"): Set<number> {
  const out = new Set<number>();
  for (const name of readdirSync(procDir)) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const m = /^Uid:\s+(\d+)/m.exec(readFileSync(path.join(procDir, name, "status"), "utf8"));
      const uid = Number(m?.[1]);
      if (uid >= range.first && uid <= range.last) out.add(uid);
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

/** The cgroup version of this machine (see cgroupVersionFromMounts). */
export function readProcMounts(): string {
  return readFileSync("/proc/mounts", "utf8");
}
