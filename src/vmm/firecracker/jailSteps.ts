/** The "spawn" step when Firecracker runs through its jailer, and the teardown of a jail. */
import { existsSync, readFileSync } from "node:fs";
import { mkdir, open, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import { killAndWait } from "../process.js";
import type { Step } from "../steps.js";
import { assertSocketPath, firecrackerArgv } from "./argv.js";
import type { BootContext, JailSettings } from "./context.js";
import {
  aclArgv,
  aclBinds,
  type Bind,
  getfaclArgv,
  JAIL_API_SOCK,
  type JailPlan,
  jailPlan,
  onlyBaseAcl,
  pickJailUid,
  savedStateFileOf,
} from "./jail.js";
import { assertRestoreVersion } from "./version.js";

/** Where a VM's jails live: `<vmDir>/jail` (the jailer's --chroot-base-dir; as in jailedPaths()), and its plan file. */
export const jailBase = (vmDir: string): string => path.join(vmDir, "jail");
export const planFileOf = (vmDir: string): string => path.join(vmDir, "jail.json");

/** The VM directory of a jailed handle's API socket (`<vmDir>/jail/<exec>/<id>/root/run/fc.sock`), or null. */
export function jailedVmDir(controlSocket: string): string | null {
  if (!controlSocket.endsWith(`/root${JAIL_API_SOCK}`)) return null;
  let d = controlSocket;
  for (let i = 0; i < 6; i++) d = path.dirname(d);
  return d;
}

async function touch(p: string, mode = 0o644): Promise<void> {
  await (await open(p, "a", mode)).close();
}

async function waitForPidFile(file: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pid = Number((await readFile(file, "utf8").catch(() => "")).trim());
    if (Number.isInteger(pid) && pid > 0) return pid;
    if (Date.now() >= deadline) {
      throw new BangerError(ErrorCodes.TIMEOUT, `the jailer wrote no pid to ${file} within ${timeoutMs} ms`);
    }
    await sleep(10);
  }
}

/** Remove the jail uid's ACL entry; drop the mask it leaves when no other named entry remains. */
async function takeBackAcl(bind: Bind, uid: number, exec: JailSettings["exec"]): Promise<void> {
  await exec(aclArgv(bind, uid, true));
  if (onlyBaseAcl(await exec(getfaclArgv(bind.source)))) await exec(["setfacl", "-b", "--", bind.source]);
}

/** Undo a jail: take back the ACL entries, remove the chroot and the plan. Safe to repeat. */
export async function removeJail(vmDir: string, exec: JailSettings["exec"]): Promise<void> {
  const planFile = planFileOf(vmDir);
  if (existsSync(planFile)) {
    const plan = JSON.parse(readFileSync(planFile, "utf8")) as JailPlan;
    for (const b of aclBinds(plan.binds)) if (existsSync(b.source)) await takeBackAcl(b, plan.uid, exec);
  }
  // Only empty mount points are here: the bind mounts live in the jail's namespace, never in ours.
  await rm(jailBase(vmDir), { recursive: true, force: true });
  await rm(planFile, { force: true });
}

function planFor(ctx: BootContext, jail: JailSettings): JailPlan {
  const { spec, settings } = ctx;
  return jailPlan(spec, {
    jailerBin: jail.jailerBin,
    firecrackerBin: settings.firecrackerBin,
    uid: pickJailUid(spec.id, jail.uidRange, jail.uidsInUse()),
    cgroupVersion: jail.cgroupVersion,
    chrootBase: jailBase(spec.vmDir),
    metricsPath: ctx.paths.metrics,
  });
}

export const jailSpawnStep: Step<BootContext> = {
  name: "spawn",
  async run(ctx, onCleanup) {
    const { spec, settings } = ctx;
    const jail = settings.jail as JailSettings;
    if (!path.isAbsolute(settings.firecrackerBin)) {
      throw new BangerError(ErrorCodes.INVALID_ARGUMENT, "the jailer needs an absolute firecracker path");
    }
    firecrackerArgv(settings.firecrackerBin, ctx.paths.apiSock, spec.id); // checks the id like --id
    assertSocketPath(ctx.paths.apiSock);
    assertSocketPath(ctx.paths.vsock);
    const version = await settings.checkVersion(settings.firecrackerBin);
    if (spec.restore) assertRestoreVersion(settings.firecrackerBin, version);
    if (existsSync(ctx.paths.apiSock) && (await ctx.client.ping())) {
      throw new BangerError(ErrorCodes.CONFLICT, `a VMM already answers on ${ctx.paths.apiSock}`);
    }
    await mkdir(spec.vmDir, { recursive: true });
    // Jailed, the console and log are plain files (the launch may go through the helper: no fds pass).
    await mkdir(path.dirname(spec.vmmLog), { recursive: true });
    await touch(spec.vmmLog);
    await touch(ctx.paths.metrics);
    // bound writable for PUT /snapshot/create; they hold guest secrets
    await touch(savedStateFileOf(spec.vmDir), 0o600);
    await touch(spec.memoryFile, 0o600);
    await removeJail(spec.vmDir, jail.exec); // what a crashed boot left (its VMM no longer answers)
    const plan = planFor(ctx, jail);
    onCleanup(() => removeJail(spec.vmDir, jail.exec));
    await writeFile(planFileOf(spec.vmDir), JSON.stringify(plan, null, 2), { mode: 0o600 });
    for (const b of aclBinds(plan.binds)) await jail.exec(aclArgv(b, plan.uid));
    await jail.launch(plan, planFileOf(spec.vmDir), spec.consoleLog);
    const pid = await waitForPidFile(plan.pidFile, settings.apiTimeoutMs);
    ctx.pid = pid;
    onCleanup(() => killAndWait(pid, { expectArg: `--id=${spec.id}` }));
  },
};
