/** The VM service: the host adapters, the image catalog and the firewall behind `vm *`. */

import path from "node:path";
import type { Logger } from "pino";
import { ensureSshKey, hostResources, type Paths, resolveVmDefaults } from "../../config/index.js";
import type { ResolvedConfig } from "../../config/types.js";
import { preflight } from "../../doctor/run.js";
import type { FirewallService } from "../../services/network/firewall/FirewallService.js";
import { generateHostKey, SshFiles } from "../../services/ssh/SshFiles.js";
import { AgentGuestOps } from "../../services/vms/guestOps.js";
import { VmService } from "../../services/vms/VmService.js";
import type { Store } from "../../store/Store.js";
import { loggerBinary } from "../../vmm/logger/build.js";
import { RotatingLogs } from "../../vmm/logger/vmLogs.js";
import { realCheckContext } from "../doctor.js";
import { RealDriverProvider } from "../drivers.js";
import { vmmIdentity } from "../vmmIdentity.js";
import type { CatalogParts } from "./catalog.js";
import type { GuestParts } from "./guest.js";
import type { HostParts } from "./host.js";

export interface VmServiceParts {
  paths: Paths;
  config: ResolvedConfig;
  store: Store;
  host: HostParts;
  catalog: CatalogParts;
  firewall: FirewallService;
  guest: GuestParts;
  log: Logger;
}

export function vmService(p: VmServiceParts): VmService {
  const { paths, config, host, catalog } = p;
  const checkCtx = realCheckContext(paths, config);
  const { images, agents, guest } = p.guest;
  const vmLogs = new RotatingLogs({
    binary: loggerBinary(host.runner, path.join(paths.cacheDir, "bin")),
    caps: () => ({ maxBytes: config.logs.max_size.value, keep: config.logs.keep.value }),
  });
  const store = p.store;
  return new VmService({
    guest: new AgentGuestOps(
      agents,
      async (vm) => (await images.capabilities(store.images.getById(vm.imageId))).agent,
    ),
    store,
    poolSize: config.pool.size.value,
    autoSuspendMs: config.auto_suspend_after.value,
    cpuPercent: (vm) => guest.stats(vm.name)[0]?.cpuPercent ?? null,
    ready: async (vm, ms) =>
      guest.waitReady(vm.name, ms, AbortSignal.timeout(ms + 1000)).then(
        (h) => h.status === "healthy",
        () => false,
      ),
    network: host.network,
    disks: host.disks,
    drivers: new RealDriverProvider(config, host.probe, () => vmmIdentity(), vmLogs),
    helper: host.helper,
    sshKey: {
      get: async () => {
        const k = await ensureSshKey(config, paths, host.runner);
        return { privateKey: k.privateKey, publicKey: k.publicKey };
      },
    },
    hostKeys: { generate: (vmDir, name) => generateHostKey(host.runner, vmDir, name) },
    sshFiles: new SshFiles(paths.sshDir),
    vmsDir: paths.vmsDir,
    defaults: () => {
      const d = resolveVmDefaults(config, hostResources());
      return { vcpu: d.vcpu.value, memoryMib: d.memoryMib.value, diskSizeBytes: d.diskSizeBytes.value };
    },
    defaultImage: config.default_image_name.value,
    images: {
      available: async () => (await catalog.catalogs.load("image")).names(),
      ensure: (name, onProgress) => catalog.pulls.pullImage(name, { onProgress }),
    },
    fileSync: config.file_sync.value,
    preflight: (ids) => preflight(checkCtx, ids),
    log: p.log,
    firewall: p.firewall,
    egress: { fallback: p.firewall.egressOf({}), nat: config.network.nat.value },
  });
}
