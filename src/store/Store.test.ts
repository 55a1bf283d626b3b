/** The Store contract, run against SqliteStore (in memory) and MemoryStore alike. */
import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { BangerError } from "../errors/index.js";
import type { Vm } from "../model/index.js";
import { FIXED_TIME, idFor, makeImage, makeKernel, makeVm } from "./fake/fixtures.js";
import { MemoryStore } from "./fake/MemoryStore.js";
import type { Store } from "./Store.js";
import { SqliteStore } from "./sqlite/SqliteStore.js";

const NOW = new Date("2025-06-01T12:00:00.000Z");

function code(c: string, msg?: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof BangerError, `expected a BangerError, got ${String(e)}`);
    assert.equal(e.code, c, e.message);
    if (msg) assert.match(e.message, msg);
    return true;
  };
}

const FULL_VM: Partial<Vm> = {
  state: "running",
  vmm: {
    driver: "qemu",
    pid: 4242,
    controlSocket: "/run/vm/qmp.sock",
    agentSocket: "/run/vm/agent.sock",
    acceleration: "tcg",
  },
  driver: "qemu",
  network: { ip: "172.30.0.2", mac: "06:00:ac:1e:00:02", tap: "bg0" },
  startedAt: new Date("2025-01-03T00:00:00.000Z"),
  stoppedAt: new Date("2025-01-04T00:00:00.000Z"),
  lastError: "it went wrong",
  exit: { code: null, signal: "SIGKILL" },
  bootTimings: [
    { name: "tap", ms: 3 },
    { name: "boot", ms: 120 },
  ],
};

function kernelsContract(open: () => Store): void {
  describe("kernels", () => {
    let s: Store;
    beforeEach(() => {
      s = open();
    });
    it("inserts, reads back by name and id, and lists by name", () => {
      const k = makeKernel("zeta", { initrdPath: "/i", modulesDir: "/m", source: "recipe" });
      assert.deepEqual(s.kernels.insert(k), k);
      s.kernels.insert(makeKernel("alpha"));
      assert.deepEqual(s.kernels.get("zeta"), k);
      assert.deepEqual(s.kernels.getById(k.id), k);
      assert.equal(s.kernels.find("nope"), undefined);
      assert.deepEqual(
        s.kernels.list().map((x) => x.name),
        ["alpha", "zeta"],
      );
      assert.deepEqual(s.kernels.list({ skipCorrupt: true }).problems, []);
    });

    it("refuses a duplicate name with ALREADY_EXISTS naming it and hinting at another name", () => {
      s.kernels.insert(makeKernel("k"));
      assert.throws(
        () => s.kernels.insert(makeKernel("k", { id: idFor("other") })),
        (e: unknown) =>
          code("ALREADY_EXISTS", /kernel named "k"/)(e) && /another name/.test((e as BangerError).hint ?? ""),
      );
      assert.throws(
        () => s.kernels.insert(makeKernel("k2", { id: idFor("kernel:k") })),
        code("ALREADY_EXISTS"),
      );
    });

    it("refuses an id that is not 16 hex characters", () => {
      assert.throws(() => s.kernels.insert(makeKernel("k", { id: "a-b" })), code("INVALID_ARGUMENT"));
    });

    it("NOT_FOUND names the missing kernel", () => {
      assert.throws(() => s.kernels.get("gone"), code("NOT_FOUND", /no kernel named "gone"/));
      assert.throws(() => s.kernels.getById(idFor("x")), code("NOT_FOUND"));
      assert.throws(() => s.kernels.delete(idFor("x")), code("NOT_FOUND"));
    });

    it("refuses to delete a kernel images use, naming them", () => {
      const k = s.kernels.insert(makeKernel());
      s.images.insert(makeImage("b", { kernelId: k.id }));
      s.images.insert(makeImage("a", { kernelId: k.id }));
      assert.throws(() => s.kernels.delete(k.id), code("CONFLICT", /used by images "a", "b"/));
      assert.deepEqual(
        s.images.imagesUsingKernel(k.id).map((i) => i.name),
        ["a", "b"],
      );
      s.images.delete(idFor("image:a"));
      s.images.delete(idFor("image:b"));
      s.kernels.delete(k.id);
      assert.deepEqual(s.kernels.list(), []);
    });
  });
}

function imagesContract(open: () => Store): void {
  describe("images", () => {
    let s: Store;
    beforeEach(() => {
      s = open();
    });
    it("round-trips every field", () => {
      const img = makeImage("own", {
        kernelPath: "/k",
        initrdPath: "/i",
        description: "",
        source: "register",
      });
      assert.deepEqual(s.images.insert(img), img);
      assert.deepEqual(s.images.get("own"), img);
      assert.deepEqual(s.images.getById(img.id), img);
      const withCaps = makeImage("caps", { capabilities: { agent: false, sshd: true } });
      assert.deepEqual(s.images.insert(withCaps), withCaps);
    });

    it("records capabilities detected later; NOT_FOUND for an unknown id", () => {
      const img = s.images.insert(makeImage("late"));
      assert.equal(img.capabilities, null);
      const caps = { agent: true, sshd: false };
      assert.deepEqual(s.images.setCapabilities(img.id, caps), { ...img, capabilities: caps });
      assert.deepEqual(s.images.get("late").capabilities, caps);
      assert.throws(() => s.images.setCapabilities(idFor("nope"), caps), code("NOT_FOUND"));
    });

    it("refuses an unknown kernel id, and duplicate names", () => {
      assert.throws(
        () => s.images.insert(makeImage("x", { kernelId: idFor("nokernel") })),
        code("NOT_FOUND"),
      );
      s.images.insert(makeImage("x"));
      assert.throws(() => s.images.insert(makeImage("x", { id: idFor("y") })), code("ALREADY_EXISTS", /"x"/));
      assert.throws(() => s.images.get("y"), code("NOT_FOUND", /no image named "y"/));
    });

    it("refuses to delete an image VMs use, naming the VMs", () => {
      const img = s.images.insert(makeImage());
      s.vms.insert(makeVm("web", img.id));
      s.vms.insert(makeVm("db", img.id));
      assert.throws(() => s.images.delete(img.id), code("CONFLICT", /used by VMs "db", "web"/));
      assert.deepEqual(
        s.vms.vmsUsingImage(img.id).map((v) => v.name),
        ["db", "web"],
      );
    });
  });
}

function vmsContract(open: () => Store): void {
  describe("vms", () => {
    let s: Store;
    beforeEach(() => {
      s = open();
    });
    let imageId: string;
    beforeEach(() => {
      imageId = s.images.insert(makeImage()).id;
    });

    it("round-trips a VM with every optional part set", () => {
      const vm = s.vms.insert(makeVm("full", imageId, FULL_VM));
      assert.deepEqual(vm, { ...makeVm("full", imageId, FULL_VM), cid: 3 });
      assert.deepEqual(s.vms.get("full"), vm);
      assert.deepEqual(s.vms.get(vm.id), vm);
      assert.deepEqual(s.vms.list(), [vm]);
    });

    it("round-trips exit info with both parts null, and empty timings", () => {
      const vm = s.vms.insert(makeVm("x", imageId, { exit: { code: null, signal: null }, bootTimings: [] }));
      assert.deepEqual(vm.exit, { code: null, signal: null });
      assert.deepEqual(vm.bootTimings, []);
    });

    it("finds by name before id, and says which VM is missing", () => {
      const a = s.vms.insert(makeVm("a", imageId));
      const b = s.vms.insert(makeVm(a.id, imageId, { id: idFor("b") }));
      assert.equal(s.vms.get(a.id).id, b.id);
      assert.equal(s.vms.find("missing"), undefined);
      assert.throws(() => s.vms.get("missing"), code("NOT_FOUND", /no VM named "missing"/));
    });

    it("assigns the smallest free CID from 3 and reuses freed ones", () => {
      const cids = ["a", "b", "c"].map((n) => s.vms.insert(makeVm(n, imageId)).cid);
      assert.deepEqual(cids, [3, 4, 5]);
      s.vms.delete(idFor("vm:b"));
      assert.equal(s.vms.insert(makeVm("d", imageId)).cid, 4);
      assert.equal(s.allocateCid(idFor("vm:d")), 4);
      assert.throws(() => s.allocateCid(idFor("nobody")), code("NOT_FOUND"));
    });

    it("refuses a CID that is taken or out of range", () => {
      s.vms.insert(makeVm("a", imageId, { cid: 10 }));
      assert.throws(() => s.vms.insert(makeVm("b", imageId, { cid: 10 })), code("CONFLICT", /CID 10.*"a"/));
      assert.throws(() => s.vms.insert(makeVm("c", imageId, { cid: 2 })), code("INVALID_ARGUMENT"));
      assert.equal(s.vms.insert(makeVm("d", imageId)).cid, 3);
    });

    it("refuses duplicates, unknown images and bad ids", () => {
      s.vms.insert(makeVm("a", imageId));
      assert.throws(
        () => s.vms.insert(makeVm("a", imageId, { id: idFor("z") })),
        code("ALREADY_EXISTS", /VM named "a"/),
      );
      assert.throws(() => s.vms.insert(makeVm("b", idFor("noimage"))), code("NOT_FOUND", /image/));
      assert.throws(() => s.vms.insert(makeVm("c", imageId, { id: "ABC" })), code("INVALID_ARGUMENT"));
      assert.equal(s.vms.list().length, 1);
    });
  });
}

function vmUpdatesContract(open: () => Store): void {
  describe("vm updates and deletes", () => {
    let s: Store;
    beforeEach(() => {
      s = open();
    });
    let imageId: string;
    beforeEach(() => {
      imageId = s.images.insert(makeImage()).id;
    });

    it("updates fields, stamps updatedAt, and keeps id and createdAt", () => {
      const vm = s.vms.insert(makeVm("a", imageId));
      const up = s.vms.update(vm.id, { ...FULL_VM, lastError: undefined });
      assert.equal(up.state, "running");
      assert.deepEqual(up.vmm, FULL_VM.vmm);
      assert.equal(up.lastError, null, "undefined in a patch leaves the field alone");
      assert.deepEqual(up.updatedAt, NOW);
      assert.deepEqual(up.createdAt, FIXED_TIME);
      const cleared = s.vms.update(vm.id, { vmm: null, network: null, exit: null, updatedAt: FIXED_TIME });
      assert.equal(cleared.vmm, null);
      assert.deepEqual(cleared.updatedAt, FIXED_TIME);
      assert.deepEqual(s.vms.get("a"), cleared);
    });

    it("update refuses a taken name, an unknown VM and a taken CID", () => {
      const a = s.vms.insert(makeVm("a", imageId));
      const b = s.vms.insert(makeVm("b", imageId));
      assert.throws(() => s.vms.update(b.id, { name: "a" }), code("ALREADY_EXISTS"));
      assert.throws(() => s.vms.update(b.id, { cid: a.cid }), code("CONFLICT"));
      assert.throws(() => s.vms.update(idFor("x"), { state: "error" }), code("NOT_FOUND"));
      assert.equal(s.vms.get(b.id).name, "b");
      assert.equal(s.vms.update(b.id, { name: "c" }).name, "c");
    });

    it("hands out copies: changing a returned VM does not change the store", () => {
      const vm = s.vms.insert(makeVm("a", imageId, FULL_VM));
      vm.spec.vcpu = 99;
      vm.bootTimings?.push({ name: "x", ms: 1 });
      assert.equal(s.vms.get("a").spec.vcpu, 2);
      assert.equal(s.vms.get("a").bootTimings?.length, 2);
    });

    it("delete removes the VM and its lease", () => {
      const vm = s.vms.insert(makeVm("a", imageId));
      s.allocateLease(vm.id, ["10.0.0.2"]);
      s.vms.delete(vm.id);
      assert.deepEqual(s.listLeases(), []);
      assert.throws(() => s.vms.delete(vm.id), code("NOT_FOUND"));
    });
  });
}

function leasesContract(open: () => Store): void {
  describe("leases", () => {
    let s: Store;
    beforeEach(() => {
      s = open();
    });
    let ids: string[];
    beforeEach(() => {
      const img = s.images.insert(makeImage());
      ids = ["a", "b", "c"].map((n) => s.vms.insert(makeVm(n, img.id)).id);
    });
    const pool = ["10.0.0.2", "10.0.0.3"];

    it("takes the first free candidate, keeps one lease per VM, and frees on release", () => {
      assert.equal(s.allocateLease(ids[0]!, pool), "10.0.0.2");
      assert.equal(s.allocateLease(ids[1]!, pool), "10.0.0.3");
      assert.equal(s.allocateLease(ids[0]!, pool), "10.0.0.2");
      assert.throws(
        () => s.allocateLease(ids[2]!, pool, { subnet: "10.0.0.0/30" }),
        code("CONFLICT", /no free address in 10\.0\.0\.0\/30/),
      );
      s.releaseLease(ids[0]!);
      s.releaseLease(ids[0]!);
      assert.equal(s.allocateLease(ids[2]!, pool), "10.0.0.2");
      assert.deepEqual(
        s.listLeases().map((l) => [l.ip, l.vmId]),
        [
          ["10.0.0.2", ids[2]],
          ["10.0.0.3", ids[1]],
        ].sort(),
      );
      assert.deepEqual(s.listLeases()[0]!.createdAt, NOW);
    });

    it("reads candidates lazily and refuses unknown VMs", () => {
      let pulled = 0;
      function* gen() {
        for (let i = 2; ; i++) {
          pulled++;
          yield `10.0.0.${i}`;
        }
      }
      assert.equal(s.allocateLease(ids[0]!, gen()), "10.0.0.2");
      assert.equal(pulled, 1);
      assert.throws(() => s.allocateLease(idFor("ghost"), pool), code("NOT_FOUND"));
    });
  });
}

function transactionsContract(open: () => Store): void {
  describe("transactions", () => {
    let s: Store;
    beforeEach(() => {
      s = open();
    });
    it("commits what the function did, and undoes all of it when it throws", () => {
      s.transaction(() => s.kernels.insert(makeKernel("kept")));
      assert.throws(
        () =>
          s.transaction(() => {
            s.kernels.insert(makeKernel("lost"));
            s.kernels.delete(idFor("kernel:kept"));
            throw new Error("boom");
          }),
        /boom/,
      );
      assert.deepEqual(
        s.kernels.list().map((k) => k.name),
        ["kept"],
      );
    });

    it("nests: an inner failure caught by the outer function undoes only the inner part", () => {
      s.transaction(() => {
        s.kernels.insert(makeKernel("outer"));
        try {
          s.transaction(() => {
            s.kernels.insert(makeKernel("inner"));
            throw new Error("inner");
          });
        } catch {}
      });
      assert.deepEqual(
        s.kernels.list().map((k) => k.name),
        ["outer"],
      );
    });
  });
}

function contract(label: string, open: () => Store): void {
  describe(`Store contract: ${label}`, () => {
    kernelsContract(open);
    imagesContract(open);
    vmsContract(open);
    vmUpdatesContract(open);
    leasesContract(open);
    transactionsContract(open);
  });
}

contract("SqliteStore", () => {
  const s = new SqliteStore(":memory:", { now: () => NOW });
  s.migrate();
  return s;
});
contract("MemoryStore", () => new MemoryStore({ now: () => NOW }));
