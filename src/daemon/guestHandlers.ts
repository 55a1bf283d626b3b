/** RPC handlers that reach into guests (agent) and the stats cache; params are schema-checked. */
import { on } from "../api/schema/validate.js";
import type { Handler } from "../rpc/server.js";
import type { GuestService } from "../services/vms/GuestService.js";

export function guestHandlers(guest: GuestService): Map<string, Handler> {
  const h = new Map<string, Handler>();
  on(h, "vm.health", (p) => guest.health(p.name));
  on(h, "vm.waitReady", (p, ctx) => guest.waitReady(p.name, p.timeoutMs ?? 120_000, ctx.signal));
  on(h, "vm.ports", async (p) => ({ ports: await guest.ports(p.name) }));
  on(h, "vm.stats", (p) => ({ stats: guest.stats(p.name) }));
  return h;
}
