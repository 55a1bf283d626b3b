/** VmmDriver for Firecracker: configure-over-API boot, Ctrl+Alt+Del stop, /proc liveness. */
import { chownSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import type {
  BootObserver,
  BootResult,
  BootSpec,
  DriverFeatures,
  StopOptions,
  VmmDriver,
  VmmHandle,
  VmmSnapshots,
} from "../driver.js";
import { PlainLogs, type VmLogs } from "../logger/vmLogs.js";
import { isProcessAlive, killAndWait, waitForExit } from "../process.js";
import { runSteps } from "../steps.js";
import { FirecrackerApiClient } from "./ApiClient.js";
import { firecrackerPaths } from "./argv.js";
import { type BootContext, type BootStepSettings, bootStepsFor } from "./bootSteps.js";
import type { JailSettings } from "./context.js";
import { absoluteSpec, directSpec, unlinkDrives } from "./direct.js";
import { cgroupVersionFromMounts, jailedPaths, jailedSpec, jailerBeside, type UidRange } from "./jail.js";
import { execArgv, launchAsRoot, readProcMounts, uidsInUse } from "./jailHost.js";
import { jailedVmDir, removeJail } from "./jailSteps.js";
import { checkKernelImage } from "./kernelImage.js";
import { checkRestore, FirecrackerSnapshots } from "./snapshots.js";
import { checkFirecrackerVersion } from "./version.js";

export interface FirecrackerDriverOptions {
  /** The firecracker binary (config `firecracker_bin`). Default "firecracker" (looked up on PATH). */
  firecrackerBin?: string;
  /** How long the API socket may take to answer after spawn. Default 5000 ms. */
  apiTimeoutMs?: number;
  /** Per-request deadline on the API. Default 30 000 ms. */
  requestTimeoutMs?: number;
  pollMs?: number;
  /** Ambient state, with real defaults: used to hand the API socket to $SUDO_UID when running as root. */
  env?: NodeJS.ProcessEnv;
  getuid?: () => number;
  chown?: (path: string, uid: number, gid: number) => void;
  /** Console and VMM log writers (not jailed). Default: plain, uncapped files (the daemon passes RotatingLogs). */
  logs?: VmLogs;
  /** The jailer, used when a `jailer` sits beside the firecracker binary (or `jailerBin` is given). */
  jail?: JailOptions;
}

export interface JailOptions {
  /** uids (and gids) for jails: config firecracker.jailer_uid_range. Default 900000-965535. */
  uidRange?: UidRange;
  /** Default: the jailer beside the firecracker binary, if any. */
  jailerBin?: string | null;
  /** Default: detected from /proc/mounts. */
  cgroupVersion?: 1 | 2;
  /** Default: run the launcher directly, which needs a root daemon. */
  launch?: JailSettings["launch"];
  exec?: JailSettings["exec"];
}

export const DEFAULT_JAILER_UID_RANGE: UidRange = { first: 900000, last: 965535 };

export class FirecrackerDriver implements VmmDriver {
  readonly name = "firecracker" as const;
  readonly acceleration = "kvm" as const;
  readonly features: DriverFeatures = { snapshots: true, agentChannel: "vsock" };
  readonly snapshots: VmmSnapshots;
  private readonly settings: BootStepSettings;
  private readonly requestTimeoutMs: number;
  /** Versions of binaries that passed, keyed by path and mtime (an upgrade in place is checked again). */
  private readonly versionOk = new Map<string, string>();

  constructor(opts: FirecrackerDriverOptions = {}) {
    this.settings = {
      firecrackerBin: opts.firecrackerBin ?? "firecracker",
      logs: opts.logs ?? new PlainLogs(),
      jail: jailSettings(opts),
      checkVersion: (bin) => this.checkVersion(bin),
      apiTimeoutMs: opts.apiTimeoutMs ?? 5000,
      pollMs: opts.pollMs ?? 10,
      env: opts.env ?? process.env,
      getuid: opts.getuid ?? (() => process.getuid?.() ?? -1),
      chown: opts.chown ?? chownSync,
    };
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.snapshots = new FirecrackerSnapshots(
      this.requestTimeoutMs,
      async () => `Firecracker v${await this.checkVersion(this.settings.firecrackerBin)}`,
    );
  }

  private async checkVersion(bin: string): Promise<string> {
    let key = bin;
    try {
      key = `${bin}@${statSync(bin).mtimeMs}`;
    } catch {
      /* looked up on PATH: checked each time the daemon starts */
    }
    const known = this.versionOk.get(key);
    if (known) return known;
    const version = await checkFirecrackerVersion(bin);
    this.versionOk.set(key, version);
    return version;
  }

  /** A cold boot, or with `spec.restore` a restore of saved state (snapshots.ts, snapshotSteps.ts). */
  async boot(given: BootSpec, observer?: BootObserver): Promise<BootResult> {
    const spec = absoluteSpec(given);
    if (spec.restore) await checkRestore(spec);
    else await checkKernelImage(spec.kernelPath);
    const jailed = this.settings.jail !== null;
    const direct = firecrackerPaths(spec.vmDir);
    const j = jailed ? jailedPaths(spec, this.settings.firecrackerBin, direct.metrics) : null;
    const paths = j ? j.host : direct;
    const ctx: BootContext = {
      spec,
      paths,
      api: j ? { spec: jailedSpec(spec), paths: j.api } : { spec: directSpec(spec), paths },
      client: new FirecrackerApiClient(paths.apiSock, { timeoutMs: this.requestTimeoutMs }),
      settings: this.settings,
      pid: null,
    };
    const { timings } = await runSteps(bootStepsFor(spec, jailed), ctx, {
      onStart: (name) => observer?.onStepStart?.(name),
      onDone: (t) => observer?.onStepDone?.(t),
      onCleanupError: (step, err) => observer?.onCleanupError?.(step, err),
      phase: "boot-fc",
      hintOnFailure: () => `console log: ${spec.consoleLog}; VMM log: ${spec.vmmLog}`,
    });
    const handle: VmmHandle = {
      driver: "firecracker",
      pid: ctx.pid as number,
      controlSocket: paths.apiSock,
      agentSocket: paths.vsock,
      acceleration: "kvm",
    };
    return { handle, timings };
  }

  /**
   * Ctrl+Alt+Del (the guest reboots with reboot=k and Firecracker exits), wait
   * up to timeoutMs, then SIGKILL; a paused VM is killed at once. Removes the
   * API and vsock sockets, the drive links or the jail. Safe on a VM that is
   * already gone.
   */
  async stop(handle: VmmHandle, opts: StopOptions = {}): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const expectArg = expectedArg(handle);
    if (this.isAlive(handle)) {
      const client = new FirecrackerApiClient(handle.controlSocket);
      const paused = (await client.describeInstance(1000).catch(() => null))?.state === "Paused";
      // A paused guest cannot react to Ctrl+Alt+Del, and resuming it would let it write to its
      // disks after its state was saved (a suspend): a paused VM is killed at once.
      if (!paused) {
        await client.action("SendCtrlAltDel", Math.min(timeoutMs, 2000)).catch(() => {
          /* API gone or guest not started: fall through to waiting and killing */
        });
      }
      if (paused || !(await waitForExit(handle.pid, timeoutMs, { expectArg }))) {
        await killAndWait(handle.pid, { expectArg });
      }
    }
    await rm(handle.controlSocket, { force: true });
    await rm(handle.agentSocket, { force: true });
    const vmDir = jailedVmDir(handle.controlSocket);
    if (vmDir) await removeJail(vmDir, this.settings.jail?.exec ?? execArgv);
    else if (path.basename(handle.controlSocket) === "fc.sock")
      await unlinkDrives(path.dirname(handle.controlSocket));
  }

  isAlive(handle: VmmHandle): boolean {
    return isProcessAlive(handle.pid, expectedArg(handle));
  }
}

/**
 * The argv element that proves a pid is this VM's Firecracker: the API socket
 * path, or for a jailed one (whose socket path is inside the chroot) the
 * `--id=<id>` the jailer passes.
 */
function expectedArg(handle: VmmHandle): string {
  if (!jailedVmDir(handle.controlSocket)) return handle.controlSocket;
  const id = path.basename(path.dirname(path.dirname(path.dirname(handle.controlSocket))));
  return `--id=${id}`;
}

/**
 * Jail settings when a jailer is configured, or sits beside the firecracker
 * binary and the daemon is root (the jailer mounts, chroots and changes uid);
 * else null: Firecracker then runs directly as the daemon's user, with its
 * own seccomp filters (never --no-seccomp).
 */
function jailSettings(opts: FirecrackerDriverOptions): JailSettings | null {
  const bin = opts.firecrackerBin ?? "firecracker";
  const getuid = opts.getuid ?? (() => process.getuid?.() ?? -1);
  const configured = opts.jail?.jailerBin;
  const jailerBin = configured === undefined ? (getuid() === 0 ? jailerBeside(bin) : null) : configured;
  if (!jailerBin) return null;
  const uidRange = opts.jail?.uidRange ?? DEFAULT_JAILER_UID_RANGE;
  return {
    jailerBin,
    uidRange,
    cgroupVersion: opts.jail?.cgroupVersion ?? cgroupVersionFromMounts(readProcMounts()),
    exec: opts.jail?.exec ?? execArgv,
    launch: opts.jail?.launch ?? launchAsRoot(getuid),
    uidsInUse: () => uidsInUse(uidRange),
  };
}
