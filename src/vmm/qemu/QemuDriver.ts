/**
 * The QEMU driver: KVM where /dev/kvm is usable, TCG (software emulation)
 * where not. The daemon starts QEMU itself, confined (see argv.ts, spawn.ts):
 * unprivileged, under QEMU's seccomp sandbox, with every file passed as an fd,
 * in its own session so a VM outlives the daemon; the handle (pid + QMP
 * socket, and the -uuid marker in its command line) finds it again.
 */
import { constants } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import { NodeCommandRunner } from "../../host/node/NodeCommandRunner.js";
import type { CommandRunner } from "../../host/runner.js";
import type {
  Acceleration,
  BootObserver,
  BootResult,
  BootSpec,
  DriverFeatures,
  StopOptions,
  VmmDriver,
  VmmHandle,
  VmmSnapshots,
} from "../driver.js";
import { loggerMarker, PlainLogs, type VmLogs } from "../logger/vmLogs.js";
import { runSteps, type Step } from "../steps.js";
import { detectAcceleration, findExecutable, readHostMhz } from "./accel.js";
import {
  buildQemuLaunch,
  type QemuLaunch,
  type QemuMachine,
  type QemuPaths,
  qemuPaths,
  qmpMarkers,
  vmmOverheadMib,
} from "./argv.js";
import { checkMemoryFile, createMemoryFile, prepareVmmDir } from "./memoryFile.js";
import { loadDeviceState } from "./migration.js";
import {
  findPids,
  isPidAlive,
  killPid,
  type Marker,
  type ProcOps,
  readPidFile,
  realProc,
  waitForExit,
} from "./proc.js";
import { QmpClient } from "./Qmp.js";
import { QemuSnapshots } from "./snapshots.js";
import { type SpawnedVmm, spawnVmm, type VmmIdentity } from "./spawn.js";
import { removeVmFiles, stopQemu } from "./stop.js";
import { checkTunAccess, vmmReadable } from "./vmmAccess.js";

export interface QemuDriverOptions {
  /** Default "qemu-system-x86_64" (looked up on PATH). */
  qemuBin?: string;
  /** Default "pc": it idles far lower than microvm, and banger keeps VMs up. */
  machine?: QemuMachine;
  /**
   * Who QEMU runs as: null for the daemon's own user, else uid/gid (banger-vmm
   * when the daemon is root). Throws PREFLIGHT_FAILED when that user is missing.
   * Default: null.
   */
  identity?: () => VmmIdentity | null;
  /** Run before QEMU's own argv, with the same identity (tests: ["ip", "netns", "exec", NS]). */
  commandPrefix?: readonly string[];
  /** Default: "kvm" when /dev/kvm is readable and writable, else "tcg". */
  accelDetect?: () => Acceleration;
  /** Host CPU MHz for microvm's TSC settings. Default: read from /proc/cpuinfo. */
  hostMhz?: number | (() => number | null);
  /** Finds the QEMU binary. Default: a PATH lookup. */
  which?: (bin: string) => Promise<string | null>;
  /** Process probes (tests replace them). */
  proc?: ProcOps;
  /** How long QEMU may take to initialise and answer on QMP. Default 60 000 ms. */
  spawnTimeoutMs?: number;
  /** Deadline of each QMP connection and command. Default 10 000 ms. */
  qmpTimeoutMs?: number;
  /** How long stop() gives QEMU after `quit` (or SIGTERM) before SIGKILL. Default 3000 ms. */
  quitGraceMs?: number;
  /** Runs fallocate and friends. Default: NodeCommandRunner. */
  runner?: CommandRunner;
  /** Deadline of saving or loading a VM's device state. Default 60 000 ms. */
  migrateTimeoutMs?: number;
  /** Where the console and QEMU's own output go. Default: plain, uncapped files (the daemon passes RotatingLogs). */
  logs?: VmLogs;
}

interface BootCtx {
  spec: BootSpec;
  paths: QemuPaths;
  marker: Marker;
  launch: QemuLaunch;
  identity: VmmIdentity | null;
  vmm: SpawnedVmm | null;
  pid: number;
  loggerPid: number | null;
  onVmmStarted: ((pid: number) => Promise<void>) | undefined;
}

const VMM_LOG_TAIL_LINES = 15;
/** sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH = 107;

async function readable(p: string, mode: number): Promise<boolean> {
  try {
    await fs.access(p, mode);
    return true;
  } catch {
    return false;
  }
}

/** The last lines of a log file ("" when it cannot be read). */
export async function logTail(file: string, lines = VMM_LOG_TAIL_LINES): Promise<string> {
  try {
    const text = await fs.readFile(file, "utf8");
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

function preflightError(message: string, hint?: string): BangerError {
  return new BangerError(ErrorCodes.PREFLIGHT_FAILED, message, hint ? { hint } : {});
}

export class QemuDriver implements VmmDriver {
  readonly name = "qemu" as const;
  readonly acceleration: Acceleration;
  readonly features: DriverFeatures = { snapshots: true, agentChannel: "virtio-serial" };
  readonly snapshots: VmmSnapshots;
  readonly machine: QemuMachine;
  readonly qemuBin: string;
  private readonly identity: () => VmmIdentity | null;
  private readonly commandPrefix: readonly string[];
  private readonly proc: ProcOps;
  private readonly which: (bin: string) => Promise<string | null>;
  private readonly hostMhz: () => number | null;
  private readonly spawnTimeoutMs: number;
  private readonly qmpTimeoutMs: number;
  private readonly quitGraceMs: number;
  private readonly runner: CommandRunner;
  private readonly migrateTimeoutMs: number;
  private readonly logs: VmLogs;

  constructor(opts: QemuDriverOptions = {}) {
    this.qemuBin = opts.qemuBin ?? "qemu-system-x86_64";
    this.machine = opts.machine ?? "pc";
    this.identity = opts.identity ?? (() => null);
    this.commandPrefix = opts.commandPrefix ?? [];
    this.acceleration = (opts.accelDetect ?? (() => detectAcceleration()))();
    const mhz = opts.hostMhz;
    this.hostMhz = typeof mhz === "number" ? () => mhz : (mhz ?? (() => readHostMhz()));
    this.which = opts.which ?? ((bin) => findExecutable(bin));
    this.proc = opts.proc ?? realProc;
    this.spawnTimeoutMs = opts.spawnTimeoutMs ?? 60_000;
    this.qmpTimeoutMs = opts.qmpTimeoutMs ?? 10_000;
    this.quitGraceMs = opts.quitGraceMs ?? 3000;
    this.logs = opts.logs ?? new PlainLogs();
    this.runner = opts.runner ?? new NodeCommandRunner();
    this.migrateTimeoutMs = opts.migrateTimeoutMs ?? 60_000;
    this.snapshots = new QemuSnapshots({
      qemuBin: this.qemuBin,
      runner: this.runner,
      identity: this.identity,
      qmpTimeoutMs: this.qmpTimeoutMs,
      migrateTimeoutMs: this.migrateTimeoutMs,
      isAlive: (h) => this.isAlive(h),
      launchFor: (spec) => this.launchFor(spec),
    });
  }

  /** The argv this driver runs for a spec (for logs, `--dry-run` and tests). */
  argvFor(spec: BootSpec): string[] {
    return this.launchFor(spec).argv;
  }

  private launchFor(spec: BootSpec): QemuLaunch {
    const mhz = this.machine === "microvm" ? this.hostMhz() : null;
    return buildQemuLaunch(spec, {
      qemuBin: this.qemuBin,
      machine: this.machine,
      acceleration: this.acceleration,
      hostMhz: mhz,
    });
  }

  vmmOverheadMib(): number {
    return vmmOverheadMib(this.acceleration);
  }

  async boot(spec: BootSpec, observer: BootObserver = {}): Promise<BootResult> {
    const paths = qemuPaths(spec.vmDir);
    const ctx: BootCtx = {
      spec,
      paths,
      marker: qmpMarkers(paths.qmpSocket),
      launch: { argv: [], fds: [], vmmDirFd: -1, incomingFd: null },
      identity: null,
      vmm: null,
      pid: 0,
      loggerPid: null,
      onVmmStarted: observer.onVmmStarted?.bind(observer),
    };
    const steps: Step<BootCtx>[] = [
      { name: "preflight", run: (c, onCleanup) => this.preflight(c, onCleanup) },
      { name: "spawn", run: (c, onCleanup) => this.spawn(c, onCleanup) },
      { name: "qmp-connect", run: (c) => this.resume(c) },
    ];
    const { timings } = await runSteps(steps, ctx, {
      ...(observer.onStepStart ? { onStart: observer.onStepStart } : {}),
      ...(observer.onStepDone ? { onDone: observer.onStepDone } : {}),
      ...(observer.onCleanupError ? { onCleanupError: observer.onCleanupError.bind(observer) } : {}),
      phase: "boot",
      hintOnFailure: () => `console log: ${spec.consoleLog}; vmm log: ${spec.vmmLog}`,
    });
    const handle: VmmHandle = {
      driver: "qemu",
      pid: ctx.pid,
      controlSocket: paths.qmpSocket,
      agentSocket: paths.agentSocket,
      acceleration: this.acceleration,
    };
    return { handle, timings };
  }

  private async checkInputs(spec: BootSpec): Promise<void> {
    if (!(await this.which(this.qemuBin))) {
      throw preflightError(
        `the QEMU binary "${this.qemuBin}" was not found`,
        "install it: apt-get install qemu-system-x86 (or point qemuBin at it)",
      );
    }
    if (!(await readable(spec.kernelPath, constants.R_OK))) {
      throw preflightError(`the kernel ${spec.kernelPath} does not exist or is not readable`);
    }
    if (spec.initrdPath && !(await readable(spec.initrdPath, constants.R_OK))) {
      throw preflightError(`the initrd ${spec.initrdPath} does not exist or is not readable`);
    }
    for (const d of spec.drives) {
      const mode = d.readOnly ? constants.R_OK : constants.R_OK | constants.W_OK;
      if (!(await readable(d.path, mode))) {
        const how = d.readOnly ? "readable" : "readable and writable";
        throw preflightError(`drive ${d.id}: ${d.path} does not exist or is not ${how}`);
      }
    }
  }

  private async preflight(c: BootCtx, onCleanup: (fn: () => Promise<void>) => void): Promise<void> {
    const { spec, paths } = c;
    await this.checkInputs(spec);
    const longest = [paths.qmpSocket, paths.agentSocket].find((p) => Buffer.byteLength(p) > MAX_SOCKET_PATH);
    if (longest) {
      throw preflightError(
        `the socket path ${longest} is longer than ${MAX_SOCKET_PATH} bytes`,
        "use a shorter VM directory",
      );
    }
    c.identity = this.identity();
    if (spec.net) await checkTunAccess(c.identity);
    this.launchFor(spec); // a spec QEMU cannot take fails before anything is touched
    const oldPid = await readPidFile(paths.pidFile);
    if (oldPid !== null && isPidAlive(oldPid, c.marker, this.proc)) {
      throw new BangerError(
        ErrorCodes.CONFLICT,
        `a QEMU process (pid ${oldPid}) already runs for ${spec.vmDir}`,
        { hint: "stop the VM first" },
      );
    }
    await fs.mkdir(spec.vmDir, { recursive: true });
    const restoring = spec.restore !== undefined;
    // A restore keeps the saved RAM: a failed restore leaves the VM's state as it was.
    await removeVmFiles(paths, true);
    onCleanup(() => removeVmFiles(paths, restoring));
    await prepareVmmDir(paths.vmmDir, c.identity);
    if (restoring) await checkMemoryFile(spec.memoryFile, spec.memoryMib, c.identity);
    else await createMemoryFile(spec.memoryFile, spec.memoryMib, c.identity, this.runner);
    const kernelPath = await vmmReadable(spec.kernelPath, path.join(spec.vmDir, "kernel.vmm"), c.identity);
    const initrdPath =
      spec.initrdPath &&
      (await vmmReadable(spec.initrdPath, path.join(spec.vmDir, "initrd.vmm"), c.identity));
    c.launch = this.launchFor({ ...spec, kernelPath, initrdPath });
  }

  private async spawn(c: BootCtx, onCleanup: (fn: () => Promise<void>) => void): Promise<void> {
    const launch = { ...c.launch, argv: [...this.commandPrefix, ...c.launch.argv] };
    const { consoleLog, vmmLog } = c.spec;
    const logs = await this.logs.open({ consoleLog, vmmLog, identity: c.identity });
    c.loggerPid = logs.loggerPid;
    const vmm = await spawnVmm(launch, { logs, identity: c.identity }).finally(() => logs.close());
    c.vmm = vmm;
    c.pid = vmm.pid;
    onCleanup(async () => {
      killPid(vmm.pid, c.marker, "SIGKILL", this.proc);
      await waitForExit(vmm.pid, c.marker, 5000, { proc: this.proc });
    });
    await fs.writeFile(c.paths.pidFile, `${vmm.pid}\n`);
  }

  /** The VMM's exit as an error (with its log's last lines), or null while it runs. */
  private async exitError(c: BootCtx): Promise<BangerError | null> {
    const exit = c.vmm?.exit() ?? null;
    // The child's own exit event decides: /proc/PID/cmdline reads empty while `ip netns exec`
    // (a command prefix) is replaced by QEMU, which must not count as a death.
    if (exit === null && (c.vmm !== null || isPidAlive(c.pid, c.marker, this.proc))) return null;
    const how = exit ? (exit.signal ?? `exit code ${exit.code}`) : "exited";
    // The log writer ends once it has written all QEMU said.
    if (c.loggerPid) await waitForExit(c.loggerPid, loggerMarker(path.dirname(c.spec.vmmLog)), 2000);
    const tail = await logTail(c.spec.vmmLog);
    return new BangerError(
      ErrorCodes.VMM,
      `QEMU (pid ${c.pid}) failed to start (${how})${tail ? `; the vmm log ends with:\n${tail}` : ""}`,
    );
  }

  /** Connect to QMP while watching the VMM, hand the paused VMM to onVmmStarted, then `cont`. */
  private async resume(c: BootCtx): Promise<void> {
    const deadline = Date.now() + this.spawnTimeoutMs;
    let qmp: QmpClient | undefined;
    while (!qmp) {
      const dead = await this.exitError(c);
      if (dead) throw dead;
      const ms = Math.min(this.qmpTimeoutMs, Math.max(1, deadline - Date.now()));
      const opts = { timeoutMs: ms, commandTimeoutMs: this.qmpTimeoutMs, retry: false };
      qmp = await QmpClient.connect(c.paths.qmpSocket, opts).catch(async (e: unknown) => {
        if (Date.now() >= deadline) throw (await this.exitError(c)) ?? e;
        await new Promise((r) => setTimeout(r, 50));
        return undefined;
      });
    }
    try {
      if (c.launch.incomingFd !== null)
        await loadDeviceState(qmp, c.launch.incomingFd, this.migrateTimeoutMs);
      if (c.onVmmStarted) await c.onVmmStarted(c.pid);
      await qmp.execute("cont");
      const st = await qmp.execute<{ status?: string; running?: boolean }>("query-status");
      if (!st?.running || st.status !== "running") {
        throw new BangerError(
          ErrorCodes.VMM,
          `QEMU reports status "${st?.status ?? "unknown"}", not "running"`,
        );
      }
    } finally {
      qmp.close();
    }
  }

  /** Graceful stop (Ctrl-Alt-Del, then `quit`, then SIGKILL); removes the VM's files. See stop.ts. */
  stop(handle: VmmHandle, opts: StopOptions = {}): Promise<void> {
    return stopQemu(handle, opts, {
      proc: this.proc,
      qmpTimeoutMs: this.qmpTimeoutMs,
      quitGraceMs: this.quitGraceMs,
    });
  }

  /** Kill any QEMU of `vmDir` no handle records; its files go (the RAM file only unless keepMemory: a saved state). */
  async reapStray(vmDir: string, opts: { keepMemory?: boolean } = {}): Promise<number[]> {
    const paths = qemuPaths(vmDir);
    const marker = qmpMarkers(paths.qmpSocket);
    const pids = new Set(findPids(marker, this.proc));
    const fromFile = await readPidFile(paths.pidFile);
    if (fromFile !== null && isPidAlive(fromFile, marker, this.proc)) pids.add(fromFile);
    for (const pid of pids) {
      killPid(pid, marker, "SIGKILL", this.proc);
      if (!(await waitForExit(pid, marker, 5000, { proc: this.proc }))) {
        throw new BangerError(
          ErrorCodes.VMM,
          `stray QEMU (pid ${pid}) of ${vmDir} is still alive after SIGKILL`,
        );
      }
    }
    await removeVmFiles(paths, opts.keepMemory === true);
    return [...pids];
  }

  isAlive(handle: VmmHandle): boolean {
    return handle.driver === "qemu" && isPidAlive(handle.pid, qmpMarkers(handle.controlSocket), this.proc);
  }
}
