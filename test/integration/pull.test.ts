/**
 * Pulling images and kernels for real: a catalog and bundles served by an
 * HTTP server on 127.0.0.1 that this test starts, small real ext4 images
 * (mkfs.ext4), a fake ELF kernel, the SQLite store on a file, the real
 * ext4 check. Every failure must leave no directory and no row.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { accessSync, constants, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import type { ProgressEvent } from "../../src/api/protocol.js";
import { writeBundle } from "../../src/catalog/bundle.js";
import { CatalogLoader } from "../../src/catalog/catalog.js";
import { FakeRecipeRunner, fakeElfBytes } from "../../src/catalog/FakeRecipeRunner.js";
import { PullService } from "../../src/catalog/PullService.js";
import { manifestEntry, type RawEntry, rawBundle } from "../../src/catalog/testFixtures.js";
import { closedPort, sendBody, startServer, type TestServer } from "../../src/catalog/testHttp.js";
import { type CatalogEntry, CatalogErrorCodes } from "../../src/catalog/types.js";
import { BangerError } from "../../src/errors/index.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { Ext4DiskManager } from "../../src/services/disks/Ext4DiskManager.js";
import { SqliteStore } from "../../src/store/sqlite/SqliteStore.js";

const runner = new NodeCommandRunner();
const disks = new Ext4DiskManager({ runner });
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const log = { info: () => {}, warn: () => {} };

function onPath(cmd: string): boolean {
  return [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/sbin"].some((d) => {
    try {
      accessSync(path.join(d, cmd), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
const skip = onPath("mkfs.ext4") ? false : "needs mkfs.ext4 (apt-get install e2fsprogs)";

async function mkfs(file: string): Promise<void> {
  await runner.run(["mkfs.ext4", "-F", "-q", file, "8M"]);
}

/** One fresh daemon state: SQLite store on a file, images/ and kernels/ directories. */
class State {
  readonly store: SqliteStore;
  readonly imagesDir: string;
  readonly kernelsDir: string;
  readonly recipes: FakeRecipeRunner;
  readonly events: ProgressEvent[] = [];
  readonly svc: PullService;

  constructor(
    dir: string,
    urls: { image: string | null; kernel: string | null },
    recipes?: FakeRecipeRunner,
  ) {
    this.store = new SqliteStore(path.join(dir, "banger.db"));
    this.store.migrate();
    this.imagesDir = path.join(dir, "images");
    this.kernelsDir = path.join(dir, "kernels");
    this.recipes = recipes ?? new FakeRecipeRunner();
    this.svc = new PullService({
      store: this.store,
      catalogs: new CatalogLoader({ urls: () => urls }),
      recipes: this.recipes,
      imagesDir: this.imagesDir,
      kernelsDir: this.kernelsDir,
      checkExt4: (f) => disks.checkExt4(f),
      log,
      download: { retries: 2, backoffMs: 5 },
    });
  }

  readonly onProgress = (e: ProgressEvent) => this.events.push(e);

  /** No row and no file: the state directories are empty (or absent). */
  assertEmpty(): void {
    assert.deepEqual(this.store.images.list(), []);
    assert.deepEqual(this.store.kernels.list(), []);
    for (const d of [this.imagesDir, this.kernelsDir]) {
      assert.deepEqual(existsSync(d) ? readdirSync(d) : [], [], `${d} is not empty`);
    }
  }
}

async function failure(p: Promise<unknown>): Promise<BangerError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof BangerError, String(e));
    return e;
  }
  assert.fail("expected a failure");
}

describe("pull from an HTTP catalog", { skip }, () => {
  let dir: string;
  let server: TestServer;
  /** path -> handler; the catalogs and bundles each test serves. */
  const routes = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();
  const bodies = new Map<string, Buffer>();
  let rootfs: Buffer;
  let seed: Buffer;
  const elf = fakeElfBytes(64 * 1024);
  let n = 0;

  const serveFile = (route: string, body: Buffer) => {
    bodies.set(route, body);
    routes.set(route, (req, res) => sendBody(req, res, body));
  };
  const url = (route: string) => `${server.base}${route}`;
  const state = async (images: CatalogEntry[], kernels: CatalogEntry[] = [], recipes?: FakeRecipeRunner) => {
    const id = n++;
    serveFile(
      `/c${id}/images.json`,
      Buffer.from(JSON.stringify({ format: 1, kind: "image", entries: images })),
    );
    serveFile(
      `/c${id}/kernels.json`,
      Buffer.from(JSON.stringify({ format: 1, kind: "kernel", entries: kernels })),
    );
    const d = path.join(dir, `state-${id}`);
    await mkdir(d);
    return new State(d, { image: url(`/c${id}/images.json`), kernel: url(`/c${id}/kernels.json`) }, recipes);
  };
  const entry = (name: string, over: Partial<CatalogEntry>): CatalogEntry => ({
    name,
    version: "1.0-20250101",
    arch: "x86_64",
    description: `${name} for tests`,
    sizeBytes: 16 * 1024 * 1024,
    ...over,
  });
  /** Serve a bundle file at `route`; its catalog reference. */
  const publish = (route: string, file: string) => {
    const body = readFileSync(file);
    serveFile(route, body);
    return { url: url(route), sha256: sha256(body), sizeBytes: body.length };
  };

  let kernelRef: CatalogEntry["bundle"];
  let imageRef: CatalogEntry["bundle"];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "banger-pull-it-"));
    server = await startServer((req, res) => {
      const h = routes.get(req.url ?? "");
      if (h) h(req, res);
      else res.writeHead(404).end("not here");
    });
    const files = path.join(dir, "files");
    await mkdir(files);
    await mkfs(path.join(files, "rootfs.ext4"));
    await mkfs(path.join(files, "seed.ext4"));
    writeFileSync(path.join(files, "vmlinux"), elf);
    rootfs = readFileSync(path.join(files, "rootfs.ext4"));
    seed = readFileSync(path.join(files, "seed.ext4"));
    const kb = path.join(dir, "k.tar.gz");
    const ib = path.join(dir, "i.tar.gz");
    await writeBundle(kb, {
      kind: "kernel",
      name: "tk",
      version: "6.1",
      arch: "x86_64",
      files: { vmlinux: path.join(files, "vmlinux") },
    });
    await writeBundle(ib, {
      kind: "image",
      name: "timg",
      version: "1.0",
      arch: "x86_64",
      files: { rootfs: path.join(files, "rootfs.ext4"), workSeed: path.join(files, "seed.ext4") },
    });
    kernelRef = publish("/b/tk.tar.gz", kb);
    imageRef = publish("/b/timg.tar.gz", ib);
  });

  after(async () => {
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("pulls a good image: its kernel first, then the image; rows registered, files in place", async () => {
    const s = await state(
      [entry("timg", { kernel: "tk", bundle: imageRef })],
      [entry("tk", { bundle: kernelRef })],
    );
    const img = await s.svc.pullImage("timg", { onProgress: s.onProgress });
    const k = s.store.kernels.get("tk");
    assert.equal(s.store.images.get("timg").kernelId, k.id);
    assert.equal(img.source, "pull");
    assert.deepEqual(readFileSync(img.rootfsPath), rootfs);
    assert.deepEqual(readFileSync(img.workSeedPath), seed);
    assert.deepEqual(readFileSync(k.vmlinuxPath), elf);
    assert.equal(path.dirname(img.rootfsPath), path.join(s.imagesDir, img.id));
    assert.equal(path.dirname(k.vmlinuxPath), path.join(s.kernelsDir, k.id));
    assert.equal(await disks.checkExt4(img.rootfsPath), null);
    const order = s.events.filter((e) => e.stage === "pull:register").map((e) => e.message);
    assert.deepEqual(order, ["kernel tk 1.0-20250101 installed", "image timg 1.0-20250101 installed"]);
    s.store.close();
  });

  it("a wrong sha256 installs nothing and leaves no row", async () => {
    const bad = { ...imageRef!, sha256: "f".repeat(64) };
    const s = await state(
      [entry("timg", { kernel: "tk", bundle: bad })],
      [entry("tk", { bundle: kernelRef })],
    );
    const e = await failure(s.svc.pullImage("timg"));
    assert.equal(e.code, CatalogErrorCodes.CHECKSUM_MISMATCH);
    s.assertEmpty();
    s.store.close();
  });

  it("a truncated body fails and leaves nothing", async () => {
    routes.set("/b/cut.tar.gz", (req, res) =>
      sendBody(req, res, bodies.get("/b/timg.tar.gz")!, { dropAfter: 4096 }),
    );
    const s = await state([entry("timg", { bundle: { ...imageRef!, url: url("/b/cut.tar.gz") } })]);
    const e = await failure(s.svc.pullImage("timg"));
    assert.equal(e.code, CatalogErrorCodes.DOWNLOAD_FAILED);
    assert.match(e.message, /connection closed after \d+ of \d+ bytes/);
    s.assertEmpty();
    s.store.close();
  });

  it("a connection dropped mid-way is resumed with Range, and the result verifies", async () => {
    const body = bodies.get("/b/timg.tar.gz")!;
    let hits = 0;
    routes.set("/b/flaky.tar.gz", (req, res) =>
      sendBody(req, res, body, hits++ === 0 ? { dropAfter: Math.floor(body.length / 2) } : {}),
    );
    const s = await state([entry("timg", { bundle: { ...imageRef!, url: url("/b/flaky.tar.gz") } })]);
    const img = await s.svc.pullImage("timg", { onProgress: s.onProgress });
    const seen = server.requests.filter((r) => r.path === "/b/flaky.tar.gz");
    assert.equal(seen.length, 2);
    assert.equal(seen[0]?.range, null);
    assert.match(seen[1]?.range ?? "", /^bytes=[1-9]\d*-$/);
    assert.deepEqual(readFileSync(img.rootfsPath), rootfs);
    assert.ok(s.events.some((e) => e.phase === "warn" && /retrying/.test(e.message)));
    s.store.close();
  });

  const evil: Array<[string, (good: RawEntry[]) => RawEntry[], RegExp]> = [
    [
      "a traversal entry",
      (g) => [...g, { header: { name: "../evil" }, body: Buffer.from("x") }],
      /"\.\.\/evil"/,
    ],
    [
      "an absolute path",
      (g) => [...g, { header: { name: "/tmp/evil" }, body: Buffer.from("x") }],
      /"\/tmp\/evil"/,
    ],
    [
      "a symlink to /etc/passwd",
      (g) => [g[0]!, { header: { name: "rootfs.ext4", type: "symlink", linkname: "/etc/passwd" } }],
      /"rootfs\.ext4".*symlink to \/etc\/passwd/,
    ],
  ];
  for (const [what, build, names] of evil) {
    it(`refuses a bundle with ${what}, naming the entry`, async () => {
      const files = {
        rootfs: { path: "rootfs.ext4", body: rootfs },
        workSeed: { path: "work-seed.ext4", body: seed },
      };
      const good: RawEntry[] = [
        manifestEntry("image", files),
        { header: { name: "rootfs.ext4" }, body: rootfs },
        { header: { name: "work-seed.ext4" }, body: seed },
      ];
      const file = path.join(dir, `evil-${n++}.tar.gz`);
      await rawBundle(file, build(good));
      const ref = publish(`/b/${path.basename(file)}`, file);
      const s = await state([entry("timg", { bundle: ref })]);
      const e = await failure(s.svc.pullImage("timg"));
      assert.equal(e.code, CatalogErrorCodes.BUNDLE_INVALID);
      assert.match(e.message, names);
      s.assertEmpty();
      assert.equal(existsSync(path.join(dir, "evil")), false);
      s.store.close();
    });
  }

  it("a 404 is DOWNLOAD_FAILED naming the URL and the status", async () => {
    const s = await state([entry("timg", { bundle: { ...imageRef!, url: url("/b/gone.tar.gz") } })]);
    const e = await failure(s.svc.pullImage("timg"));
    assert.equal(e.code, CatalogErrorCodes.DOWNLOAD_FAILED);
    assert.ok(e.message.includes(`${url("/b/gone.tar.gz")} failed: HTTP 404`), e.message);
    s.assertEmpty();
    s.store.close();
  });

  it("a name in no catalog is NOT_FOUND listing the available names", async () => {
    const s = await state([entry("timg", { bundle: imageRef })]);
    const e = await failure(s.svc.pullImage("timgg"));
    assert.equal(e.code, "NOT_FOUND");
    assert.match(e.message, /did you mean "timg"/);
    assert.match(e.message, /available: debian-bookworm, timg, void/);
    s.store.close();
  });

  it("falls back to the recipe when the bundle's server is down, and says so", async () => {
    const port = await closedPort();
    const recipes = new FakeRecipeRunner(async (_id, ctx) => {
      const r = path.join(ctx.workDir, "r.ext4");
      const w = path.join(ctx.workDir, "w.ext4");
      await mkfs(r);
      await mkfs(w);
      return { files: { rootfs: r, workSeed: w }, version: "built-locally" };
    });
    const down = { ...imageRef!, url: `http://127.0.0.1:${port}/timg.tar.gz` };
    const s = await state([entry("timg", { bundle: down, recipe: "timg-recipe" })], [], recipes);
    const img = await s.svc.pullImage("timg", { onProgress: s.onProgress });
    assert.deepEqual(
      recipes.calls.map((c) => c.recipeId),
      ["timg-recipe"],
    );
    assert.equal(img.source, "recipe");
    assert.equal(img.version, "built-locally");
    const said = s.events.find((e) => e.stage === "pull:recipe" && e.phase === "warn");
    assert.match(said?.message ?? "", /connection refused.*building timg from its recipe instead/);
    assert.equal(await disks.checkExt4(img.workSeedPath), null);
    s.store.close();
  });

  it("export, then pull the exported bundle by a file:// user catalog on a fresh store", async () => {
    const s = await state(
      [entry("timg", { kernel: "tk", bundle: imageRef })],
      [entry("tk", { bundle: kernelRef })],
    );
    await s.svc.pullImage("timg");
    const out = path.join(dir, "exported", "timg.tar.gz");
    await mkdir(path.dirname(out));
    const r = await s.svc.exportImage("timg", out);
    s.store.close();
    const exported = JSON.parse(readFileSync(r.entry, "utf8")) as CatalogEntry;
    assert.equal(exported.bundle?.url, pathToFileURL(out).href);
    const catalogFile = path.join(dir, "exported", "images.json");
    writeFileSync(catalogFile, JSON.stringify({ format: 1, kind: "image", entries: [exported] }));
    const d = path.join(dir, `fresh-${n++}`);
    await mkdir(d);
    const fresh = new State(d, { image: pathToFileURL(catalogFile).href, kernel: null });
    const img = await fresh.svc.pullImage("timg");
    assert.equal(img.name, "timg");
    assert.deepEqual(readFileSync(img.rootfsPath), rootfs);
    assert.deepEqual(readFileSync(img.kernelPath!), elf);
    assert.equal(fresh.store.images.get("timg").source, "pull");
    fresh.store.close();
  });
});
