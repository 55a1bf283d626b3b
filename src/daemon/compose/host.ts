/** The host adapters every service shares: commands, the privileged helper, the bridge and the disks. */

import type { Logger } from "pino";
import type { ResolvedConfig } from "../../config/types.js";
import { HelperClient } from "../../host/helper/HelperClient.js";
import { directHelperEnv, HELPER_START_HINT, helperCommand } from "../../host/helper/install.js";
import { NodeCommandRunner } from "../../host/node/NodeCommandRunner.js";
import { NodeHostProbe } from "../../host/node/NodeHostProbe.js";
import { Ext4DiskManager } from "../../services/disks/Ext4DiskManager.js";
import { IpNetworkManager } from "../../services/network/IpNetworkManager.js";
import { tapOwner } from "../vmmIdentity.js";

export interface HostParts {
  runner: NodeCommandRunner;
  probe: NodeHostProbe;
  helper: HelperClient;
  network: IpNetworkManager;
  disks: Ext4DiskManager;
}

export function hostParts(config: ResolvedConfig, log: Logger): HostParts {
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
  const disks = new Ext4DiskManager({ runner });
  return { runner, probe, helper, network, disks };
}
