import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import type { BangerError } from "../errors/index.js";
import { FIXED_TIME, makeImage, makeKernel } from "../store/fake/fixtures.js";
import { MemoryStore } from "../store/fake/MemoryStore.js";
import { Catalog } from "./catalog.js";
import { KernelService } from "./KernelService.js";
import type { CatalogKind, ResolvedEntry } from "./types.js";

const root = mkdtempSync(path.join(os.tmpdir(), "banger-kern-"));
after(() => rmSync(root, { recursive: true, force: true }));

const SHA = "c".repeat(64);
const entries: Record<CatalogKind, ResolvedEntry[]> = {
  image: [
    {
      kind: "image",
      name: "deb",
      version: "12",
      arch: "x86_64",
      description: "Debian",
      sizeBytes: 5,
      kernel: "k6",
      recipe: "debian-bookworm",
      origin: "embedded",
    },
    {
      kind: "image",
      name: "mine",
      version: "1",
      arch: "x86_64",
      description: "",
      sizeBytes: 5,
      bundle: { url: "https://x.test/m.tar.gz", sha256: SHA, sizeBytes: 3 },
      origin: "https://x.test/images.json",
    },
  ],
  kernel: [
    {
      kind: "kernel",
      name: "k6",
      version: "6.1",
      arch: "x86_64",
      description: "",
      sizeBytes: 5,
      recipe: "debian-kernel",
      origin: "embedded",
    },
  ],
};

function setup() {
  const store = new MemoryStore();
  const kernelsDir = path.join(root, `kernels-${Math.random().toString(16).slice(2)}`);
  const svc = new KernelService({
    store,
    kernelsDir,
    catalogs: { load: async (kind) => new Catalog(kind, entries[kind]) },
    log: { info: () => {} },
  });
  return { store, svc, kernelsDir };
}

function installKernel(store: MemoryStore, kernelsDir: string, name: string) {
  const k = makeKernel(name);
  const dir = path.join(kernelsDir, k.id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "vmlinux"), "\x7fELF");
  return store.kernels.insert({ ...k, vmlinuxPath: path.join(dir, "vmlinux") });
}

describe("KernelService", () => {
  it("views kernels with the images that use them", () => {
    const { store, svc, kernelsDir } = setup();
    const k = installKernel(store, kernelsDir, "k6");
    store.images.insert(makeImage("deb", { kernelId: k.id }));
    const v = svc.show("k6");
    assert.deepEqual(v, {
      id: k.id,
      name: "k6",
      version: "6.1.0",
      arch: "x86_64",
      vmlinuxPath: k.vmlinuxPath,
      initrdPath: null,
      modulesDir: null,
      source: "pull",
      createdAt: FIXED_TIME.toISOString(),
      usedBy: ["deb"],
    });
    assert.deepEqual(
      svc.list().kernels.map((x) => x.name),
      ["k6"],
    );
  });

  it("refuses to delete a kernel images use, naming them; then deletes it and its files", async () => {
    const { store, svc, kernelsDir } = setup();
    const k = installKernel(store, kernelsDir, "k6");
    const a = store.images.insert(makeImage("a", { kernelId: k.id }));
    store.images.insert(makeImage("b", { kernelId: k.id }));
    const e = await svc.delete("k6").then(
      () => assert.fail("deleted"),
      (x: BangerError) => x,
    );
    assert.equal(e.code, "CONFLICT");
    assert.equal(e.message, 'kernel "k6" is used by images "a", "b"');
    assert.match(e.hint ?? "", /banger image delete a/);
    store.images.delete(a.id);
    store.images.delete(store.images.get("b").id);
    assert.deepEqual(await svc.delete("k6"), { deleted: "k6" });
    assert.equal(existsSync(path.join(kernelsDir, k.id)), false);
    assert.equal(store.kernels.find("k6"), undefined);
    assert.equal(((await svc.delete("k6").catch((x) => x)) as BangerError).code, "NOT_FOUND");
  });

  it("lists catalog entries with installed flags", async () => {
    const { store, svc, kernelsDir } = setup();
    installKernel(store, kernelsDir, "k6");
    store.images.insert(makeImage("mine"));
    const images = (await svc.available("image")).entries;
    assert.deepEqual(images[0], {
      kind: "image",
      name: "deb",
      version: "12",
      arch: "x86_64",
      description: "Debian",
      sizeBytes: 5,
      kernel: "k6",
      hasBundle: false,
      hasRecipe: true,
      origin: "embedded",
      installed: false,
    });
    assert.equal(images[1]?.installed, true);
    assert.equal(images[1]?.hasBundle, true);
    assert.equal(images[1]?.origin, "https://x.test/images.json");
    const kernels = (await svc.available("kernel")).entries;
    assert.deepEqual(
      kernels.map((k) => [k.name, k.installed, "kernel" in k]),
      [["k6", true, false]],
    );
  });
});
