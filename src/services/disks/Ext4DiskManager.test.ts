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
import { afterEach, beforeEach, describe, it } from "node:test";
import { isBangerError } from "../../errors/index.js";
import { FakeCommandRunner } from "../../host/fake/FakeCommandRunner.js";
import { Ext4DiskManager } from "./Ext4DiskManager.js";
import { MAGIC_OFFSET } from "./ext4.js";

const GiB = 1024 ** 3;
const LAZY = "lazy_itable_init=1,lazy_journal_init=1";

let dir: string;
let rootfs: string;
let seed: string;
let vmDir: string;

/** A file that passes the superblock check: `size` bytes with the ext4 magic. */
function fakeExt4(file: string, size = 4096): void {
  const b = Buffer.alloc(size);
  b.writeUInt16LE(0xef53, MAGIC_OFFSET);
  writeFileSync(file, b);
}

/** cp and truncate create their destination, like the real ones; `first` adds responders that win. */
function runner(first?: (r: FakeCommandRunner) => void): FakeCommandRunner {
  const r = new FakeCommandRunner();
  first?.(r);
  r.on(["cp"], (argv) => {
    writeFileSync(argv.at(-1)!, readFileSync(argv.at(-2)!));
    return {};
  });
  r.on(["truncate"], (argv) => {
    if (!existsSync(argv.at(-1)!)) writeFileSync(argv.at(-1)!, "");
    return {};
  });
  return r;
}

const req = (diskSizeBytes = GiB) => ({ vmDir, imageRootfs: rootfs, imageWorkSeed: seed, diskSizeBytes });

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "bgdisk-"));
  rootfs = path.join(dir, "image", "rootfs.ext4");
  seed = path.join(dir, "image", "work-seed.ext4");
  vmDir = path.join(dir, "vms", "vm1");
  mkdirSync(path.dirname(rootfs));
  fakeExt4(rootfs);
  fakeExt4(seed);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("Ext4DiskManager.prepare", () => {
  it("overlay: shares the rootfs read-only, makes a sparse lazily formatted cow disk and grows the work copy", async () => {
    const r = runner();
    const disks = await new Ext4DiskManager({ runner: r, reflink: "never" }).prepare(req());
    const cow = path.join(vmDir, "cow.ext4");
    const work = path.join(vmDir, "work.ext4");
    assert.deepEqual(r.calls, [
      ["truncate", "-s", String(4 * GiB), "--", cow],
      ["mkfs.ext4", "-F", "-q", "-L", "bangercow", "-E", LAZY, cow],
      ["cp", "--sparse=always", "--", seed, work],
      ["truncate", "-s", String(GiB), "--", work],
      ["e2fsck", "-f", "-p", work],
      ["resize2fs", "-f", work],
    ]);
    assert.deepEqual(disks, { root: { path: rootfs, readOnly: true }, cow, work, rootMode: "overlay" });
  });

  it("honours cowSizeBytes", async () => {
    const r = runner();
    await new Ext4DiskManager({ runner: r, reflink: "never", cowSizeBytes: 512 * 1024 ** 2 }).prepare(req());
    assert.deepEqual(r.calls[0]?.slice(0, 3), ["truncate", "-s", String(512 * 1024 ** 2)]);
  });

  it("reflink: probes the VM directory's parent once, then clones the root (writable, no cow)", async () => {
    const r = runner();
    const m = new Ext4DiskManager({ runner: r });
    const disks = await m.prepare(req());
    const root = path.join(vmDir, "root.ext4");
    const work = path.join(vmDir, "work.ext4");
    const [probe, ...rest] = r.calls;
    assert.equal(probe?.[1], "--reflink=always");
    assert.match(probe?.[3] ?? "", /\/vms\/\.banger-reflink-probe-[^/]+-a$/);
    assert.deepEqual(rest, [
      ["cp", "--reflink=always", "--", rootfs, root],
      ["cp", "--sparse=always", "--", seed, work],
      ["truncate", "-s", String(GiB), "--", work],
      ["e2fsck", "-f", "-p", work],
      ["resize2fs", "-f", work],
    ]);
    assert.deepEqual(disks, { root: { path: root, readOnly: false }, cow: null, work, rootMode: "reflink" });
    assert.deepEqual(readdirSync(path.dirname(vmDir)), ["vm1"], "the probe's temp files are gone");

    vmDir = path.join(dir, "vms", "vm2");
    r.calls.length = 0;
    await m.prepare(req());
    assert.equal(r.calls.filter((c) => c[1] === "--reflink=always").length, 1, "the probe answer is cached");
  });

  it("auto falls back to the overlay when the probe's clone fails", async () => {
    const r = runner((f) => f.on(["cp", "--reflink=always"], { code: 1, stderr: "Operation not supported" }));
    const disks = await new Ext4DiskManager({ runner: r }).prepare(req());
    assert.equal(disks.rootMode, "overlay");
    assert.equal(disks.root.readOnly, true);
  });

  it("refuses a seed larger than the disk size, naming both sizes, before creating anything", async () => {
    fakeExt4(seed, 3 * 1024 * 1024);
    const r = runner();
    await assert.rejects(
      new Ext4DiskManager({ runner: r, reflink: "never" }).prepare(req(2 * 1024 * 1024)),
      (e) => {
        assert.ok(isBangerError(e));
        assert.equal(e.code, "INVALID_ARGUMENT");
        assert.match(e.message, /2M \(2097152 bytes\).*3M \(3145728 bytes\)/);
        return true;
      },
    );
    assert.deepEqual(r.calls, []);
    assert.equal(existsSync(vmDir), false);
  });

  it("refuses a missing image, a seed that is not ext4, a bad size and existing disks", async () => {
    const m = new Ext4DiskManager({ runner: runner(), reflink: "never" });
    const code = (c: string) => (e: unknown) => isBangerError(e) && e.code === c;
    await assert.rejects(m.prepare({ ...req(), imageRootfs: path.join(dir, "nope") }), code("NOT_FOUND"));
    await assert.rejects(m.prepare(req(0)), code("INVALID_ARGUMENT"));
    await assert.rejects(m.prepare(req(1.5)), code("INVALID_ARGUMENT"));
    writeFileSync(seed, "");
    await assert.rejects(m.prepare(req()), /work seed .* unusable: file is empty/);
    fakeExt4(seed);
    mkdirSync(vmDir, { recursive: true });
    writeFileSync(path.join(vmDir, "work.ext4"), "precious");
    await assert.rejects(m.prepare(req()), code("ALREADY_EXISTS"));
    assert.equal(readFileSync(path.join(vmDir, "work.ext4"), "utf8"), "precious");
  });

  it("a failing resize2fs removes the partial files and the directory it made, naming the step and stderr", async () => {
    const r = runner().on(["resize2fs"], {
      code: 1,
      stderr: "resize2fs 1.47.0\nresize2fs: Invalid argument while trying",
    });
    await assert.rejects(new Ext4DiskManager({ runner: r, reflink: "never" }).prepare(req()), (e) => {
      assert.ok(isBangerError(e));
      assert.equal(e.code, "COMMAND_FAILED");
      assert.match(e.message, /step "grow the work filesystem".*resize2fs: Invalid argument while trying/s);
      return true;
    });
    assert.equal(existsSync(vmDir), false);
    assert.deepEqual(readdirSync(dir).sort(), ["image"], "vms/ (made by prepare) is gone too");
    assert.ok(existsSync(rootfs) && existsSync(seed));
  });

  it("in an existing VM directory, removes only its own files", async () => {
    mkdirSync(vmDir, { recursive: true });
    writeFileSync(path.join(vmDir, "vm.log"), "keep");
    const r = runner().on(["mkfs.ext4"], { code: 1, stderr: "mkfs.ext4: Device size reported to be zero." });
    await assert.rejects(
      new Ext4DiskManager({ runner: r, reflink: "never" }).prepare(req()),
      /format the cow disk/,
    );
    assert.deepEqual(readdirSync(vmDir), ["vm.log"]);
  });

  it("ENOSPC: COMMAND_FAILED with a hint about freeing space in the state directory", async () => {
    const r = runner((f) =>
      f.on(["cp", "--sparse=always"], (argv) => {
        writeFileSync(argv.at(-1)!, "partial");
        return { code: 1, stderr: `cp: error writing '${argv.at(-1)}': No space left on device` };
      }),
    );
    await assert.rejects(new Ext4DiskManager({ runner: r, reflink: "never" }).prepare(req()), (e) => {
      assert.ok(isBangerError(e));
      assert.equal(e.code, "COMMAND_FAILED");
      assert.match(e.message, /copy the work seed.*No space left on device/s);
      assert.match(e.hint ?? "", /free disk space.*vms/);
      return true;
    });
    assert.equal(existsSync(vmDir), false);
  });

  it("e2fsck: exit 1 (errors fixed) is success, exit 4 fails the step", async () => {
    const ok = runner().on(["e2fsck"], { code: 1, stdout: "fixed" });
    await new Ext4DiskManager({ runner: ok, reflink: "never" }).prepare(req());
    vmDir = path.join(dir, "vms", "vm2");
    const bad = runner().on(["e2fsck"], {
      code: 4,
      stdout: "work: UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY.",
    });
    await assert.rejects(
      new Ext4DiskManager({ runner: bad, reflink: "never" }).prepare(req()),
      /check the work filesystem.*UNEXPECTED INCONSISTENCY/s,
    );
    assert.equal(existsSync(vmDir), false);
  });
});

describe("Ext4DiskManager.remove", () => {
  it("overlay: deletes the work and cow disks, never the image's rootfs; idempotent", async () => {
    const m = new Ext4DiskManager({ runner: runner(), reflink: "never" });
    const disks = await m.prepare(req());
    const before = readFileSync(rootfs);
    await m.remove(disks);
    await m.remove(disks);
    assert.deepEqual(readdirSync(vmDir), []);
    assert.deepEqual(readFileSync(rootfs), before);
  });

  it("never deletes a read-only root, even when labelled reflink", async () => {
    const m = new Ext4DiskManager({ runner: runner(), reflink: "never" });
    const disks = await m.prepare(req());
    await m.remove({ ...disks, rootMode: "reflink" });
    assert.ok(existsSync(rootfs));
  });

  it("reflink: deletes the clone beside the work disk", async () => {
    const m = new Ext4DiskManager({ runner: runner() });
    const disks = await m.prepare(req());
    assert.ok(existsSync(disks.root.path));
    await m.remove(disks);
    assert.deepEqual(readdirSync(vmDir), []);
    assert.ok(existsSync(rootfs));
  });
});

describe("Ext4DiskManager.checkExt4", () => {
  it("answers from the superblock magic", async () => {
    const m = new Ext4DiskManager({ runner: runner() });
    assert.equal(await m.checkExt4(rootfs), null);
    writeFileSync(path.join(dir, "x"), Buffer.alloc(4096));
    assert.match((await m.checkExt4(path.join(dir, "x"))) ?? "", /^not an ext4 image: /);
    assert.equal(await m.checkExt4(path.join(dir, "nope")), "cannot read: ENOENT");
  });
});
