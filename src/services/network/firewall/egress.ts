/**
 * Egress policies as users write them: `none`, `public`, or
 * `allow=DOMAIN[,DOMAIN...]` (`*.example.com` for subdomains). Parsing,
 * formatting, the default (config, else public with NAT and none without),
 * and which names an "allow" VM may resolve. Pure.
 */
import { BangerError, ErrorCodes } from "../../../errors/index.js";
import type { Vm, VmEgress } from "../../../model/vm.js";

export const EGRESS_HELP =
  "none | public | allow=DOMAIN[,DOMAIN...] (`*.example.com` allows the subdomains of example.com)";

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

function checkDomain(d: string, field: string): string {
  const name = d.trim().toLowerCase().replace(/\.$/, "");
  const bare = name.startsWith("*.") ? name.slice(2) : name;
  const labels = bare.split(".");
  if (bare.length > 253 || labels.length < 2 || !labels.every((l) => LABEL.test(l)) || bare.includes("*")) {
    throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `${field}: "${d}" is not a domain name`, {
      hint: `write names like example.com or *.example.com: ${EGRESS_HELP}`,
    });
  }
  return name;
}

/** Parse a policy; `field` names where it came from (`--egress`, `[network] egress`). */
export function parseEgress(text: string, field: string): Pick<VmEgress, "mode" | "domains"> {
  const t = text.trim();
  if (t === "none" || t === "public") return { mode: t, domains: [] };
  const m = /^allow=(.*)$/.exec(t);
  if (m) {
    const domains = [...new Set((m[1] ?? "").split(",").filter((d) => d.trim() !== ""))].map((d) =>
      checkDomain(d, field),
    );
    if (domains.length === 0) {
      throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `${field}: "allow=" names no domain`, {
        hint: `for example allow=pypi.org,*.pythonhosted.org; or use none: ${EGRESS_HELP}`,
      });
    }
    return { mode: "allow", domains: [...new Set(domains)] };
  }
  throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `${field}: "${text}" is not an egress policy`, {
    hint: `use ${EGRESS_HELP}`,
  });
}

export function formatEgress(e: Pick<VmEgress, "mode" | "domains">): string {
  return e.mode === "allow" ? `allow=${e.domains.join(",")}` : e.mode;
}

/** public and allow need NAT: without it guests have no egress at all. */
export function requireNatFor(e: Pick<VmEgress, "mode">, nat: boolean, field: string): void {
  if (!nat && e.mode !== "none") {
    throw new BangerError(
      ErrorCodes.INVALID_ARGUMENT,
      `${field}: egress "${e.mode}" needs NAT, and [network] nat is false (guests have no egress at all)`,
      {
        hint: "set `nat = true` in the [network] table of config.toml and restart the daemon, or use --egress none",
      },
    );
  }
}

/** The configured default: `[network] egress` when set, else public with NAT and none without. */
export function defaultEgress(configured: string | null, nat: boolean): Pick<VmEgress, "mode" | "domains"> {
  if (configured === null) return { mode: nat ? "public" : "none", domains: [] };
  const e = parseEgress(configured, "[network] egress");
  requireNatFor(e, nat, "[network] egress");
  return e;
}

/** A VM's policy in force (rows written before policies existed get the default). */
export function egressOf(vm: Pick<Vm, "egress">, fallback: Pick<VmEgress, "mode" | "domains">): VmEgress {
  return vm.egress ?? { ...fallback, peers: [] };
}

/** Whether an "allow" VM may resolve `qname` (exact names; `*.x` matches names below x, not x itself). */
export function domainAllowed(domains: readonly string[], qname: string): boolean {
  const n = qname.toLowerCase().replace(/\.$/, "");
  return domains.some((d) => (d.startsWith("*.") ? n.endsWith(d.slice(1)) : n === d));
}

const VM_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Peer names as given (`--peer`): VM names (DNS labels), deduplicated; `self` may not be one. */
export function checkPeers(peers: readonly string[], self: string | undefined, field = "--peer"): string[] {
  for (const p of peers) {
    if (!VM_NAME.test(p)) {
      throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `${field}: "${p}" is not a VM name`, {
        hint: "name another VM (a DNS label); peers reach each other both ways while both run",
      });
    }
    if (p === self)
      throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `${field}: a VM cannot be its own peer`);
  }
  return [...new Set(peers)];
}

/** The policy a new VM gets: --egress (checked against NAT) or the configured default; peers as given. */
export function egressForCreate(
  p: { egress?: string; peers?: string[]; name?: string },
  d: { fallback: Pick<VmEgress, "mode" | "domains">; nat: boolean },
): VmEgress {
  const chosen = p.egress === undefined ? d.fallback : parseEgress(p.egress, "--egress");
  if (p.egress !== undefined) requireNatFor(chosen, d.nat, "--egress");
  return { ...chosen, peers: checkPeers(p.peers ?? [], p.name) };
}

/** What views show: the policy as written, plus its parts. */
export function egressView(e: VmEgress): VmEgress & { policy: string } {
  return { policy: formatEgress(e), mode: e.mode, domains: [...e.domains], peers: [...e.peers] };
}
