/**
 * `vm.egress`: show a VM's outbound policy with what the kernel holds (drop
 * counters, allow set with expiries), or change it on a running VM without
 * a restart: the store is updated, the firewall re-applied, and the VM's
 * open connections cut (conntrack) so the new policy applies to them too.
 */
import type { VmEgressParams, VmEgressView } from "../../../api/vms.js";
import type { Vm, VmEgress } from "../../../model/vm.js";
import type { Store } from "../../../store/Store.js";
import { checkPeers, egressView, parseEgress, requireNatFor } from "./egress.js";
import type { FirewallService } from "./FirewallService.js";

export class EgressService {
  constructor(
    private readonly store: Pick<Store, "vms">,
    private readonly firewall: FirewallService,
    private readonly nat: boolean,
  ) {}

  async egress(p: VmEgressParams): Promise<VmEgressView> {
    let vm = this.store.vms.get(p.name);
    let flushed: number | undefined;
    if (p.egress !== undefined || p.peers !== undefined) {
      const before = this.firewall.egressOf(vm);
      const next = this.next(vm, before, p);
      vm = this.store.vms.update(vm.id, { egress: next });
      if (vm.network?.tap) {
        if (next.mode !== "allow" || next.domains.join() !== before.domains.join()) {
          this.firewall.forgetAllowed(vm.network.ip);
        }
        await this.firewall.sync();
        flushed = await this.firewall.flush(vm.network.ip);
      }
    }
    return { ...(await this.view(vm)), ...(flushed !== undefined ? { flushed } : {}) };
  }

  private next(vm: Vm, before: VmEgress, p: VmEgressParams): VmEgress {
    const chosen = p.egress === undefined ? before : parseEgress(p.egress, "egress");
    if (p.egress !== undefined) requireNatFor(chosen, this.nat, "egress");
    const peers = p.peers === undefined ? before.peers : checkPeers(p.peers, vm.name);
    return { mode: chosen.mode, domains: chosen.domains, peers };
  }

  private async view(vm: Vm): Promise<VmEgressView> {
    const running = !!vm.network?.tap;
    const st = running ? await this.firewall.status() : null;
    const mine = st?.vms.find((v) => v.ip === vm.network?.ip);
    return {
      name: vm.name,
      egress: egressView(this.firewall.egressOf(vm)),
      running,
      nat: this.nat,
      firewall: mine
        ? { dropped: mine.dropped, spoofDropped: mine.spoofDropped, allowed: mine.allowed }
        : null,
    };
  }
}
