import { isIPv4 } from "node:net";
import { BangerError, ErrorCodes } from "../errors/index.js";

/** What the DNS answer function reads: VM name -> IPv4, plus a change counter. */
export interface RecordSource {
  /** The IPv4 of the VM called `name` (any letter case), or undefined. */
  get(name: string): string | undefined;
  /** Bumped on every change; the zone's SOA serial. */
  readonly serial: number;
  /** How many names are known. */
  readonly size: number;
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function checkName(name: string): string {
  const key = name.toLowerCase();
  if (!LABEL.test(key)) {
    throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `"${name}" is not a valid VM name for DNS`, {
      hint: "a VM name is one DNS label: 1 to 63 letters, digits or '-', not starting or ending with '-'",
    });
  }
  return key;
}

function checkIpv4(name: string, ipv4: string): string {
  if (!isIPv4(ipv4)) {
    throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `"${ipv4}" (for ${name}.vm) is not an IPv4 address`);
  }
  return ipv4;
}

/**
 * The in-memory table behind NAME.vm: VM name (one DNS label, matched
 * case-insensitively) -> IPv4. Every change is visible to the next query.
 */
export class VmRecords implements RecordSource {
  private map = new Map<string, string>();
  private changes = 1;

  get serial(): number {
    return this.changes;
  }

  get size(): number {
    return this.map.size;
  }

  get(name: string): string | undefined {
    return this.map.get(name.toLowerCase());
  }

  /** Add or change one name. Throws INVALID_ARGUMENT for a bad name or address. */
  set(name: string, ipv4: string): void {
    const key = checkName(name);
    const ip = checkIpv4(name, ipv4);
    if (this.map.get(key) === ip) return;
    this.map.set(key, ip);
    this.bump();
  }

  /** Remove one name; true when it was there. */
  delete(name: string): boolean {
    const removed = this.map.delete(name.toLowerCase());
    if (removed) this.bump();
    return removed;
  }

  /** Swap the whole table at once; nothing changes when any entry is invalid. */
  replaceAll(entries: ReadonlyMap<string, string> | Readonly<Record<string, string>>): void {
    const list = entries instanceof Map ? [...entries] : Object.entries(entries);
    const next = new Map<string, string>();
    for (const [name, ipv4] of list) next.set(checkName(name), checkIpv4(name, ipv4));
    this.map = next;
    this.bump();
  }

  /** A copy of the table, names in lower case. */
  entries(): Array<[string, string]> {
    return [...this.map];
  }

  private bump(): void {
    // SOA serials are 32-bit; skip 0 on wrap-around.
    this.changes = this.changes >= 0xffffffff ? 1 : this.changes + 1;
  }
}
