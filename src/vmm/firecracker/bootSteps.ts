/** The Firecracker boot as named steps; each registers what undoes it. */
import { existsSync } from "node:fs";
import { mkdir, open, rm } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { BootSpec } from "../driver.js";
import { isPidAlive, killAndWait, spawnDetached } from "../process.js";
import type { Step } from "../steps.js";
import { assertSocketPath, firecrackerArgv } from "./argv.js";
import {
  bootSourceBody,
  driveBody,
  loggerBody,
  machineConfigBody,
  metricsBody,
  NET_IFACE_ID,
  networkBody,
  vsockBody,
} from "./bodies.js";
import type { BootContext, BootStepSettings } from "./context.js";
import { linkDrives, unlinkDrives } from "./direct.js";
import { jailSpawnStep } from "./jailSteps.js";
import { loadSnapshotStep } from "./snapshotSteps.js";
import { assertRestoreVersion } from "./version.js";

export type { BootContext, BootStepSettings };

type Ctx = BootContext;

/** Firecracker opens its log path; this one reopens its own stderr (a pipe to the log writer, or vmm.log). */
export const STDERR = "/proc/self/fd/2";

/** The user to hand the API socket to: the sudo caller when the daemon runs as root. */
export function sudoOwner(env: NodeJS.ProcessEnv, uid: number): { uid: number; gid: number } | null {
  if (uid !== 0) return null;
  const u = Number(env.SUDO_UID);
  const g = Number(env.SUDO_GID);
  if (!env.SUDO_UID || !env.SUDO_GID || !Number.isInteger(u) || !Number.isInteger(g)) return null;
  return { uid: u, gid: g };
}

/** Create the file if missing (Firecracker opens logger/metrics paths, it does not create them). */
async function touch(p: string): Promise<void> {
  await (await open(p, "a")).close();
}

const spawnStep: Step<Ctx> = {
  name: "spawn",
  async run(ctx, onCleanup) {
    const { paths, spec, settings } = ctx;
    assertSocketPath(paths.apiSock);
    assertSocketPath(paths.vsock);
    const argv = firecrackerArgv(settings.firecrackerBin, paths.apiSock, spec.id);
    const version = await settings.checkVersion(settings.firecrackerBin);
    if (spec.restore) assertRestoreVersion(settings.firecrackerBin, version);
    await mkdir(spec.vmDir, { recursive: true });
    if (existsSync(paths.apiSock)) {
      if (await ctx.client.ping()) {
        throw new BangerError(ErrorCodes.CONFLICT, `a VMM already answers on ${paths.apiSock}`);
      }
      await rm(paths.apiSock, { force: true });
    }
    await linkDrives(spec);
    onCleanup(() => unlinkDrives(spec.vmDir));
    const { consoleLog, vmmLog } = spec;
    const logs = await settings.logs.open({ consoleLog, vmmLog, identity: null });
    const output = { stdout: logs.console, stderr: logs.vmm };
    // the VM directory as working directory: the drives' relative links resolve there (direct.ts)
    const pid = await spawnDetached(argv, { output, cwd: spec.vmDir }).finally(() => logs.close());
    ctx.pid = pid;
    onCleanup(async () => {
      await killAndWait(pid);
      await rm(paths.apiSock, { force: true });
    });
  },
};

const waitApiStep: Step<Ctx> = {
  name: "wait-api",
  async run(ctx) {
    const { paths, spec, settings } = ctx;
    const deadline = Date.now() + settings.apiTimeoutMs;
    for (;;) {
      if (ctx.pid === null || !isPidAlive(ctx.pid)) {
        throw new BangerError(
          ErrorCodes.VMM,
          `firecracker (pid ${ctx.pid}) exited before its API socket ${paths.apiSock} appeared; see the VMM log ${spec.vmmLog} (its stderr) and the console log ${spec.consoleLog}`,
        );
      }
      if (
        existsSync(paths.apiSock) &&
        (await ctx.client.ping(Math.min(1000, Math.max(100, deadline - Date.now()))))
      )
        break;
      if (Date.now() >= deadline) {
        throw new BangerError(
          ErrorCodes.TIMEOUT,
          `the API socket ${paths.apiSock} never appeared (waited ${settings.apiTimeoutMs} ms for firecracker pid ${ctx.pid}); see the console log ${spec.consoleLog}`,
        );
      }
      await sleep(settings.pollMs);
    }
    const owner = sudoOwner(settings.env, settings.getuid());
    if (owner) settings.chown(paths.apiSock, owner.uid, owner.gid);
  },
};

const loggerStep: Step<Ctx> = {
  name: "logger",
  async run(ctx) {
    // Not jailed, Firecracker's stderr is the VMM log stream (see spawn): it logs there too.
    if (ctx.settings.jail) await touch(ctx.spec.vmmLog);
    await ctx.client.put("/logger", loggerBody(ctx.settings.jail ? ctx.api.spec.vmmLog : STDERR));
  },
};

const metricsStep: Step<Ctx> = {
  name: "metrics",
  async run(ctx) {
    await touch(ctx.paths.metrics);
    await ctx.client.put("/metrics", metricsBody(ctx.api.paths.metrics));
  },
};

const machineConfigStep: Step<Ctx> = {
  name: "machine-config",
  async run(ctx) {
    await ctx.client.put("/machine-config", machineConfigBody(ctx.api.spec));
  },
};

const bootSourceStep: Step<Ctx> = {
  name: "boot-source",
  async run(ctx) {
    await ctx.client.put("/boot-source", bootSourceBody(ctx.api.spec));
  },
};

const drivesStep: Step<Ctx> = {
  name: "drives",
  async run(ctx) {
    const bodies = ctx.api.spec.drives.map(driveBody); // validate every id before sending any
    for (const body of bodies) await ctx.client.put(`/drives/${body.drive_id}`, body);
  },
};

const networkStep: Step<Ctx> = {
  name: "network",
  async run(ctx) {
    if (!ctx.spec.net) return;
    await ctx.client.put(`/network-interfaces/${NET_IFACE_ID}`, networkBody(ctx.spec.net));
  },
};

const vsockStep: Step<Ctx> = {
  name: "vsock",
  async run(ctx, onCleanup) {
    const body = vsockBody(ctx.spec.cid, ctx.api.paths.vsock);
    await rm(ctx.paths.vsock, { force: true }); // Firecracker binds it: a stale one fails the PUT
    onCleanup(() => rm(ctx.paths.vsock, { force: true }));
    await ctx.client.put("/vsock", body);
  },
};

const startStep: Step<Ctx> = {
  name: "start",
  async run(ctx) {
    await ctx.client.action("InstanceStart");
  },
};

/**
 * The steps for this spec, in order ("network" only when the VM has a NIC; a
 * jailed spawn with a jailer). A restore configures nothing but the logger and
 * metrics before loading the saved state (Firecracker refuses the load after
 * any other resource).
 */
export function bootStepsFor(spec: BootSpec, jailed = false): Step<Ctx>[] {
  const head = [jailed ? jailSpawnStep : spawnStep, waitApiStep, loggerStep, metricsStep];
  if (spec.restore) return [...head, loadSnapshotStep];
  return [
    ...head,
    machineConfigStep,
    bootSourceStep,
    drivesStep,
    ...(spec.net ? [networkStep] : []),
    vsockStep,
    startStep,
  ];
}
