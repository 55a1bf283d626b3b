/**
 * The jail launcher: `unshare --mount --propagation private -- node
 * jailLaunch.js PLAN.json`, run as root. In that private mount namespace it
 * bind-mounts each file of the plan onto an empty file inside the chroot
 * (read-only ones remounted ro), gives the jail's uid the chroot's /run for
 * its sockets, then runs the jailer and exits with its status. The jailer's
 * own namespace copies these mounts (it binds the chroot with MS_REC); the
 * host's namespace never sees them, and they vanish with the last process of
 * the jail.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chownSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { JailPlan } from "./jail.js";

const JAIL_DIRS = ["/boot/", "/drives/", "/logs/", "/snapshot/", "/restore/"];

/** Every problem with a plan read from a file (it is input: check it before acting as root). */
export function planProblems(plan: JailPlan): string[] {
  const errors: string[] = [];
  const exec = path.basename(plan.firecrackerBin ?? "");
  if (!/^[A-Za-z0-9-]{1,64}$/.test(plan.id ?? "")) errors.push(`id ${JSON.stringify(plan.id)} is invalid`);
  if (!exec.includes("firecracker")) errors.push(`exec file ${plan.firecrackerBin} is not a firecracker`);
  if (!path.isAbsolute(plan.chrootBase ?? "")) errors.push("chrootBase must be absolute");
  if (plan.chrootDir !== path.join(plan.chrootBase ?? "", exec, plan.id ?? "", "root"))
    errors.push(`chrootDir ${plan.chrootDir} is not <chrootBase>/${exec}/<id>/root`);
  if (!Number.isInteger(plan.uid) || plan.uid < 1 || plan.gid !== plan.uid) errors.push("uid/gid invalid");
  for (const b of plan.binds ?? []) {
    const t = path.posix.normalize(b.target);
    if (t !== b.target || !JAIL_DIRS.some((d) => t.startsWith(d)) || t.includes(".."))
      errors.push(`bind target ${b.target} must be a plain path under ${JAIL_DIRS.join(", ")}`);
    if (!path.isAbsolute(b.source)) errors.push(`bind source ${b.source} must be absolute`);
    else {
      try {
        if (!lstatSync(b.source).isFile()) errors.push(`bind source ${b.source} is not a regular file`);
      } catch {
        errors.push(`bind source ${b.source} does not exist`);
      }
    }
  }
  if (plan.jailerArgv?.[0] !== plan.jailerBin || plan.jailerArgv.includes("--no-seccomp"))
    errors.push("jailerArgv must start with jailerBin and never pass --no-seccomp");
  return errors;
}

/** Make the bind mounts and /run of the chroot (inside the private mount namespace). */
export function prepareChroot(plan: JailPlan, run = execFileSync): void {
  for (const b of plan.binds) {
    const target = path.join(plan.chrootDir, b.target);
    mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
    writeFileSync(target, "", { flag: "a", mode: 0o600 }); // the mount point
    run("mount", ["--bind", b.source, target]);
    if (b.readOnly) run("mount", ["-o", "remount,bind,ro", target]);
  }
  const runDir = path.join(plan.chrootDir, "run");
  mkdirSync(runDir, { recursive: true, mode: 0o750 });
  chownSync(runDir, plan.uid, plan.gid);
}

function main(planFile: string | undefined): number {
  if (!planFile) {
    process.stderr.write("usage: jailLaunch.js PLAN.json\n");
    return 2;
  }
  const plan = JSON.parse(readFileSync(planFile, "utf8")) as JailPlan;
  const problems = planProblems(plan);
  if (problems.length > 0) {
    process.stderr.write(`jail plan ${planFile} refused:\n  ${problems.join("\n  ")}\n`);
    return 2;
  }
  prepareChroot(plan);
  const [cmd, ...args] = plan.jailerArgv;
  const r = spawnSync(cmd as string, args, {
    stdio: "inherit",
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
  });
  if (r.error) process.stderr.write(`cannot run ${cmd}: ${r.error.message}\n`);
  return r.status ?? 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exit(main(process.argv[2]));
