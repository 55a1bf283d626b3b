/** Every RPC method the composed services answer, in one map. */

import type { CallInput } from "../../api/files.js";
import type { Handler, HandlerContext, InputListener } from "../../rpc/server.js";
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

/**
 * The handler runs at once (a call's inputs may follow it in the same read, so it must register
 * for them before they are dispatched); only a VM that is asleep is woken first, and the inputs
 * that arrive meanwhile are held and handed over in order.
 */
export function waking(vms: Pick<VmService, "scaleToZero">, inner: Handler): Handler {
  return (params, ctx) => {
    const name = (params as { name?: unknown } | null)?.name;
    const run = (c: HandlerContext) =>
      vms.scaleToZero.track(name as string, () => Promise.resolve(inner(params, c)));
    if (typeof name !== "string") return inner(params, ctx);
    if (!vms.scaleToZero.asleep(name)) return run(ctx);
    const held = holdInputs(ctx);
    return vms.scaleToZero.wake(name, (e) => ctx.emit(e)).then(() => run(held));
  };
}

/** A context whose inputs are taken now and delivered, in order, once the handler asks for them. */
function holdInputs(ctx: HandlerContext): HandlerContext {
  const early: CallInput[] = [];
  let deliver: InputListener | null = null;
  let chain: Promise<void> = Promise.resolve();
  const pass = (l: InputListener, i: CallInput) => {
    const p = chain.then(() => l(i));
    chain = p.catch(() => undefined);
    return p;
  };
  ctx.onInput((i) => (deliver ? pass(deliver, i) : void early.push(i)));
  return {
    ...ctx,
    onInput: (l) => {
      deliver = l;
      for (const i of early.splice(0)) void pass(l, i);
    },
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
