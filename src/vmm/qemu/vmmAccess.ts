/**
 * What the unprivileged VMM can reach: it reopens kernel and initrd through
 * /proc/self/fd/N (which checks the file's own mode bits, not the directories
 * above it) and opens /dev/net/tun itself.
 */
import { constants } from "node:fs";
import fs from "node:fs/promises";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { VmmIdentity } from "./spawn.js";

/**
 * True when `identity` may read `file` by its own mode bits: QEMU reopens the
 * kernel through /proc/self/fd/N, which checks the file (not the directories).
 */
async function readableBy(file: string, identity: VmmIdentity): Promise<boolean> {
  const st = await fs.stat(file);
  if (st.uid === identity.uid) return (st.mode & 0o400) !== 0;
  if (st.gid === identity.gid) return (st.mode & 0o040) !== 0;
  return (st.mode & 0o004) !== 0;
}

/** The VMM opens /dev/net/tun itself (to attach to its own TAP): it must be read-writable for its uid. */
export async function checkTunAccess(identity: VmmIdentity | null, tun = "/dev/net/tun"): Promise<void> {
  const ok = identity
    ? await fs.stat(tun).then(
        (st) =>
          (st.uid === identity.uid && (st.mode & 0o600) === 0o600) ||
          (st.gid === identity.gid && (st.mode & 0o060) === 0o060) ||
          (st.mode & 0o006) === 0o006,
        () => false,
      )
    : await fs.access(tun, constants.R_OK | constants.W_OK).then(
        () => true,
        () => false,
      );
  if (!ok) {
    const who = identity ? `uid ${identity.uid}` : "this user";
    throw new BangerError(
      ErrorCodes.PREFLIGHT_FAILED,
      `the VMM (${who}) cannot open ${tun} to attach to its TAP`,
      {
        hint: `make it 0666, Debian's default: chmod 0666 ${tun} (scripts/install does it as root)`,
      },
    );
  }
}

/** A file the VMM user cannot read gets a world-readable copy in the VM directory (kernels are not secret). */
export async function vmmReadable(file: string, copy: string, identity: VmmIdentity | null): Promise<string> {
  if (identity === null || (await readableBy(file, identity))) return file;
  await fs.copyFile(file, copy);
  await fs.chmod(copy, 0o644);
  return copy;
}
