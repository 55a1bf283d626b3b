/**
 * The daemon's side of the VM firewall: builds one FirewallSpec from the
 * store's VMs that hold a TAP (plus config) and applies it through the
 * privileged helper, one apply at a time. Called at VM start (before boot),
 * stop, delete, crash, egress change and daemon start; removes the tables
 * when no VM holds a TAP. Keeps the resolver's answered addresses per VM
 * (egress "allow") so a re-apply keeps them.
 */
import { BangerError, ErrorCodes, isBangerError } from "../../../errors/index.js";
import type { FirewallSpec, FirewallStatus, FirewallVm, PrivilegedHelper } from "../../../helper/protocol.js";
import type { Vm, VmEgress } from "../../../model/vm.js";
import type { Store } from "../../../store/Store.js";
import { egressOf } from "./egress.js";

export interface FirewallLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface FirewallServiceOptions {
  helper: PrivilegedHelper;
  store: Pick<Store, "vms">;
  bridge: string;
  subnet: string;
  gateway: string;
  nat: boolean;
  /** The resolver's port on the gateway (the nft redirect target). */
  dnsPort: number;
  /** The policy of VMs whose row has none. */
  defaultEgress: Pick<VmEgress, "mode" | "domains">;
  /** Start the guest resolver on gateway:dnsPort (idempotent); called before the first apply. */
  ensureResolver?: () => Promise<void>;
  log: FirewallLog;
  now?: () => number;
}

/** The smallest time an answered address stays in a VM's allow set. */
export const MIN_ALLOW_TTL_S = 60;
const MAX_ALLOW_TTL_S = 24 * 3600;

export class FirewallService {
  private chain: Promise<unknown> = Promise.resolve();
  /** vm ip -> answered ip -> expiry (ms since epoch). */
  private readonly allowed = new Map<string, Map<string, number>>();
  /** Tables may exist (ours, or left by an earlier daemon until the first sync). */
  private loaded = true;
  private forwardOn = false;
  private readonly now: () => number;

  constructor(private readonly o: FirewallServiceOptions) {
    this.now = o.now ?? Date.now;
  }

  /** The policy in force for a VM. */
  egressOf(vm: Pick<Vm, "egress">): VmEgress {
    return egressOf(vm, this.o.defaultEgress);
  }

  /** Re-apply from the store, leaving out `excludeId` (a VM whose TAP is going away). Serialized. */
  sync(excludeId?: string): Promise<void> {
    const run = this.chain.then(() => this.syncNow(excludeId));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** The spec the store stands for right now. */
  buildSpec(excludeId?: string): FirewallSpec {
    const vms = this.o.store.vms
      .list({ skipCorrupt: true })
      .items.filter((v) => v.id !== excludeId && v.network?.tap);
    const ipByName = new Map(vms.map((v) => [v.name, v.network?.ip as string]));
    const out: FirewallVm[] = vms.map((v) => {
      const e = this.egressOf(v);
      const ip = v.network?.ip as string;
      return {
        tap: v.network?.tap as string,
        mac: v.network?.mac as string,
        ip,
        egress: e.mode,
        peers: e.peers.flatMap((n) => (ipByName.has(n) && n !== v.name ? [ipByName.get(n) as string] : [])),
        allowed: e.mode === "allow" ? this.liveAllowed(ip) : [],
      };
    });
    const { bridge, subnet, gateway, dnsPort, nat } = this.o;
    return { bridge, subnet, gateway, dnsPort, nat, vms: out };
  }

  private async syncNow(excludeId?: string): Promise<void> {
    const spec = this.buildSpec(excludeId);
    const live = new Set(spec.vms.map((v) => v.ip));
    for (const ip of this.allowed.keys()) if (!live.has(ip)) this.allowed.delete(ip);
    if (spec.vms.length === 0) {
      if (this.loaded) await this.o.helper.call("firewall.remove", {});
      this.loaded = false;
      return;
    }
    await this.o.ensureResolver?.();
    await this.o.helper.call("firewall.apply", { spec });
    this.loaded = true;
    if (this.o.nat && !this.forwardOn) await this.enableForwarding();
  }

  /** ip_forward through the helper's sysctl.set; a helper without it is logged, not fatal. */
  private async enableForwarding(): Promise<void> {
    try {
      await this.o.helper.call("sysctl.set", { name: "net.ipv4.ip_forward", value: 1 });
      this.forwardOn = true;
    } catch (e) {
      this.forwardOn = true;
      this.o.log.warn(
        { err: (e as Error).message },
        "could not enable net.ipv4.ip_forward through the privileged helper: guests have no egress until it is 1 (sysctl -w net.ipv4.ip_forward=1)",
      );
    }
  }

  /** Remove the tables (daemon stop with no VMs left is handled by sync). */
  remove(): Promise<void> {
    const run = this.chain.then(async () => {
      await this.o.helper.call("firewall.remove", {});
      this.loaded = false;
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Answered addresses for an "allow" VM: into its set now (before the answer goes out), and kept for re-applies. */
  async allow(vmIp: string, add: Array<{ ip: string; ttlS: number }>): Promise<void> {
    const list = add.map((a) => ({
      ip: a.ip,
      ttlS: Math.min(MAX_ALLOW_TTL_S, Math.max(MIN_ALLOW_TTL_S, a.ttlS)),
    }));
    if (list.length === 0) return;
    const m = this.allowed.get(vmIp) ?? new Map<string, number>();
    this.allowed.set(vmIp, m);
    const t = this.now();
    for (const a of list) m.set(a.ip, Math.max(m.get(a.ip) ?? 0, t + a.ttlS * 1000));
    await this.o.helper.call("firewall.allow", { vmIp, add: list });
  }

  /** After a daemon restart: take the answered addresses still in the kernel's sets, so a re-apply keeps them. */
  async seedFromKernel(): Promise<void> {
    const st = await this.status();
    const t = this.now();
    for (const vm of st?.vms ?? []) {
      for (const a of vm.allowed) {
        if (a.expiresS === null || a.expiresS <= 0) continue;
        const m = this.allowed.get(vm.ip) ?? new Map<string, number>();
        this.allowed.set(vm.ip, m);
        m.set(a.ip, t + a.expiresS * 1000);
      }
    }
  }

  /** Forget a VM's answered addresses (its policy changed). */
  forgetAllowed(vmIp: string): void {
    this.allowed.delete(vmIp);
  }

  /** Cut a VM's open connections (after a policy change). */
  async flush(vmIp: string): Promise<number> {
    return (await this.o.helper.call("conntrack.flush", { ip: vmIp })).flushed;
  }

  async status(): Promise<FirewallStatus | null> {
    try {
      return await this.o.helper.call("firewall.status", {});
    } catch (e) {
      if (isBangerError(e)) {
        this.o.log.warn({ err: e.message }, "firewall status unavailable");
        return null;
      }
      throw e;
    }
  }

  private liveAllowed(vmIp: string): Array<{ ip: string; ttlS: number }> {
    const m = this.allowed.get(vmIp);
    if (!m) return [];
    const t = this.now();
    const out: Array<{ ip: string; ttlS: number }> = [];
    for (const [ip, exp] of m) {
      const left = Math.ceil((exp - t) / 1000);
      if (left > 0) out.push({ ip, ttlS: left });
      else m.delete(ip);
    }
    return out;
  }
}

/** For errors the CLI shows when the firewall cannot be applied. */
export function firewallError(what: string, e: unknown): BangerError {
  const msg = e instanceof Error ? e.message : String(e);
  return new BangerError(ErrorCodes.PREFLIGHT_FAILED, `could not ${what}: ${msg}`, {
    hint: "the VM firewall needs nft (Debian package nftables) and the privileged helper: run `banger doctor`",
    cause: e,
  });
}
