/** Every RPC method the composed services answer, in one map. */

import type { Handler, HandlerContext } from "../../rpc/server.js";
import type { ChangeBus } from "../../services/events.js";
import type { EgressService } from "../../services/network/firewall/EgressService.js";
import type { VmService } from "../../services/vms/VmService.js";
import { catalogHandlers } from "../catalogHandlers.js";
import { egressHandlers } from "../egressHandlers.js";
import { guestHandlers } from "../guestHandlers.js";
import { vmHandlers } from "../handlers.js";
import { streamHandlers } from "../streamHandlers.js";
import type { CatalogParts } from "./catalog.js";
import type { GuestParts } from "./guest.js";

export interface HandlerParts {
  vms: VmService;
  guest: GuestParts;
  catalog: CatalogParts;
  egress: EgressService;
  bus: ChangeBus;
}

export function allHandlers(p: HandlerParts): Map<string, Handler> {
  const { images, guest } = p.guest;
  const handlers = vmHandlers(p.vms, images, guest);
  for (const [k, v] of guestHandlers(guest)) handlers.set(k, v);
  for (const [k, v] of streamHandlers(guest)) handlers.set(k, v);
  for (const [k, v] of catalogHandlers(p.catalog.pulls, p.catalog.kernels, images)) handlers.set(k, v);
  for (const [k, v] of egressHandlers(p.egress)) handlers.set(k, v);
  handlers.set("events.watch", (_p, ctx) => watch(p.bus, ctx));
  for (const m of WAKING_METHODS) {
    const inner = handlers.get(m);
    if (inner) handlers.set(m, waking(p.vms, inner));
  }
  return handlers;
}

/** The calls that use a VM's guest: they wake a VM that suspended itself, and count as its activity. */
const WAKING_METHODS = ["vm.exec", "vm.cpIn", "vm.cpOut", "vm.sshInfo", "vm.waitReady", "vm.ports"];

function waking(vms: VmService, inner: Handler): Handler {
  return async (params, ctx) => {
    const name = (params as { name?: unknown } | null)?.name;
    if (typeof name !== "string") return inner(params, ctx);
    await vms.scaleToZero.wake(name, (e) => ctx.emit(e));
    return vms.scaleToZero.track(name, () => Promise.resolve(inner(params, ctx)));
  };
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
