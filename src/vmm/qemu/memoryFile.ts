/**
 * The files a QEMU VM keeps for suspend and fork: guest RAM (memory.raw) and
 * the VMM-owned directory its migration socket lives in. Both belong to the
 * VMM's user (mode 0600/0700): they hold the guest's secrets.
 */
import { chown, mkdir, open, rm, stat } from "node:fs/promises";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { CommandRunner } from "../../host/runner.js";
import type { VmmIdentity } from "./spawn.js";

const MIB = 1024 * 1024;

async function own(p: string, identity: VmmIdentity | null): Promise<void> {
  if (identity) await chown(p, identity.uid, identity.gid);
}

/** The directory the VMM may create sockets in (see QemuPaths.vmmDir). */
export async function prepareVmmDir(dir: string, identity: VmmIdentity | null): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await own(dir, identity);
}

/**
 * A new RAM file of `memoryMib`, zeroed and fully allocated (fallocate), so a
 * disk that fills up later cannot kill the guest with SIGBUS on a page fault.
 * ENOSPC is a clear error; a filesystem without fallocate gets a sparse file.
 */
export async function createMemoryFile(
  file: string,
  memoryMib: number,
  identity: VmmIdentity | null,
  runner: CommandRunner,
): Promise<void> {
  const fh = await open(file, "w", 0o600);
  await fh.close();
  await own(file, identity);
  const bytes = memoryMib * MIB;
  const r = await runner.run(["fallocate", "-l", String(bytes), "--", file], { allowFailure: true });
  if (r.code === 0) return;
  if (/No space left/i.test(r.stderr)) {
    await rm(file, { force: true });
    throw new BangerError(
      ErrorCodes.PREFLIGHT_FAILED,
      `no space for the guest's ${memoryMib} MiB memory file ${file}`,
      { hint: "free disk space in banger's state directory, or give the VM less memory (--memory)" },
    );
  }
  const t = await runner.run(["truncate", "-s", String(bytes), "--", file], { allowFailure: true });
  if (t.code !== 0) {
    await rm(file, { force: true });
    throw new BangerError(ErrorCodes.VMM, `cannot size the memory file ${file}: ${t.stderr.trim()}`);
  }
}

/** A saved VM's RAM file must exist with the VM's memory size; it is given to the VMM's user. */
export async function checkMemoryFile(
  file: string,
  memoryMib: number,
  identity: VmmIdentity | null,
): Promise<void> {
  const st = await stat(file).catch(() => null);
  if (!st || st.size !== memoryMib * MIB) {
    throw new BangerError(
      ErrorCodes.PREFLIGHT_FAILED,
      st
        ? `the saved memory file ${file} has ${st.size} bytes, not ${memoryMib} MiB`
        : `the saved memory file ${file} is missing`,
      { hint: "start the VM with --discard-state to boot it afresh" },
    );
  }
  await own(file, identity);
}

/** Flush a file's (or directory's) data to disk (a suspended VM survives a host reboot). */
export async function syncFile(file: string): Promise<void> {
  const fh = await open(file, "r");
  try {
    await fh.datasync();
  } finally {
    await fh.close();
  }
}
