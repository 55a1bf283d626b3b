/** Errors both stores raise, worded the same so tests against the fake hold for the real one. */
import { BangerError, ErrorCodes } from "../errors/index.js";
import { isValidId, MIN_GUEST_CID } from "../model/index.js";

export type ObjectKind = "kernel" | "image" | "VM";

const LIST_COMMAND: Record<ObjectKind, string> = {
  kernel: "banger kernel list",
  image: "banger image list",
  VM: "banger vm list",
};

export function notFound(kind: ObjectKind, name: string): BangerError {
  return new BangerError(ErrorCodes.NOT_FOUND, `no ${kind} named "${name}"`, {
    hint: `run \`${LIST_COMMAND[kind]}\` to see the ${kind}s there are`,
  });
}

export function notFoundById(kind: ObjectKind, id: string): BangerError {
  return new BangerError(ErrorCodes.NOT_FOUND, `no ${kind} with id "${id}"`, {
    hint: `run \`${LIST_COMMAND[kind]}\` to see the ${kind}s there are`,
  });
}

export function alreadyExists(kind: ObjectKind, name: string): BangerError {
  return new BangerError(ErrorCodes.ALREADY_EXISTS, `a ${kind} named "${name}" already exists`, {
    hint: `choose another name, or remove the existing ${kind} first`,
  });
}

export function idTaken(kind: ObjectKind, id: string): BangerError {
  return new BangerError(ErrorCodes.ALREADY_EXISTS, `a ${kind} with id "${id}" already exists`, {
    hint: "generate a fresh id (this is a bug in the caller)",
  });
}

/** `kind` "name" cannot go: `users` (of `usersKind`) still use it. */
export function inUse(kind: ObjectKind, name: string, usersKind: ObjectKind, users: string[]): BangerError {
  const list = users.map((u) => `"${u}"`).join(", ");
  const rm = usersKind === "VM" ? "banger vm rm" : `banger ${usersKind} rm`;
  return new BangerError(ErrorCodes.CONFLICT, `${kind} "${name}" is used by ${usersKind}s ${list}`, {
    hint: `remove them first (${rm} ${users.join(" ")})`,
    details: { users },
  });
}

export function noFreeAddress(subnet: string | undefined): BangerError {
  return new BangerError(ErrorCodes.CONFLICT, `no free address in ${subnet ?? "the VM subnet"}`, {
    hint: "remove VMs you no longer need (banger vm rm NAME), or choose a larger subnet in config.toml",
  });
}

export function cidTaken(cid: number, holder: string): BangerError {
  return new BangerError(ErrorCodes.CONFLICT, `vsock CID ${cid} is already used by VM "${holder}"`, {
    hint: "leave the CID out and let the store pick a free one",
  });
}

/** INVALID_ARGUMENT for ids and CIDs a store must never hold. */
export function checkIdentity(kind: ObjectKind, id: string, cid?: number): void {
  if (!isValidId(id)) {
    throw new BangerError(
      ErrorCodes.INVALID_ARGUMENT,
      `${kind} id "${id}" is not 16 lowercase hex characters`,
    );
  }
  if (cid !== undefined && (!Number.isInteger(cid) || cid < MIN_GUEST_CID || cid > 0xffffffff)) {
    throw new BangerError(
      ErrorCodes.INVALID_ARGUMENT,
      `vsock CID ${cid} is out of range (${MIN_GUEST_CID} to 4294967295)`,
    );
  }
}

/** The smallest integer >= MIN_GUEST_CID not in `used` (sorted or not). */
export function smallestFreeCid(used: Iterable<number>): number {
  const taken = new Set(used);
  let cid = MIN_GUEST_CID;
  while (taken.has(cid)) cid++;
  return cid;
}
