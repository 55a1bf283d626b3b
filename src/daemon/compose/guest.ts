/** Local images and the guest side of running VMs: agents, stats, files, exec. */

import type { Logger } from "pino";
import type { Paths } from "../../config/index.js";
import { readSshBanner } from "../../host/node/sshBanner.js";
import { ImageBuilder } from "../../images/ImageBuilder.js";
import { AgentPool } from "../../services/agent/AgentPool.js";
import { ImageService } from "../../services/images/ImageService.js";
import { StatsSampler } from "../../services/stats/StatsSampler.js";
import { GuestService } from "../../services/vms/GuestService.js";
import type { Store } from "../../store/Store.js";
import type { HostParts } from "./host.js";

export interface GuestParts {
  images: ImageService;
  agents: AgentPool;
  guest: GuestService;
}

export function guestParts(paths: Paths, store: Store, host: HostParts, log: Logger): GuestParts {
  const images = new ImageService({
    store,
    disks: host.disks,
    runner: host.runner,
    imagesDir: paths.imagesDir,
    logsDir: paths.logsDir,
    builder: new ImageBuilder({ runner: host.runner }),
    log,
  });
  const agents = new AgentPool();
  const guest = new GuestService({
    store,
    agents,
    sampler: new StatsSampler({ runner: host.runner }),
    capabilitiesOf: (vm) => images.capabilities(store.images.getById(vm.imageId)),
    sshBanner: readSshBanner,
  });
  return { images, agents, guest };
}
