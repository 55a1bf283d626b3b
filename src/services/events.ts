import { EventEmitter } from "node:events";
import type { ChangeEvent } from "../api/protocol.js";
import type { Store } from "../store/Store.js";

/** In-process change notifications (VMs, images, kernels, stats) for events.watch, DNS and the TUI. */
export class ChangeBus {
  private readonly ee = new EventEmitter();

  constructor() {
    this.ee.setMaxListeners(0);
  }

  emit(topic: ChangeEvent["topic"], name: string, state?: ChangeEvent["state"]): void {
    const e: ChangeEvent = state ? { kind: "change", topic, name, state } : { kind: "change", topic, name };
    this.ee.emit("change", e);
  }

  /** Returns the unsubscribe function. */
  on(fn: (e: ChangeEvent) => void): () => void {
    this.ee.on("change", fn);
    return () => this.ee.off("change", fn);
  }
}

/**
 * The store, announcing every write of a VM, image or kernel on the bus, so
 * no service has to remember to. Reads pass straight through.
 */
export function notifyingStore(store: Store, bus: ChangeBus): Store {
  const vms = store.vms;
  const images = store.images;
  const kernels = store.kernels;
  const nameOfVm = (id: string) => vms.find(id)?.name;
  return Object.assign(Object.create(store) as Store, {
    vms: Object.assign(Object.create(vms) as typeof vms, {
      insert: (v: Parameters<typeof vms.insert>[0]) =>
        tap(vms.insert(v), (r) => bus.emit("vm", r.name, r.state)),
      update: (id: string, patch: Parameters<typeof vms.update>[1]) => {
        const before = patch.name === undefined ? undefined : nameOfVm(id);
        return tap(vms.update(id, patch), (r) => {
          if (before !== undefined && before !== r.name) bus.emit("vm-deleted", before); // a rename
          bus.emit("vm", r.name, r.state);
        });
      },
      delete: (id: string) => {
        const name = nameOfVm(id);
        vms.delete(id);
        if (name) bus.emit("vm-deleted", name);
      },
    }),
    images: Object.assign(Object.create(images) as typeof images, {
      insert: (i: Parameters<typeof images.insert>[0]) =>
        tap(images.insert(i), (r) => bus.emit("image", r.name)),
      delete: (id: string) => {
        const name = images.list({ skipCorrupt: true }).items.find((i) => i.id === id)?.name;
        images.delete(id);
        if (name) bus.emit("image", name);
      },
    }),
    kernels: Object.assign(Object.create(kernels) as typeof kernels, {
      insert: (k: Parameters<typeof kernels.insert>[0]) =>
        tap(kernels.insert(k), (r) => bus.emit("kernel", r.name)),
      delete: (id: string) => {
        const name = kernels.list({ skipCorrupt: true }).items.find((k) => k.id === id)?.name;
        kernels.delete(id);
        if (name) bus.emit("kernel", name);
      },
    }),
  });
}

function tap<T>(v: T, fn: (v: T) => void): T {
  fn(v);
  return v;
}
