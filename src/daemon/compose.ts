/**
 * Builds the daemon's services from real adapters. The only place that wires them; each subsystem's
 * wiring lives in compose/*.ts (host adapters, isolation, catalog, VMs, guest, handlers, background).
 */

import type { Logger } from "pino";
import type { PingResult } from "../api/methods.js";
import type { Paths } from "../config/index.js";
import type { ResolvedConfig } from "../config/types.js";
import { DnsServer } from "../dns/DnsServer.js";
import { type RecordSource, VmRecords } from "../dns/records.js";
import type { Handler } from "../rpc/server.js";
import { ChangeBus, notifyingStore } from "../services/events.js";
import type { VmService } from "../services/vms/VmService.js";
import type { Store } from "../store/Store.js";
import { followVms, startBackground } from "./compose/background.js";
import { catalogParts } from "./compose/catalog.js";
import { guestParts } from "./compose/guest.js";
import { allHandlers } from "./compose/handlers.js";
import { hostParts } from "./compose/host.js";
import { isolation } from "./compose/isolation.js";
import { vmService } from "./compose/vms.js";

export interface Composed {
  handlers: Map<string, Handler>;
  /** Extra fields for ping / daemon status. */
  status(): Partial<PingResult>;
  vms: VmService;
  /** Reconcile with what survived a restart, then start the background loops. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function compose(paths: Paths, config: ResolvedConfig, rawStore: Store, log: Logger): Composed {
  const bus = new ChangeBus();
  const store = notifyingStore(rawStore, bus);
  const host = hostParts(config, log);
  const records = new VmRecords();
  const iso = isolation(config, store, host.network.subnet.gateway, records, host.helper, log);
  const catalog = catalogParts(paths, config, store, host, log);
  const guest = guestParts(paths, store, host, log);
  const vms = vmService({ paths, config, store, host, catalog, firewall: iso.firewall, guest, log });
  const dns = new DnsServer({ records: wakingRecords(records, vms), log });
  let dnsError: string | null = null;
  let timers: NodeJS.Timeout[] = [];
  const stopFollowing = followVms(store, bus, records, guest.guest);
  const handlers = allHandlers({ vms, guest, catalog, egress: iso.egress, bus });
  return {
    handlers,
    vms,
    status: () => {
      const st = dns.status();
      const dnsStatus = { listen: st.listen, error: dnsError, records: st.records, queries: st.queries };
      return { dns: dnsStatus, ...(vms.pool ? { pool: vms.pool.status() } : {}) };
    },
    async start() {
      const bg = {
        config,
        store,
        bus,
        records,
        dns,
        firewall: iso.firewall,
        catalog,
        vms,
        guest: guest.guest,
        log,
      };
      ({ timers, dnsError } = await startBackground(bg));
    },
    async stop() {
      for (const t of timers) clearInterval(t);
      stopFollowing();
      guest.agents.closeAll();
      await dns.stop().catch(() => undefined);
      await iso.guestDns.stop().catch(() => undefined);
      await host.network.close().catch((e: Error) => log.warn({ err: e.message }, "network close failed"));
      host.helper.close();
    },
  };
}

/** NAME.vm records whose lookup wakes a VM that suspended itself; the answer goes out at once (its address is kept). */
function wakingRecords(records: VmRecords, vms: VmService): RecordSource {
  return {
    get serial() {
      return records.serial;
    },
    get size() {
      return records.size;
    },
    get: (name: string) => {
      const ip = records.get(name);
      if (ip) void vms.scaleToZero.wake(name).catch(() => undefined);
      return ip;
    },
  };
}
