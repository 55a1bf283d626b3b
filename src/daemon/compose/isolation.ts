/** The VM firewall, the guests' resolver and `vm egress`, wired together. */

import type { Logger } from "pino";
import type { ResolvedConfig } from "../../config/types.js";
import { GuestResolver, hostUpstreams } from "../../dns/GuestResolver.js";
import type { VmRecords } from "../../dns/records.js";
import type { PrivilegedHelper } from "../../helper/protocol.js";
import { EgressService } from "../../services/network/firewall/EgressService.js";
import { defaultEgress } from "../../services/network/firewall/egress.js";
import { FirewallService } from "../../services/network/firewall/FirewallService.js";
import type { Store } from "../../store/Store.js";

export interface IsolationParts {
  firewall: FirewallService;
  guestDns: GuestResolver;
  egress: EgressService;
}

export function isolation(
  config: ResolvedConfig,
  store: Store,
  gateway: string,
  records: VmRecords,
  helper: PrivilegedHelper,
  log: Logger,
): IsolationParts {
  const nat = config.network.nat.value;
  const dnsPort = config.network.guest_dns_port.value;
  const upstream = config.network.upstream_dns.value;
  let firewall: FirewallService;
  const guestDns = new GuestResolver({
    records,
    policyFor: (ip) => {
      const vm = store.vms
        .list({ skipCorrupt: true })
        .items.find((v) => v.network?.ip === ip && v.network.tap);
      return vm ? firewall.egressOf(vm) : undefined;
    },
    upstreams: () =>
      upstream.length > 0
        ? upstream.map((u) => ({ host: u.split(":")[0] as string, port: Number(u.split(":")[1] ?? 53) }))
        : hostUpstreams(),
    allow: (vmIp, add) => firewall.allow(vmIp, add),
    log,
  });
  firewall = new FirewallService({
    helper,
    store,
    bridge: config.network.bridge.value,
    subnet: config.network.subnet.value,
    gateway,
    nat,
    dnsPort,
    defaultEgress: defaultEgress(config.network.egress.value, nat),
    ensureResolver: () => guestDns.start(gateway, dnsPort),
    log,
  });
  return { firewall, guestDns, egress: new EgressService(store, firewall, nat) };
}
