/** Builds the daemon's services from real adapters. The only place that wires them. */

import path from "node:path";
import type { Logger } from "pino";
import type { PingResult } from "../api/methods.js";
import { CatalogLoader } from "../catalog/catalog.js";
import { KernelService } from "../catalog/KernelService.js";
import { PullService } from "../catalog/PullService.js";
import { ensureSshKey, hostResources, type Paths, resolveVmDefaults } from "../config/index.js";
import type { ResolvedConfig } from "../config/types.js";
import { DnsServer } from "../dns/DnsServer.js";
import { GuestResolver, hostUpstreams } from "../dns/GuestResolver.js";
import { VmRecords } from "../dns/records.js";
import { preflight } from "../doctor/run.js";
import type { PrivilegedHelper } from "../helper/protocol.js";
import { HelperClient } from "../host/helper/HelperClient.js";
import { directHelperEnv, HELPER_START_HINT, helperCommand } from "../host/helper/install.js";
import { NodeCommandRunner } from "../host/node/NodeCommandRunner.js";
import { NodeHostProbe } from "../host/node/NodeHostProbe.js";
import { readSshBanner } from "../host/node/sshBanner.js";
import { ImageBuilder } from "../images/ImageBuilder.js";
import { LocalRecipeRunner } from "../images/recipes/RecipeRunner.js";
import type { Handler, HandlerContext } from "../rpc/server.js";
import { AgentPool } from "../services/agent/AgentPool.js";
import { Ext4DiskManager } from "../services/disks/Ext4DiskManager.js";
import { ChangeBus, notifyingStore } from "../services/events.js";
import { ImageService } from "../services/images/ImageService.js";
import { EgressService } from "../services/network/firewall/EgressService.js";
import { defaultEgress } from "../services/network/firewall/egress.js";
import { FirewallService } from "../services/network/firewall/FirewallService.js";
import { IpNetworkManager } from "../services/network/IpNetworkManager.js";
import { generateHostKey, SshFiles } from "../services/ssh/SshFiles.js";
import { StatsSampler } from "../services/stats/StatsSampler.js";
import { GuestService } from "../services/vms/GuestService.js";
import { AgentGuestOps } from "../services/vms/guestOps.js";
import { VmService } from "../services/vms/VmService.js";
import type { Store } from "../store/Store.js";
import { loggerBinary } from "../vmm/logger/build.js";
import { RotatingLogs } from "../vmm/logger/vmLogs.js";
import { catalogHandlers } from "./catalogHandlers.js";
import { realCheckContext } from "./doctor.js";
import { RealDriverProvider } from "./drivers.js";
import { egressHandlers } from "./egressHandlers.js";
import { guestHandlers } from "./guestHandlers.js";
import { vmHandlers } from "./handlers.js";
import { logWriterWatch } from "./logWatch.js";
import { streamHandlers } from "./streamHandlers.js";
import { tapOwner, vmmIdentity } from "./vmmIdentity.js";

const CRASH_POLL_MS = 500;
const LOG_WRITER_POLL_MS = 10_000;

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
  const runner = new NodeCommandRunner();
  const probe = new NodeHostProbe(runner);
  const uid = process.getuid?.() ?? 0;
  const helper = new HelperClient({
    command: helperCommand(uid),
    startHint: HELPER_START_HINT,
    ...(uid === 0 ? { env: directHelperEnv() } : {}),
  });
  const network = new IpNetworkManager({
    ...tapOwner(),
    bridge: config.network.bridge.value,
    subnet: config.network.subnet.value,
    // NAT and forwarding belong to the firewall (FirewallService), not to the bridge's manager.
    nat: false,
    poolSize: config.network.tap_pool_size.value,
    helper,
    runner,
    log,
  });
  const records = new VmRecords();
  const { firewall, guestDns, egress } = isolation(
    config,
    store,
    network.subnet.gateway,
    records,
    helper,
    log,
  );
  const disks = new Ext4DiskManager({ runner });
  const vmLogs = new RotatingLogs({
    binary: loggerBinary(runner, path.join(paths.cacheDir, "bin")),
    caps: () => ({ maxBytes: config.logs.max_size.value, keep: config.logs.keep.value }),
  });
  const checkCtx = realCheckContext(paths, config);
  const catalogs = new CatalogLoader({
    urls: () => ({ image: config.image_catalog_url.value, kernel: config.kernel_catalog_url.value }),
  });
  const pulls = new PullService({
    store,
    catalogs,
    // BANGER_RECIPE_CACHE lets CI (and people with several state dirs) share one cache of recipe builds.
    recipes: new LocalRecipeRunner({
      runner,
      cacheDir: process.env.BANGER_RECIPE_CACHE || path.join(paths.cacheDir, "recipes"),
    }),
    imagesDir: paths.imagesDir,
    kernelsDir: paths.kernelsDir,
    checkExt4: (f) => disks.checkExt4(f),
    log,
  });
  const kernels = new KernelService({ store, catalogs, kernelsDir: paths.kernelsDir, log });
  const agents = new AgentPool();
  const vms = new VmService({
    guest: new AgentGuestOps(
      agents,
      async (vm) => (await images.capabilities(store.images.getById(vm.imageId))).agent,
    ),
    store,
    network,
    disks,
    drivers: new RealDriverProvider(config, probe, () => vmmIdentity(), vmLogs),
    helper,
    sshKey: {
      get: async () => {
        const k = await ensureSshKey(config, paths, runner);
        return { privateKey: k.privateKey, publicKey: k.publicKey };
      },
    },
    hostKeys: { generate: (vmDir, name) => generateHostKey(runner, vmDir, name) },
    sshFiles: new SshFiles(paths.sshDir),
    vmsDir: paths.vmsDir,
    defaults: () => {
      const d = resolveVmDefaults(config, hostResources());
      return { vcpu: d.vcpu.value, memoryMib: d.memoryMib.value, diskSizeBytes: d.diskSizeBytes.value };
    },
    defaultImage: config.default_image_name.value,
    images: {
      available: async () => (await catalogs.load("image")).names(),
      ensure: (name, onProgress) => pulls.pullImage(name, { onProgress }),
    },
    fileSync: config.file_sync.value,
    preflight: (ids) => preflight(checkCtx, ids),
    log,
    firewall,
    egress: { fallback: firewall.egressOf({}), nat: config.network.nat.value },
  });
  const images = new ImageService({
    store,
    disks,
    runner,
    imagesDir: paths.imagesDir,
    logsDir: paths.logsDir,
    builder: new ImageBuilder({ runner }),
    log,
  });
  const guest = new GuestService({
    store,
    agents,
    sampler: new StatsSampler({ runner }),
    capabilitiesOf: (vm) => images.capabilities(store.images.getById(vm.imageId)),
    sshBanner: readSshBanner,
  });
  const dns = new DnsServer({ records, log });
  let dnsError: string | null = null;
  const timers: NodeJS.Timeout[] = [];
  const stopWatching = bus.on((e) => {
    if (e.topic === "vm") syncVm(store, records, guest, e.name);
    if (e.topic === "vm-deleted") records.delete(e.name);
  });

  const handlers = vmHandlers(vms, images, guest);
  for (const [k, v] of guestHandlers(guest)) handlers.set(k, v);
  for (const [k, v] of streamHandlers(guest)) handlers.set(k, v);
  for (const [k, v] of catalogHandlers(pulls, kernels, images)) handlers.set(k, v);
  for (const [k, v] of egressHandlers(egress)) handlers.set(k, v);
  handlers.set("events.watch", (_p, ctx) => watch(bus, ctx));
  return {
    handlers,
    vms,
    status: () => {
      const st = dns.status();
      return { dns: { listen: st.listen, error: dnsError, records: st.records, queries: st.queries } };
    },
    async start() {
      const swept = await pulls.sweep();
      if (swept.length) log.info({ swept }, "removed leftovers of interrupted pulls");
      const r = await vms.lifecycle.reconcile();
      if (r.adopted.length + r.stopped.length + r.removed.length > 0) log.info(r, "reconciled VMs");
      records.replaceAll(runningRecords(store));
      // The policy is in force for every VM that survived the restart (and removed when none did).
      await firewall.seedFromKernel().catch(() => undefined);
      await firewall.sync().catch((e: Error) => log.error({ err: e.message }, "firewall reconcile failed"));
      // DNS is a convenience: a daemon whose port is taken still serves everything else, and says why.
      await dns.start(config.dns.listen.value).then(
        (at) => log.info({ listen: at }, "dns listening"),
        (e: Error) => {
          dnsError = e.message;
          log.error({ err: e.message }, "dns not listening");
        },
      );
      const runningVms = () =>
        store.vms.list({ skipCorrupt: true }).items.filter((v) => v.state === "running");
      const checkLogWriters = logWriterWatch(runningVms, log);
      let checking = false;
      timers.push(
        setInterval(() => {
          if (checking) return;
          checking = true;
          vms.lifecycle
            .checkCrashes()
            .catch((e: Error) => log.error({ err: e.message }, "crash check failed"))
            .finally(() => {
              checking = false;
            });
        }, CRASH_POLL_MS),
        setInterval(() => void checkLogWriters().catch(() => undefined), LOG_WRITER_POLL_MS),
        setInterval(() => {
          guest
            .sampleAll()
            .then(() => bus.emit("stats", "*"))
            .catch((e: Error) => log.warn({ err: e.message }, "stats sample failed"));
        }, config.stats_poll_interval.value),
      );
    },
    async stop() {
      for (const t of timers) clearInterval(t);
      stopWatching();
      agents.closeAll();
      await dns.stop().catch(() => undefined);
      await guestDns.stop().catch(() => undefined);
      await network.close().catch((e: Error) => log.warn({ err: e.message }, "network close failed"));
      helper.close();
    },
  };
}

/** The VM firewall, the guests' resolver and `vm egress`, wired together. */
function isolation(
  config: ResolvedConfig,
  store: Store,
  gateway: string,
  records: VmRecords,
  helper: PrivilegedHelper,
  log: Logger,
) {
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

/** Every running VM with an address: the NAME.vm records after a (re)start. */
function runningRecords(store: Store): Map<string, string> {
  const m = new Map<string, string>();
  for (const vm of store.vms.list({ skipCorrupt: true }).items) {
    if (vm.state === "running" && vm.network) m.set(vm.name, vm.network.ip);
  }
  return m;
}

/** Keep NAME.vm and the agent connection in step with a VM's state. */
function syncVm(store: Store, records: VmRecords, guest: GuestService, name: string): void {
  const vm = store.vms.find(name);
  if (vm && vm.state === "running" && vm.network) {
    records.set(vm.name, vm.network.ip);
    return;
  }
  records.delete(name);
  if (vm) guest.forget(vm.id);
}

/** Stream change events to one subscriber until it disconnects. */
function watch(bus: ChangeBus, ctx: HandlerContext): Promise<null> {
  return new Promise((resolve) => {
    const off = bus.on((e) => ctx.emit(e));
    const done = () => {
      off();
      resolve(null);
    };
    if (ctx.signal.aborted) done();
    else ctx.signal.addEventListener("abort", done, { once: true });
  });
}
