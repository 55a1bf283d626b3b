/** What an MCP client (an agent) may do: which VMs, read-only, and never looser egress. */
import { BangerError, ErrorCodes } from "../errors/index.js";

export const EGRESS_LEVELS = ["none", "allow", "public"] as const;
export type Egress = (typeof EGRESS_LEVELS)[number];

export interface McpPolicy {
  /** Only VMs whose name matches this glob (`*`, `?`) are visible and touchable. */
  vmPattern: string | null;
  /** No vm_create, vm_delete, file_write. */
  readOnly: boolean;
  /** The egress new VMs get by default; vm_create may ask for this or stricter, never looser. */
  defaultEgress: Egress;
}

/** A glob of `*` (any run) and `?` (one character) as an anchored regular expression. */
export function globToRegExp(glob: string): RegExp {
  const body = [...glob]
    .map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[\\^$.+()|[\]{}]/g, "\\$&")))
    .join("");
  return new RegExp(`^${body}$`);
}

export class Policy {
  private readonly re: RegExp | null;

  constructor(readonly p: McpPolicy) {
    this.re = p.vmPattern === null ? null : globToRegExp(p.vmPattern);
  }

  allows(name: string): boolean {
    return this.re === null || this.re.test(name);
  }

  /** Throw unless `name` is within the pattern; outside it, the VM does not exist for the agent. */
  check(name: string): void {
    if (!this.allows(name)) {
      throw new BangerError(
        ErrorCodes.NOT_FOUND,
        `no VM named "${name}" within this server's --vm-pattern ${this.p.vmPattern}`,
      );
    }
  }

  /** The egress to ask for, checked: equal to or stricter than the default. */
  egress(requested: Egress | undefined): Egress | undefined {
    if (requested === undefined) return undefined;
    const [want, max] = [EGRESS_LEVELS.indexOf(requested), EGRESS_LEVELS.indexOf(this.p.defaultEgress)];
    if (want > max) {
      throw new BangerError(
        ErrorCodes.INVALID_ARGUMENT,
        `egress: "${requested}" is looser than the default "${this.p.defaultEgress}"; this server only makes VMs as strict or stricter (none < allow < public)`,
      );
    }
    return requested;
  }

  /** The name of a VM about to be created: required and within the pattern when a pattern is set. */
  createName(name: string | undefined): string | undefined {
    if (this.p.vmPattern === null) return name;
    if (name === undefined) {
      throw new BangerError(
        ErrorCodes.INVALID_ARGUMENT,
        `name: required when the server has --vm-pattern ${this.p.vmPattern} (give one that matches it)`,
      );
    }
    if (!this.allows(name)) {
      throw new BangerError(
        ErrorCodes.INVALID_ARGUMENT,
        `name: "${name}" does not match this server's --vm-pattern ${this.p.vmPattern}`,
      );
    }
    return name;
  }

  /** A fork's clone name stem: every clone's name (NAME, or NAME-1 ... NAME-N) must pass createName. */
  forkNames(stem: string | undefined, count: number): string | undefined {
    if (stem === undefined) return this.createName(undefined);
    const names = count === 1 ? [stem] : Array.from({ length: count }, (_, i) => `${stem}-${i + 1}`);
    for (const n of names) this.createName(n);
    return stem;
  }
}
