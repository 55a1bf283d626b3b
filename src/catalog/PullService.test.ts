import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, beforeEach, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import type { ProgressEvent } from "../api/protocol.js";
import { BangerError } from "../errors/index.js";
import { ext4Problem } from "../services/disks/ext4.js";
import { MemoryStore } from "../store/fake/MemoryStore.js";
import { writeBundle } from "./bundle.js";
import { Catalog } from "./catalog.js";
import { FakeRecipeRunner, fakeElfBytes, fakeExt4Bytes } from "./FakeRecipeRunner.js";
import { PullService } from "./PullService.js";
import { sha256 } from "./testFixtures.js";
import { closedPort } from "./testHttp.js";
import type { CatalogEntry, CatalogKind, ResolvedEntry } from "./types.js";

const root = mkdtempSync(path.join(os.tmpdir(), "banger-pull-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

const log = { info: () => {}, warn: () => {} };

interface Setup {
  svc: PullService;
  store: MemoryStore;
  recipes: FakeRecipeRunner;
  imagesDir: string;
  kernelsDir: string;
  events: ProgressEvent[];
  onProgress: (e: ProgressEvent) => void;
}

function setup(images: CatalogEntry[], kernels: CatalogEntry[], checkExt4 = ext4Problem): Setup {
  const dir = path.join(root, `s${n++}`);
  const imagesDir = path.join(dir, "images");
  const kernelsDir = path.join(dir, "kernels");
  const store = new MemoryStore();
  const recipes = new FakeRecipeRunner();
  const resolve = (kind: CatalogKind, es: CatalogEntry[]): ResolvedEntry[] =>
    es.map((e) => ({ ...e, kind, origin: "test" }));
  const catalogs = {
    load: async (kind: CatalogKind) =>
      new Catalog(kind, kind === "image" ? resolve("image", images) : resolve("kernel", kernels)),
  };
  const svc = new PullService({
    store,
    catalogs,
    recipes,
    imagesDir,
    kernelsDir,
    checkExt4,
    log,
    download: { retries: 1, backoffMs: 1 },
  });
  const events: ProgressEvent[] = [];
  return { svc, store, recipes, imagesDir, kernelsDir, events, onProgress: (e) => events.push(e) };
}

const ROOTFS = fakeExt4Bytes(256 * 1024);
const SEED = fakeExt4Bytes(64 * 1024);
const ELF = fakeElfBytes();

function file(body: Buffer): string {
  const f = path.join(root, `f${n++}`);
  writeFileSync(f, body);
  return f;
}

async function bundleOf(kind: CatalogKind, name: string, files: Record<string, Buffer>) {
  const out = path.join(root, `${name}-${n++}.tar.gz`);
  const paths = Object.fromEntries(Object.entries(files).map(([r, b]) => [r, file(b)]));
  const w = await writeBundle(out, { kind, name, version: "1.0-b", arch: "x86_64", files: paths });
  return { url: pathToFileURL(out).href, sha256: w.sha256, sizeBytes: w.sizeBytes };
}

const entry = (name: string, over: Partial<CatalogEntry> = {}): CatalogEntry => ({
  name,
  version: "1.0",
  arch: "x86_64",
  description: `${name} test`,
  sizeBytes: 1,
  ...over,
});

async function refused(p: Promise<unknown>): Promise<BangerError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof BangerError, String(e));
    return e;
  }
  assert.fail("expected a failure");
}

/** Nothing under the state dirs but the given ids. */
function assertOnly(dir: string, ids: string[]): void {
  const have = existsSync(dir) ? readdirSync(dir).sort() : [];
  assert.deepEqual(have, [...ids].sort());
}

describe("PullService", () => {
  let kBundle: CatalogEntry["bundle"];
  let iBundle: CatalogEntry["bundle"];
  beforeEach(async () => {
    kBundle ??= await bundleOf("kernel", "k", { vmlinux: ELF });
    iBundle ??= await bundleOf("image", "img", { rootfs: ROOTFS, workSeed: SEED });
  });

  it("pulls the missing kernel first, then the image, from bundles", async () => {
    const s = setup([entry("img", { kernel: "k", bundle: iBundle })], [entry("k", { bundle: kBundle })]);
    const img = await s.svc.pullImage("img", { onProgress: s.onProgress });
    const k = s.store.kernels.get("k");
    assert.equal(img.kernelId, k.id);
    assert.equal(img.source, "pull");
    assert.equal(img.version, "1.0");
    assert.equal(img.rootfsPath, path.join(s.imagesDir, img.id, "rootfs.ext4"));
    assert.deepEqual(readFileSync(img.rootfsPath), ROOTFS);
    assert.deepEqual(readFileSync(k.vmlinuxPath), ELF);
    assert.equal(img.sizeBytes, ROOTFS.length + SEED.length);
    assertOnly(s.imagesDir, [img.id]);
    assertOnly(s.kernelsDir, [k.id]);
    const firstKernel = s.events.findIndex((e) => e.stage === "pull:kernel");
    const imageDone = s.events.findIndex((e) => e.message === "image img 1.0 installed");
    assert.ok(firstKernel >= 0 && firstKernel < imageDone);
    assert.ok(s.events.some((e) => e.stage === "pull:download" && e.current !== undefined));
  });

  it("uses an installed kernel, and refuses a name that exists with a hint", async () => {
    const s = setup([entry("img", { kernel: "k", bundle: iBundle })], [entry("k", { bundle: kBundle })]);
    const k = await s.svc.pullKernel("k");
    const img = await s.svc.pullImage("img");
    assert.equal(img.kernelId, k.id);
    const e = await refused(s.svc.pullImage("img"));
    assert.equal(e.code, "ALREADY_EXISTS");
    assert.match(e.hint ?? "", /banger image delete img/);
    assert.equal((await refused(s.svc.pullKernel("k"))).code, "ALREADY_EXISTS");
  });

  it("builds from the recipe when there is no bundle, and says so", async () => {
    const s = setup([entry("img", { kernel: "k", recipe: "r-img" })], [entry("k", { recipe: "r-k" })]);
    const img = await s.svc.pullImage("img", { onProgress: s.onProgress });
    assert.deepEqual(
      s.recipes.calls.map((c) => c.recipeId),
      ["r-k", "r-img"],
    );
    assert.ok(s.events.some((e) => e.message === "no prebuilt bundle for img: building it from its recipe"));
    assert.equal(img.source, "recipe");
    assert.equal(img.version, "r-img-built");
    assert.equal(path.basename(img.workSeedPath), "work-seed.ext4");
    const k = s.store.kernels.get("k");
    assert.equal(k.modulesDir, path.join(s.kernelsDir, k.id, "modules"));
    assert.ok(existsSync(path.join(k.modulesDir!, "kernel", "virtio.ko")));
    assertOnly(s.imagesDir, [img.id]);
  });

  it("falls back to the recipe when the bundle's server is down", async () => {
    const port = await closedPort();
    const down = { url: `http://127.0.0.1:${port}/img.tar.gz`, sha256: "0".repeat(64), sizeBytes: 10 };
    const s = setup([entry("img", { bundle: down, recipe: "r-img" })], []);
    const img = await s.svc.pullImage("img", { onProgress: s.onProgress });
    assert.equal(img.source, "recipe");
    assert.equal(s.recipes.calls.length, 1);
    const warn = s.events.find((e) => e.phase === "warn" && e.stage === "pull:recipe");
    assert.match(warn?.message ?? "", /connection refused.*building img from its recipe instead/);
  });

  it("--from-recipe skips the bundle; without a recipe it is refused", async () => {
    const s = setup([entry("img", { bundle: iBundle, recipe: "r" }), entry("b", { bundle: iBundle })], []);
    const img = await s.svc.pullImage("img", { fromRecipe: true });
    assert.equal(img.source, "recipe");
    const e = await refused(s.svc.pullImage("b", { fromRecipe: true }));
    assert.match(e.message, /has no recipe/);
  });

  it("a bad checksum installs nothing, and removes the kernel it pulled", async () => {
    const bad = { ...iBundle!, sha256: "1".repeat(64) };
    const s = setup(
      [entry("img", { kernel: "k", bundle: bad, recipe: "r" })],
      [entry("k", { bundle: kBundle })],
    );
    const e = await refused(s.svc.pullImage("img"));
    assert.equal(e.code, "CHECKSUM_MISMATCH");
    assert.equal(s.recipes.calls.length, 0, "a checksum failure is not a network failure: no fallback");
    assert.deepEqual(s.store.images.list(), []);
    assert.deepEqual(s.store.kernels.list(), []);
    assertOnly(s.imagesDir, []);
    assertOnly(s.kernelsDir, []);
  });

  it("a failing recipe or an unusable file installs nothing", async () => {
    const s = setup([entry("img", { recipe: "r" })], []);
    s.recipes.failWith = new Error("debootstrap exploded");
    const failed = await refused(s.svc.pullImage("img"));
    assert.equal(failed.message, 'recipe "r" for img failed: debootstrap exploded');
    assertOnly(s.imagesDir, []);
    const t = setup([entry("img", { recipe: "r" })], [], async () => "not an ext4 image: test");
    const e = await refused(t.svc.pullImage("img"));
    assert.match(e.message, /image "img": its rootfs rootfs\.ext4 is unusable: not an ext4 image/);
    assertOnly(t.imagesDir, []);
    assert.deepEqual(t.store.images.list(), []);
  });

  it("sweep removes the leftovers of interrupted pulls only", async () => {
    const s = setup([entry("img", { recipe: "r" })], []);
    const img = await s.svc.pullImage("img");
    mkdirSync(path.join(s.imagesDir, ".pull-img-abc123"));
    mkdirSync(path.join(s.kernelsDir, "0123456789abcdef.extract-0a1b2c3d"), { recursive: true });
    const removed = await s.svc.sweep();
    assert.equal(removed.length, 2);
    assertOnly(s.imagesDir, [img.id]);
    assertOnly(s.kernelsDir, []);
  });

  it("an unknown name is NOT_FOUND listing the catalog", async () => {
    const s = setup([entry("img", { recipe: "r" }), entry("other", { recipe: "r" })], []);
    const e = await refused(s.svc.pullImage("nope"));
    assert.equal(e.code, "NOT_FOUND");
    assert.match(e.message, /available: img, other/);
    const s2 = setup([entry("img", { recipe: "r", kernel: "ghost" })], []);
    const e2 = await refused(s2.svc.pullImage("img"));
    assert.match(
      e2.message,
      /boots with kernel "ghost", which is neither installed nor in the kernel catalog/,
    );
  });

  it("two images needing the same kernel pull it once", async () => {
    const s = setup(
      [entry("a", { kernel: "k", bundle: iBundle }), entry("b", { kernel: "k", bundle: iBundle })],
      [entry("k", { recipe: "rk" })],
    );
    const [a, b] = await Promise.all([s.svc.pullImage("a"), s.svc.pullImage("b")]);
    assert.equal(a.kernelId, b.kernelId);
    assert.equal(s.recipes.calls.length, 1);
  });

  it("exports an image with its kernel; the entry pulls it back on a fresh store", async () => {
    const s = setup([entry("img", { kernel: "k", bundle: iBundle })], [entry("k", { bundle: kBundle })]);
    await s.svc.pullImage("img");
    const outDir = path.join(root, `export-${n++}`);
    mkdirSync(outDir);
    const out = path.join(outDir, "img.tar.gz");
    const r = await s.svc.exportImage("img", out);
    assert.deepEqual(r, { bundle: out, entry: `${out}.json` });
    const exported = JSON.parse(readFileSync(r.entry, "utf8")) as CatalogEntry;
    assert.equal(exported.bundle?.url, pathToFileURL(out).href);
    assert.equal(exported.bundle?.sha256, sha256(readFileSync(out)));
    assert.equal(exported.kernel, undefined);
    assert.equal((await refused(s.svc.exportImage("img", out))).code, "ALREADY_EXISTS");
    assert.equal((await refused(s.svc.exportImage("img", "rel.tar.gz"))).code, "INVALID_ARGUMENT");
    const fresh = setup([exported], []);
    const img = await fresh.svc.pullImage("img");
    assert.deepEqual(readFileSync(img.kernelPath!), ELF);
    assert.deepEqual(readFileSync(img.rootfsPath), ROOTFS);
    assert.equal(img.kernelId, null);
  });
});
