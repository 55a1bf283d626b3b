/** What the daemon does on its own: reconcile after a restart, DNS records, and the periodic loops. */

import type { Logger } from "pino";
import type { ResolvedConfig } from "../../config/types.js";
import type { DnsServer } from "../../dns/DnsServer.js";
import type { VmRecords } from "../../dns/records.js";
import type { Vm } from "../../model/vm.js";
import type { ChangeBus } from "../../services/events.js";
import type { FirewallService } from "../../services/network/firewall/FirewallService.js";
import type { GuestService } from "../../services/vms/GuestService.js";
import type { VmService } from "../../services/vms/VmService.js";
import type { Store } from "../../store/Store.js";
import { logWriterWatch } from "../logWatch.js";
import type { CatalogParts } from "./catalog.js";

const CRASH_POLL_MS = 500;
const LOG_WRITER_POLL_MS = 10_000;
const IDLE_CHECK_MS = 5000;

export interface BackgroundParts {
  config: ResolvedConfig;
  store: Store;
  bus: ChangeBus;
  records: VmRecords;
  dns: DnsServer;
  firewall: FirewallService;
  catalog: CatalogParts;
  vms: VmService;
  guest: GuestService;
  log: Logger;
}

/** Keep NAME.vm and the agent connection in step with each VM's state; returns the unsubscribe. */
export function followVms(store: Store, bus: ChangeBus, records: VmRecords, guest: GuestService): () => void {
  return bus.on((e) => {
    if (e.topic === "vm") syncVm(store, records, guest, e.name);
    if (e.topic === "vm-deleted") records.delete(e.name);
  });
}

/**
 * Reconcile with what survived a restart, put the firewall and DNS in force, then start the loops.
 * Returns the loops' timers and the DNS server's start error (null when it listens).
 */
export async function startBackground(
  p: BackgroundParts,
): Promise<{ timers: NodeJS.Timeout[]; dnsError: string | null }> {
  const { log, firewall } = p;
  const swept = await p.catalog.pulls.sweep();
  if (swept.length) log.info({ swept }, "removed leftovers of interrupted pulls");
  const r = await p.vms.lifecycle.reconcile();
  if (r.adopted.length + r.stopped.length + r.removed.length > 0) log.info(r, "reconciled VMs");
  p.records.replaceAll(runningRecords(p.store));
  // The warm pool fills in the background: its members boot like any VM.
  void p.vms.pool?.fill();
  // The policy is in force for every VM that survived the restart (and removed when none did).
  await firewall.seedFromKernel().catch(() => undefined);
  await firewall.sync().catch((e: Error) => log.error({ err: e.message }, "firewall reconcile failed"));
  // DNS is a convenience: a daemon whose port is taken still serves everything else, and says why.
  let dnsError: string | null = null;
  await p.dns.start(p.config.dns.listen.value).then(
    (at) => log.info({ listen: at }, "dns listening"),
    (e: Error) => {
      dnsError = e.message;
      log.error({ err: e.message }, "dns not listening");
    },
  );
  return { timers: loops(p), dnsError };
}

/** The periodic loops: crash checks, log writers' health, stats samples. */
function loops(p: BackgroundParts): NodeJS.Timeout[] {
  const { log } = p;
  const runningVms = () => p.store.vms.list({ skipCorrupt: true }).items.filter((v) => v.state === "running");
  const checkLogWriters = logWriterWatch(runningVms, log);
  let checking = false;
  return [
    setInterval(() => {
      if (checking) return;
      checking = true;
      p.vms.lifecycle
        .checkCrashes()
        .catch((e: Error) => log.error({ err: e.message }, "crash check failed"))
        .finally(() => {
          checking = false;
        });
    }, CRASH_POLL_MS),
    setInterval(() => void checkLogWriters().catch(() => undefined), LOG_WRITER_POLL_MS),
    idleLoop(p.vms, log),
    setInterval(() => {
      p.guest
        .sampleAll()
        .then(() => p.bus.emit("stats", "*"))
        .catch((e: Error) => log.warn({ err: e.message }, "stats sample failed"));
    }, p.config.stats_poll_interval.value),
  ];
}

/** Scale to zero: idle VMs suspend themselves (one check at a time). */
function idleLoop(vms: VmService, log: Logger): NodeJS.Timeout {
  let checking = false;
  return setInterval(() => {
    if (checking) return;
    checking = true;
    vms.scaleToZero
      .tick()
      .catch((e: Error) => log.error({ err: e.message }, "idle check failed"))
      .finally(() => {
        checking = false;
      });
  }, IDLE_CHECK_MS);
}

/** NAME.vm answers for running VMs and for VMs that suspended themselves (a query wakes them). */
export function dnsVisible(vm: Vm): boolean {
  return !!vm.network && (vm.state === "running" || (vm.state === "suspended" && !!vm.saved?.auto));
}

/** Every running VM with an address: the NAME.vm records after a (re)start. */
function runningRecords(store: Store): Map<string, string> {
  const m = new Map<string, string>();
  for (const vm of store.vms.list({ skipCorrupt: true }).items) {
    if (dnsVisible(vm) && vm.network) m.set(vm.name, vm.network.ip);
  }
  return m;
}

/** Keep NAME.vm and the agent connection in step with a VM's state. */
function syncVm(store: Store, records: VmRecords, guest: GuestService, name: string): void {
  const vm = store.vms.find(name);
  if (vm && dnsVisible(vm) && vm.network) {
    records.set(vm.name, vm.network.ip);
    return;
  }
  records.delete(name);
  if (vm) guest.forget(vm.id);
}
