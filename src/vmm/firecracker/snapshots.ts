/**
 * Pause, resume and saved state of Firecracker VMs (VmmSnapshots), and the
 * checks a restore boot makes before anything is started.
 *
 * Saving: PATCH /vm Paused (by the caller), then PUT /snapshot/create writes
 * the device state and all of guest memory. A direct Firecracker writes
 * straight into the target files; a jailed one can only write inside its
 * chroot, so it writes into the two files bound there at launch
 * (/snapshot/state and /snapshot/memory: <vmDir>/fc-state.snap and the VM's
 * memoryFile), which are then copied to the targets unless they are the
 * targets.
 */
import { constants } from "node:fs";
import { chmod, copyFile, mkdir, open, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { BootSpec, SavedState, VmmHandle, VmmSnapshots } from "../driver.js";
import { FirecrackerApiClient } from "./ApiClient.js";
import { assertResourceId, snapshotCreateBody, vmStateBody } from "./bodies.js";
import { JAIL_FILES, type JailPlan } from "./jail.js";
import { jailedVmDir, planFileOf } from "./jailSteps.js";

const MIB = 1024 * 1024;

async function regularFile(field: string, p: string): Promise<{ size: number }> {
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BangerError(
      code === "ENOENT" ? ErrorCodes.NOT_FOUND : ErrorCodes.INVALID_ARGUMENT,
      `${field} ${p} ${code === "ENOENT" ? "does not exist" : `cannot be read (${code})`}: nothing to restore from`,
    );
  }
  if (!st.isFile()) throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `${field} ${p} is not a regular file`);
  return st;
}

/**
 * Before a restore boot spawns anything: both saved files exist, the state
 * is not empty, and the memory file is exactly the spec's memory size
 * (Firecracker takes the size from the saved state; a VM restored with more
 * memory than its spec says would outgrow the limits set from the spec).
 */
export async function checkRestore(spec: BootSpec): Promise<void> {
  const r = spec.restore;
  if (!r) return;
  if (path.resolve(r.stateFile) === path.resolve(r.memoryFile)) {
    throw new BangerError(
      ErrorCodes.INVALID_ARGUMENT,
      `restore.stateFile and restore.memoryFile are the same file (${r.stateFile})`,
    );
  }
  const state = await regularFile("restore.stateFile", r.stateFile);
  if (state.size === 0) {
    throw new BangerError(
      ErrorCodes.INVALID_ARGUMENT,
      `restore.stateFile ${r.stateFile} is empty (an interrupted save?)`,
    );
  }
  const memory = await regularFile("restore.memoryFile", r.memoryFile);
  const want = spec.memoryMib * MIB;
  if (memory.size !== want) {
    throw new BangerError(
      ErrorCodes.INVALID_ARGUMENT,
      `restore.memoryFile ${r.memoryFile} is ${memory.size} bytes, but the VM has ${spec.memoryMib} MiB (${want} bytes): a saved state restores only with the memory size it was saved with`,
    );
  }
  for (const d of spec.drives) assertResourceId("drive", d.id);
}

/** An existing (or new, empty) file of mode 0600 for Firecracker to write into: saved state holds guest secrets. */
async function prepareTarget(p: string): Promise<void> {
  await mkdir(path.dirname(p), { recursive: true, mode: 0o700 });
  await (await open(p, "a", 0o600)).close();
  await chmod(p, 0o600);
}

/** Copy a jail's saved file to its target (a reflink where the filesystem can), unless it is the target. */
async function copyOut(source: string, target: string): Promise<void> {
  if (path.resolve(source) === target) return;
  await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
  await copyFile(source, target, constants.COPYFILE_FICLONE);
  await chmod(target, 0o600);
}

/** The host files bound at /snapshot/state and /snapshot/memory of a jailed VM (from its plan). */
async function jailSaveFiles(
  vmDir: string,
): Promise<{ state: string; memory: string; restoredFrom?: string }> {
  const plan = JSON.parse(await readFile(planFileOf(vmDir), "utf8")) as JailPlan;
  const source = (target: string) => plan.binds.find((b) => b.target === target)?.source;
  const state = source(JAIL_FILES.snapshotState);
  const memory = source(JAIL_FILES.snapshotMemory);
  if (!state || !memory) {
    throw new BangerError(
      ErrorCodes.CONFLICT,
      `the jail of ${vmDir} has no /snapshot files (started by an older banger): stop and start the VM to save its state`,
    );
  }
  const restoredFrom = source(JAIL_FILES.restoreMemory);
  return { state, memory, ...(restoredFrom ? { restoredFrom } : {}) };
}

export class FirecrackerSnapshots implements VmmSnapshots {
  constructor(
    private readonly requestTimeoutMs: number,
    /** The Firecracker version (a state loads only into the Firecracker that wrote it). */
    readonly vmmVersion: () => Promise<string>,
  ) {}

  private client(handle: VmmHandle): FirecrackerApiClient {
    return new FirecrackerApiClient(handle.controlSocket, { timeoutMs: this.requestTimeoutMs });
  }

  async pause(handle: VmmHandle): Promise<void> {
    await this.client(handle).call("PATCH", "/vm", vmStateBody("Paused"));
  }

  async resume(handle: VmmHandle): Promise<void> {
    await this.client(handle).call("PATCH", "/vm", vmStateBody("Resumed"));
  }

  async saveState(handle: VmmHandle, spec: BootSpec, to: SavedState): Promise<{ bytes: number }> {
    const stateFile = path.resolve(to.stateFile);
    const memoryFile = path.resolve(to.memoryFile);
    if (stateFile === memoryFile) {
      throw new BangerError(
        ErrorCodes.INVALID_ARGUMENT,
        `stateFile and memoryFile are the same file (${stateFile})`,
      );
    }
    const client = this.client(handle);
    const { state } = await client.describeInstance();
    if (state !== "Paused") {
      throw new BangerError(
        ErrorCodes.CONFLICT,
        `cannot save the state of VM ${spec.name}: it is ${state === "Running" ? "running" : "not started"}; pause it first`,
      );
    }
    const vmDir = jailedVmDir(handle.controlSocket);
    if (vmDir) {
      const bound = await jailSaveFiles(vmDir);
      if (bound.restoredFrom === memoryFile && bound.memory !== memoryFile) {
        // copying over it would truncate the file this VM's memory is mapped from
        throw new BangerError(
          ErrorCodes.CONFLICT,
          `cannot save VM ${spec.name} into ${memoryFile}: the VM was restored from that file and runs on it`,
        );
      }
      await client.put(
        "/snapshot/create",
        snapshotCreateBody(JAIL_FILES.snapshotState, JAIL_FILES.snapshotMemory),
      );
      await copyOut(bound.state, stateFile);
      await copyOut(bound.memory, memoryFile);
    } else {
      await prepareTarget(stateFile);
      await prepareTarget(memoryFile);
      await client.put("/snapshot/create", snapshotCreateBody(stateFile, memoryFile));
    }
    const [s, m] = await Promise.all([stat(stateFile), stat(memoryFile)]);
    return { bytes: s.size + m.size };
  }
}
