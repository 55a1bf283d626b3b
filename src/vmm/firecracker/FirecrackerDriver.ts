/** VmmDriver for Firecracker: configure-over-API boot, Ctrl+Alt+Del stop, /proc liveness. */
import { chownSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import type {
  BootObserver,
  BootResult,
  BootSpec,
  DriverFeatures,
  StopOptions,
  VmmDriver,
  VmmHandle,
} from "../driver.js";
import { isProcessAlive, killAndWait, waitForExit } from "../process.js";
import { runSteps } from "../steps.js";
import { FirecrackerApiClient } from "./ApiClient.js";
import { firecrackerPaths } from "./argv.js";
import { type BootContext, type BootStepSettings, bootStepsFor } from "./bootSteps.js";
import { checkKernelImage } from "./kernelImage.js";
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
}

export class FirecrackerDriver implements VmmDriver {
  readonly name = "firecracker" as const;
  readonly acceleration = "kvm" as const;
  readonly features: DriverFeatures = { snapshots: false, agentChannel: "vsock" };
  private readonly settings: BootStepSettings;
  private readonly requestTimeoutMs: number;
  /** Binaries whose version passed, keyed by path and mtime (an upgrade in place is checked again). */
  private readonly versionOk = new Set<string>();

  constructor(opts: FirecrackerDriverOptions = {}) {
    this.settings = {
      firecrackerBin: opts.firecrackerBin ?? "firecracker",
      checkVersion: (bin) => this.checkVersion(bin),
      apiTimeoutMs: opts.apiTimeoutMs ?? 5000,
      pollMs: opts.pollMs ?? 10,
      env: opts.env ?? process.env,
      getuid: opts.getuid ?? (() => process.getuid?.() ?? -1),
      chown: opts.chown ?? chownSync,
    };
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
  }

  private async checkVersion(bin: string): Promise<void> {
    let key = bin;
    try {
      key = `${bin}@${statSync(bin).mtimeMs}`;
    } catch {
      /* looked up on PATH: checked each time the daemon starts */
    }
    if (this.versionOk.has(key)) return;
    await checkFirecrackerVersion(bin);
    this.versionOk.add(key);
  }

  async boot(spec: BootSpec, observer?: BootObserver): Promise<BootResult> {
    await checkKernelImage(spec.kernelPath);
    const paths = firecrackerPaths(spec.vmDir);
    const ctx: BootContext = {
      spec,
      paths,
      client: new FirecrackerApiClient(paths.apiSock, { timeoutMs: this.requestTimeoutMs }),
      settings: this.settings,
      pid: null,
    };
    const { timings } = await runSteps(bootStepsFor(spec), ctx, {
      onStart: (name) => observer?.onStepStart?.(name),
      onDone: (t) => observer?.onStepDone?.(t),
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
   * up to timeoutMs, then SIGKILL. Removes the API and vsock sockets. Safe on
   * a VM that is already gone.
   */
  async stop(handle: VmmHandle, opts: StopOptions = {}): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const expectArg = handle.controlSocket;
    if (this.isAlive(handle)) {
      const client = new FirecrackerApiClient(handle.controlSocket);
      await client.action("SendCtrlAltDel", Math.min(timeoutMs, 2000)).catch(() => {
        /* API gone or guest not started: fall through to waiting and killing */
      });
      if (!(await waitForExit(handle.pid, timeoutMs, { expectArg }))) {
        await killAndWait(handle.pid, { expectArg });
      }
    }
    await rm(handle.controlSocket, { force: true });
    await rm(handle.agentSocket, { force: true });
  }

  isAlive(handle: VmmHandle): boolean {
    return isProcessAlive(handle.pid, handle.controlSocket);
  }
}
