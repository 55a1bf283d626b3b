import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { BangerError } from "../errors/index.js";
import { extractBundle, MODULES_DIR, writeBundle } from "./bundle.js";
import { manifestEntry, type RawEntry, rawBundle, sha256 } from "./testFixtures.js";
import { CatalogErrorCodes } from "./types.js";

const tmp = mkdtempSync(path.join(os.tmpdir(), "banger-bundle-test-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string) => path.join(tmp, `${name}-${n++}`);

function file(name: string, body: Buffer): string {
  const f = fresh(name);
  writeFileSync(f, body);
  return f;
}

/** 1 MiB of zeros between two random blocks: a sparse-worthy disk image. */
const ROOTFS = Buffer.concat([randomBytes(5000), Buffer.alloc(1024 * 1024), randomBytes(3000)]);
const SEED = randomBytes(7000);
const ELF = Buffer.concat([Buffer.from("\x7fELF", "latin1"), randomBytes(100)]);

async function refused(p: Promise<unknown>): Promise<BangerError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof BangerError, String(e));
    return e;
  }
  assert.fail("expected a refusal");
}

function assertClean(dest: string): void {
  assert.equal(existsSync(dest), false, "destination must not exist");
  const left = readdirSync(path.dirname(dest)).filter((f) => f.startsWith(`${path.basename(dest)}.extract-`));
  assert.deepEqual(left, []);
}

describe("writeBundle + extractBundle", () => {
  it("round-trips an image bundle: manifest first, files verified, sparse holes kept", async () => {
    const out = fresh("img.tar.gz");
    const w = await writeBundle(out, {
      kind: "image",
      name: "deb",
      version: "12.8-20261127",
      arch: "x86_64",
      files: { rootfs: file("r", ROOTFS), workSeed: file("s", SEED), kernel: file("k", ELF) },
    });
    assert.equal(w.sha256, sha256(readFileSync(out)));
    assert.equal(w.sizeBytes, statSync(out).size);
    assert.deepEqual(w.manifest.files.rootfs, {
      path: "rootfs.ext4",
      sizeBytes: ROOTFS.length,
      sha256: sha256(ROOTFS),
    });
    const dest = fresh("img");
    const got = await extractBundle(out, dest, "image");
    assert.equal(got.manifest.version, "12.8-20261127");
    assert.deepEqual(readFileSync(got.files.rootfs!), ROOTFS);
    assert.deepEqual(readFileSync(got.files.workSeed!), SEED);
    assert.deepEqual(readFileSync(got.files.kernel!), ELF);
    assert.equal(got.files.rootfs, path.join(dest, "rootfs.ext4"));
    // Where the file system has holes, the MiB of zeros is not allocated.
    const probe = fresh("probe");
    writeFileSync(probe, "");
    truncateSync(probe, 1024 * 1024);
    if (statSync(probe).blocks === 0) {
      const st = statSync(got.files.rootfs!);
      assert.ok(st.blocks * 512 < 256 * 1024, `${st.blocks} blocks allocated`);
    }
  });

  it("refuses a bundle of the other kind, and a missing required file when writing", async () => {
    const out = fresh("k.tar.gz");
    await writeBundle(out, {
      kind: "kernel",
      name: "k",
      version: "1",
      arch: "x86_64",
      files: { vmlinux: file("v", ELF) },
    });
    const e = await refused(extractBundle(out, fresh("x"), "image"));
    assert.equal(e.code, CatalogErrorCodes.BUNDLE_INVALID);
    assert.match(e.message, /kind: expected "image", got "kernel"/);
    const w = await refused(
      writeBundle(fresh("y"), {
        kind: "image",
        name: "i",
        version: "1",
        arch: "x86_64",
        files: { rootfs: ELF.toString() },
      }),
    );
    assert.match(w.message, /needs its "workSeed" file/);
  });

  it("packs a modules directory as a nested tar and unpacks it (outside-pointing links left out)", async () => {
    const mods = fresh("mods");
    mkdirSync(path.join(mods, "kernel", "drivers"), { recursive: true });
    writeFileSync(path.join(mods, "kernel", "drivers", "virtio.ko"), "ko");
    writeFileSync(path.join(mods, "modules.dep"), "dep");
    symlinkSync("kernel/drivers", path.join(mods, "drv"));
    symlinkSync("/usr/src/linux-headers", path.join(mods, "build"));
    const out = fresh("kern.tar.gz");
    const w = await writeBundle(out, {
      kind: "kernel",
      name: "k",
      version: "6.1",
      arch: "x86_64",
      files: { vmlinux: file("v", ELF), modules: mods },
    });
    assert.deepEqual(w.skipped, ["build"]);
    const dest = fresh("kern");
    const got = await extractBundle(out, dest, "kernel");
    assert.equal(got.files.modules, path.join(dest, MODULES_DIR));
    assert.equal(readFileSync(path.join(dest, MODULES_DIR, "kernel", "drivers", "virtio.ko"), "utf8"), "ko");
    assert.equal(readlinkSync(path.join(dest, MODULES_DIR, "drv")), "kernel/drivers");
    assert.equal(existsSync(path.join(dest, MODULES_DIR, "build")), false);
    assert.equal(existsSync(path.join(dest, "modules.tar")), false);
  });
});

describe("extractBundle refuses unsafe bundles, naming the entry", () => {
  const rootfs = { path: "rootfs.ext4", body: ROOTFS };
  const seed = { path: "work-seed.ext4", body: SEED };
  const good = (): RawEntry[] => [
    manifestEntry("image", { rootfs, workSeed: seed }),
    { header: { name: rootfs.path }, body: rootfs.body },
    { header: { name: seed.path }, body: seed.body },
  ];

  const cases: Array<[string, RawEntry[], RegExp]> = [
    [
      "a traversal entry",
      [...good(), { header: { name: "../evil" }, body: Buffer.from("x") }],
      /"\.\.\/evil".*leaves the bundle/,
    ],
    [
      "an absolute path",
      [...good(), { header: { name: "/tmp/evil" }, body: Buffer.from("x") }],
      /"\/tmp\/evil".*absolute path/,
    ],
    [
      "a symlink to /etc/passwd",
      [good()[0]!, { header: { name: "rootfs.ext4", type: "symlink", linkname: "/etc/passwd" } }],
      /"rootfs\.ext4".*symlink to \/etc\/passwd points outside the bundle/,
    ],
    [
      "a hardlink",
      [...good(), { header: { name: "hl", type: "link", linkname: "../../etc/passwd" } }],
      /"hl".*hardlink to \.\.\/\.\.\/etc\/passwd points outside/,
    ],
    [
      "a device",
      [...good(), { header: { name: "dev", type: "character-device", devmajor: 1, devminor: 3 } }],
      /"dev".*a character-device is not allowed/,
    ],
    ["a fifo", [...good(), { header: { name: "f", type: "fifo" } }], /"f".*a fifo is not allowed/],
    [
      "an entry not in the manifest",
      [...good(), { header: { name: "extra" }, body: Buffer.from("x") }],
      /"extra".*not in the manifest/,
    ],
    [
      "a directory",
      [...good(), { header: { name: "d/", type: "directory" } }],
      /"d\/".*a directory is not allowed/,
    ],
    [
      "a file larger than the manifest says",
      [good()[0]!, { header: { name: rootfs.path }, body: Buffer.concat([ROOTFS, Buffer.from("more")]) }],
      /"rootfs\.ext4".*bytes, the manifest says/,
    ],
    [
      "a duplicate entry",
      [...good(), { header: { name: seed.path }, body: seed.body }],
      /"work-seed\.ext4".*appears twice/,
    ],
    ["a missing file", good().slice(0, 2), /lacks "work-seed\.ext4"/],
    [
      "no manifest first",
      [good()[1]!, good()[0]!],
      /first bundle entry must be manifest\.json, found "rootfs\.ext4"/,
    ],
    ["an empty tar", [], /empty/],
  ];
  for (const [what, entries, message] of cases) {
    it(`refuses ${what}`, async () => {
      const b = fresh("bad.tar.gz");
      await rawBundle(b, entries);
      const dest = fresh("dest");
      const e = await refused(extractBundle(b, dest, "image"));
      assert.equal(e.code, CatalogErrorCodes.BUNDLE_INVALID);
      assert.match(e.message, message);
      assertClean(dest);
      assert.equal(existsSync(path.join(tmp, "evil")), false);
    });
  }

  it("refuses a member whose sha256 differs from the manifest (CHECKSUM_MISMATCH)", async () => {
    const b = fresh("sum.tar.gz");
    const entries = good();
    entries[2] = { header: { name: seed.path }, body: randomBytes(SEED.length) };
    await rawBundle(b, entries);
    const dest = fresh("dest");
    const e = await refused(extractBundle(b, dest, "image"));
    assert.equal(e.code, CatalogErrorCodes.CHECKSUM_MISMATCH);
    assert.match(e.message, /"work-seed\.ext4" has sha256/);
    assertClean(dest);
  });

  it("refuses something that is not gzip", async () => {
    const b = file("plain", Buffer.from("hello, not a bundle"));
    const dest = fresh("dest");
    const e = await refused(extractBundle(b, dest, "image"));
    assert.match(e.message, /not a valid gzip'd tar/);
    assertClean(dest);
  });

  it("refuses a nested modules tar with a link leaving the tree", async () => {
    const { rawBundle: raw } = await import("./testFixtures.js");
    const nested = fresh("nested.tar");
    const tarOnly = fresh("nested.tar.gz");
    await raw(tarOnly, [{ header: { name: "escape", type: "symlink", linkname: "../../../etc" } }]);
    // The nested tar is a plain tar: gunzip what rawBundle wrote.
    const { gunzipSync } = await import("node:zlib");
    writeFileSync(nested, gunzipSync(readFileSync(tarOnly)));
    const vm = { path: "vmlinux", body: ELF };
    const mods = { path: "modules.tar", body: readFileSync(nested) };
    const b = fresh("kmods.tar.gz");
    await rawBundle(b, [
      manifestEntry("kernel", { vmlinux: vm, modules: mods }),
      { header: { name: vm.path }, body: vm.body },
      { header: { name: mods.path }, body: mods.body },
    ]);
    const dest = fresh("dest");
    const e = await refused(extractBundle(b, dest, "kernel"));
    assert.match(e.message, /modules tar entry "escape" is a symlink that points outside the bundle/);
    assertClean(dest);
    assert.equal(lstatSync(tmp).isDirectory(), true);
  });
});
