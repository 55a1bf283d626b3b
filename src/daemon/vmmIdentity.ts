/**
 * Who VMMs run as, and how the daemon reaches the privileged helper. A normal
 * user's VMMs run as that user; root's run as the dedicated system user
 * banger-vmm, never as root. (How the daemon reaches the privileged helper:
 * host/helper/install.ts, helperCommand.)
 */
import { BangerError, ErrorCodes } from "../errors/index.js";
import { lookupVmmUser } from "../helper/context.js";
import { VMM_SYSTEM_USER } from "../helper/protocol.js";
import type { VmmIdentity } from "../vmm/qemu/spawn.js";

/** null for a normal user (the VMM runs as the daemon's user); banger-vmm's ids for root; throws when that user is missing. */
export function vmmIdentity(
  uid: number = process.getuid?.() ?? 0,
  lookup: () => { uid: number; gid: number } | null = () => lookupVmmUser(),
): VmmIdentity | null {
  if (uid !== 0) return null;
  const u = lookup();
  if (!u) {
    throw new BangerError(
      ErrorCodes.PREFLIGHT_FAILED,
      `the VMM user "${VMM_SYSTEM_USER}" does not exist: as root, banger runs every VMM as that user, never as root`,
      { hint: "run scripts/install as root (it creates the user)" },
    );
  }
  return u;
}

/** Owner of the VM TAPs: the identity QEMU runs as (the daemon's own ids when that is the daemon's user or unknown). */
export function tapOwner(): { uid: number; gid: number } {
  try {
    const id = vmmIdentity();
    if (id) return id;
  } catch {
    // the missing user is reported when a VM starts
  }
  return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
}
