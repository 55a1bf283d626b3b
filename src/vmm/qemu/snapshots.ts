/**
 * QEMU's VmmSnapshots: pause and resume over QMP, and the device state saved
 * through the migration stream (migration.ts). Guest RAM already lives in the
 * VM's memory file; a fork's copy of it is made while the source is paused.
 */
import { BangerError, ErrorCodes } from "../../errors/index.js";
import { diskArgv } from "../../host/disk.js";
import type { CommandRunner } from "../../host/runner.js";
import type { BootSpec, SavedState, VmmHandle, VmmSnapshots } from "../driver.js";
import { MIGRATION_SOCKET, type QemuLaunch, qemuPaths } from "./argv.js";
import { syncFile } from "./memoryFile.js";
import { saveDeviceState } from "./migration.js";
import { QmpClient } from "./Qmp.js";
import type { VmmIdentity } from "./spawn.js";

export interface QemuSnapshotDeps {
  qemuBin: string;
  runner: CommandRunner;
  identity: () => VmmIdentity | null;
  qmpTimeoutMs: number;
  migrateTimeoutMs: number;
  isAlive(handle: VmmHandle): boolean;
  launchFor(spec: BootSpec): QemuLaunch;
}

export class QemuSnapshots implements VmmSnapshots {
  private versionCache: Promise<string> | undefined;

  constructor(private readonly d: QemuSnapshotDeps) {}

  pause(handle: VmmHandle): Promise<void> {
    return this.withQmp(handle, async (q) => void (await q.execute("stop")));
  }

  resume(handle: VmmHandle): Promise<void> {
    return this.withQmp(handle, async (q) => void (await q.execute("cont")));
  }

  /** `qemu-system-x86_64 --version`'s first line (a saved state loads only into the same QEMU). */
  vmmVersion(): Promise<string> {
    this.versionCache ??= this.d.runner
      .run([this.d.qemuBin, "--version"])
      .then((r) => r.stdout.split("\n")[0]?.trim() ?? "");
    return this.versionCache;
  }

  async saveState(handle: VmmHandle, spec: BootSpec, to: SavedState): Promise<{ bytes: number }> {
    const paths = qemuPaths(spec.vmDir);
    const launch = this.d.launchFor(spec);
    const bytes = await this.withQmp(handle, (q) =>
      saveDeviceState(q, to.stateFile, {
        vmmDir: paths.vmmDir,
        vmmDirFd: launch.vmmDirFd,
        socketName: MIGRATION_SOCKET,
        identity: this.d.identity(),
        timeoutMs: this.d.migrateTimeoutMs,
      }),
    );
    if (to.memoryFile === spec.memoryFile) {
      await syncFile(spec.memoryFile);
    } else {
      // A fork: the source runs on after this, so its RAM is copied while it is paused.
      await this.d.runner.run(diskArgv.cloneOrCopy(spec.memoryFile, to.memoryFile));
    }
    return { bytes };
  }

  private async withQmp<T>(handle: VmmHandle, fn: (q: QmpClient) => Promise<T>): Promise<T> {
    if (!this.d.isAlive(handle)) {
      throw new BangerError(ErrorCodes.VMM, `QEMU (pid ${handle.pid}) is not running`);
    }
    const ms = this.d.qmpTimeoutMs;
    const qmp = await QmpClient.connect(handle.controlSocket, {
      timeoutMs: ms,
      commandTimeoutMs: ms,
      retry: false,
    });
    try {
      return await fn(qmp);
    } finally {
      qmp.close();
    }
  }
}
