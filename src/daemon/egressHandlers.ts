/** RPC for egress policies: `vm.egress` (show or change); params are schema-checked (api/schema/vms.ts). */
import { on } from "../api/schema/validate.js";
import type { Handler } from "../rpc/server.js";
import type { EgressService } from "../services/network/firewall/EgressService.js";

export function egressHandlers(egress: EgressService): Map<string, Handler> {
  const h = new Map<string, Handler>();
  on(h, "vm.egress", (p) =>
    egress.egress({
      name: p.name,
      ...(p.egress !== undefined ? { egress: p.egress } : {}),
      ...(p.peers !== undefined ? { peers: p.peers } : {}),
    }),
  );
  return h;
}
