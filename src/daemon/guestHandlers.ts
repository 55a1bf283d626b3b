/** RPC handlers that reach into guests (agent) and the stats cache. */
import type { Handler } from "../rpc/server.js";
import { asObject, optString, reqString } from "../services/params.js";
import type { GuestService } from "../services/vms/GuestService.js";

export function guestHandlers(guest: GuestService): Map<string, Handler> {
  const h = new Map<string, Handler>();
  h.set("vm.health", (raw) => guest.health(reqString(asObject(raw), "name")));
  h.set("vm.ports", async (raw) => ({ ports: await guest.ports(reqString(asObject(raw), "name")) }));
  h.set("vm.stats", (raw) => ({ stats: guest.stats(optString(asObject(raw), "name")) }));
  return h;
}
