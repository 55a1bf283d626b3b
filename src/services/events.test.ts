import assert from "node:assert/strict";
import { test } from "node:test";
import type { ChangeEvent } from "../api/protocol.js";
import { makeImage, makeVm } from "../store/fake/fixtures.js";
import { MemoryStore } from "../store/fake/MemoryStore.js";
import { SqliteStore } from "../store/sqlite/SqliteStore.js";
import { ChangeBus, notifyingStore } from "./events.js";

for (const [label, make] of [
  ["memory", () => new MemoryStore()],
  [
    "sqlite",
    () => {
      const s = new SqliteStore(":memory:");
      s.migrate();
      return s;
    },
  ],
] as const) {
  test(`every VM and image write is announced (${label} store), reads pass through`, () => {
    const bus = new ChangeBus();
    const seen: ChangeEvent[] = [];
    const off = bus.on((e) => seen.push(e));
    const store = notifyingStore(make(), bus);
    const img = store.images.insert(makeImage("tiny"));
    const vm = store.vms.insert(makeVm("a", img.id));
    store.vms.update(vm.id, { state: "running" });
    store.transaction(() => store.vms.update(vm.id, { state: "stopped" }));
    assert.equal(store.vms.get("a").state, "stopped");
    store.vms.delete(vm.id);
    store.images.delete(img.id);
    off();
    store.images.insert(makeImage("quiet"));
    assert.deepEqual(
      seen.map((e) => `${e.topic}:${e.name}`),
      ["image:tiny", "vm:a", "vm:a", "vm:a", "vm-deleted:a", "image:tiny"],
    );
  });
}
