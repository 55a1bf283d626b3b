/**
 * Ext4DiskManager against the real e2fsprogs: seeds built with `mkfs.ext4
 * -d`, work disks grown sparsely, files written and read through debugfs,
 * the image's rootfs left byte-identical. As root it also loop-mounts an XFS
 * image (reflink clones) and a tiny tmpfs (a full disk); every mount and loop
 * device is undone in `after`, even on failure.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { copyFile, mkdtemp, open, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { isBangerError } from "../../src/errors/index.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import type { VmDisks } from "../../src/services/disks/DiskManager.js";
import { Ext4DiskManager } from "../../src/services/disks/Ext4DiskManager.js";
import { readExt4Superblock } from "../../src/services/disks/ext4.js";

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const runner = new NodeCommandRunner();
const run = (argv: string[]) => runner.run(argv);

function onPath(cmd: string): boolean {
  const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/sbin"];
  return dirs.some((d) => {
    try {
      accessSync(path.join(d, cmd), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const TOOLS = ["mkfs.ext4", "e2fsck", "resize2fs", "debugfs", "dumpe2fs", "truncate", "cp"];
const missing = TOOLS.filter((t) => !onPath(t));
const skip = missing.length > 0 ? `needs ${missing.join(", ")} (apt-get install e2fsprogs)` : false;
const isRoot = process.getuid?.() === 0;
const rootSkip = skip || (isRoot ? false : "needs root (mount)");
const xfsSkip = rootSkip || (onPath("mkfs.xfs") ? false : "needs mkfs.xfs (apt-get install xfsprogs)");

const sha256 = (f: string) => createHash("sha256").update(readFileSync(f)).digest("hex");
const allocated = (f: string) => statSync(f).blocks * 512;

/** mode, type and owner of a path inside an image, from `debugfs stat`. */
async function inode(img: string, p: string) {
  const r = await runner.run(["debugfs", "-R", `stat "${p}"`, img], { env: { DEBUGFS_PAGER: "__none__" } });
  const m = /Type: (\S+)\s+Mode:\s+(\d+).*\nGeneration.*\nUser:\s+(\d+)\s+Group:\s+(\d+)/.exec(r.stdout);
  if (!m) throw new Error(`debugfs stat ${p} in ${img}: ${r.stderr}`);
  return { type: m[1], mode: Number.parseInt(m[2]!, 8), uid: Number(m[3]), gid: Number(m[4]) };
}

/** An ext4 image of `size` bytes holding `files` (relative path -> [content, mode]). */
async function makeImage(
  dir: string,
  name: string,
  size: number,
  files: Record<string, [string | Buffer, number]>,
) {
  const src = path.join(dir, `${name}.d`);
  for (const [rel, [content, mode]] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(src, rel)), { recursive: true });
    writeFileSync(path.join(src, rel), content, { mode });
  }
  const img = path.join(dir, `${name}.ext4`);
  await run(["truncate", "-s", String(size), "--", img]);
  await run(["mkfs.ext4", "-F", "-q", "-b", "4096", "-L", name, "-d", src, img]);
  await rm(src, { recursive: true });
  return img;
}

/** Both the e2fsck verdict and the filesystem's size. */
async function fsck(img: string) {
  return (await runner.run(["e2fsck", "-f", "-n", img], { allowFailure: true })).code;
}

describe("Ext4DiskManager with real e2fsprogs", { skip }, () => {
  let dir: string;
  let rootfs: string;
  let seed: string;
  const mounts: { target: string; image?: string }[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "bgdisks-"));
    rootfs = await makeImage(dir, "rootfs", 64 * MiB, {
      "etc/hostname": ["banger\n", 0o644],
      "sbin/init": ["#!/bin/sh\n", 0o755],
    });
    seed = await makeImage(dir, "work-seed", 32 * MiB, {
      "hello.txt": ["hello\n", 0o644],
      "bin/run.sh": ["#!/bin/sh\necho hi\n", 0o755],
      ".profile": ["PS1='# '\n", 0o600],
    });
  });

  after(async () => {
    for (const m of mounts.reverse()) {
      await runner.run(["umount", m.target], { allowFailure: true });
      if (m.image) {
        const r = await runner.run(["losetup", "-j", m.image], { allowFailure: true });
        const dev = /^(\/dev\/loop\d+):/m.exec(r.stdout)?.[1];
        if (dev) await runner.run(["losetup", "-d", dev], { allowFailure: true });
      }
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe("overlay mode", () => {
    const m = new Ext4DiskManager({ runner, reflink: "never" });
    let vmDir: string;
    let disks: VmDisks;
    let rootfsSum: string;

    before(async () => {
      vmDir = path.join(dir, "vms", "overlay");
      rootfsSum = sha256(rootfs);
      disks = await m.prepare({ vmDir, imageRootfs: rootfs, imageWorkSeed: seed, diskSizeBytes: GiB });
    });

    it("shares the image's rootfs read-only and adds a sparse, valid cow disk", async () => {
      assert.equal(disks.rootMode, "overlay");
      assert.deepEqual(disks.root, { path: rootfs, readOnly: true });
      assert.equal(disks.cow, path.join(vmDir, "cow.ext4"));
      assert.equal(await m.checkExt4(disks.cow!), null);
      assert.equal(statSync(disks.cow!).size, 4 * GiB);
      assert.ok(allocated(disks.cow!) < 32 * MiB, `cow allocates ${allocated(disks.cow!)} bytes`);
      const sb = await readExt4Superblock(disks.cow!);
      assert.ok(typeof sb !== "string" && sb.label === "bangercow");
      assert.equal(sha256(rootfs), rootfsSum);
    });

    it("grows the work disk to 1 GiB sparsely, with a consistent, grown filesystem", async () => {
      assert.equal(statSync(disks.work).size, GiB);
      assert.ok(allocated(disks.work) < 64 * MiB, `work allocates ${allocated(disks.work)} bytes`);
      const head = (await run(["dumpe2fs", "-h", disks.work])).stdout;
      const count = Number(/^Block count:\s+(\d+)/m.exec(head)?.[1]);
      const size = Number(/^Block size:\s+(\d+)/m.exec(head)?.[1]);
      assert.equal(count * size, GiB);
      const sb = await readExt4Superblock(disks.work);
      assert.ok(typeof sb !== "string");
      assert.equal(sb.sizeBytes, GiB, "the superblock parser agrees with dumpe2fs");
      const seedSb = await readExt4Superblock(seed);
      assert.ok(typeof seedSb !== "string" && seedSb.sizeBytes === 32 * MiB);
      assert.equal(await fsck(disks.work), 0);
      assert.equal((statSync(disks.work).mode & 0o777).toString(8), "600");
    });

    it("keeps the seed's files and modes", async () => {
      // mkfs.ext4 -d keeps the owners of the files it copies: ours.
      const [uid, gid] = [process.getuid?.() ?? 0, process.getgid?.() ?? 0];
      assert.deepEqual(await inode(disks.work, "/bin/run.sh"), { type: "regular", mode: 0o755, uid, gid });
      assert.equal((await inode(disks.work, "/.profile")).mode, 0o600);
      assert.equal((await m.readWorkFile(disks.work, "hello.txt"))?.toString(), "hello\n");
      assert.equal(await m.readWorkFile(disks.work, "nope/none"), null);
    });

    it("writes, overwrites and reads back files, with modes, owners and 0700 parents", async () => {
      await m.writeWorkFiles(disks.work, [
        { path: ".ssh/authorized_keys", content: "ssh-ed25519 AAAA one\n", mode: 0o600 },
      ]);
      await m.writeWorkFiles(disks.work, [
        { path: ".ssh/authorized_keys", content: "ssh-ed25519 BBBB two\n", mode: 0o600 },
        { path: "my dir/hello world.txt", content: "spaced\n", mode: 0o640, uid: 1000, gid: 1001 },
        { path: "bin/run.sh", content: "#!/bin/sh\necho replaced\n", mode: 0o700 },
      ]);
      assert.equal(
        (await m.readWorkFile(disks.work, ".ssh/authorized_keys"))?.toString(),
        "ssh-ed25519 BBBB two\n",
      );
      assert.deepEqual(await inode(disks.work, "/.ssh/authorized_keys"), {
        type: "regular",
        mode: 0o600,
        uid: 0,
        gid: 0,
      });
      assert.deepEqual(await inode(disks.work, "/.ssh"), { type: "directory", mode: 0o700, uid: 0, gid: 0 });
      assert.equal((await m.readWorkFile(disks.work, "my dir/hello world.txt"))?.toString(), "spaced\n");
      assert.deepEqual(await inode(disks.work, "/my dir/hello world.txt"), {
        type: "regular",
        mode: 0o640,
        uid: 1000,
        gid: 1001,
      });
      assert.equal((await inode(disks.work, "/bin")).mode, 0o755, "existing parents keep their mode");
      assert.equal((await inode(disks.work, "/bin/run.sh")).mode, 0o700);
      assert.equal(await fsck(disks.work), 0);
    });

    it("round-trips binary content and refuses a directory", async () => {
      const blob = randomBytes(300 * 1024);
      await m.writeWorkFiles(disks.work, [{ path: "data/blob.bin", content: blob, mode: 0o644 }]);
      assert.deepEqual(await m.readWorkFile(disks.work, "data/blob.bin"), blob);
      await assert.rejects(m.readWorkFile(disks.work, ".ssh"), /is a directory/);
    });

    it("remove deletes the VM's disks, never the image", async () => {
      await m.remove(disks);
      await m.remove(disks);
      assert.deepEqual(readdirSync(vmDir), []);
      assert.equal(sha256(rootfs), rootfsSum);
      assert.ok(existsSync(seed));
    });
  });

  it("refuses a disk size smaller than the seed without creating anything", async () => {
    const vmDir = path.join(dir, "vms", "small");
    const m = new Ext4DiskManager({ runner, reflink: "never" });
    await assert.rejects(
      m.prepare({ vmDir, imageRootfs: rootfs, imageWorkSeed: seed, diskSizeBytes: 16 * MiB }),
      /16M \(16777216 bytes\) is smaller than the image's work seed 32M/,
    );
    assert.equal(existsSync(vmDir), false);
  });

  it("reflink mode on a loop-mounted XFS: a writable clone, the image untouched", {
    skip: xfsSkip,
  }, async (t) => {
    const img = path.join(dir, "xfs.img");
    const mnt = path.join(dir, "xfs");
    mkdirSync(mnt);
    await run(["truncate", "-s", String(512 * MiB), "--", img]);
    await run(["mkfs.xfs", "-q", "-m", "reflink=1", img]);
    const mounted = await runner.run(["mount", "-o", "loop", img, mnt], { allowFailure: true });
    if (mounted.code !== 0) return t.skip(`cannot loop-mount XFS here: ${mounted.stderr.trim()}`);
    mounts.push({ target: mnt, image: img });
    const imageDir = path.join(mnt, "images");
    mkdirSync(imageDir);
    const xRootfs = path.join(imageDir, "rootfs.ext4");
    const xSeed = path.join(imageDir, "work-seed.ext4");
    await copyFile(rootfs, xRootfs);
    await copyFile(seed, xSeed);
    const before = sha256(xRootfs);
    const m = new Ext4DiskManager({ runner });
    const vmDir = path.join(mnt, "vms", "vm1");
    const disks = await m.prepare({ vmDir, imageRootfs: xRootfs, imageWorkSeed: xSeed, diskSizeBytes: GiB });
    assert.equal(disks.rootMode, "reflink");
    assert.deepEqual(disks.root, { path: path.join(vmDir, "root.ext4"), readOnly: false });
    assert.equal(disks.cow, null);
    assert.equal(sha256(disks.root.path), before);
    const fh = await open(disks.root.path, "r+");
    await fh.write(Buffer.from("scribble"), 0, 8, 40 * MiB);
    await fh.close();
    assert.equal(sha256(xRootfs), before, "writing the clone leaves the image alone");
    assert.equal(await fsck(disks.work), 0);
    await m.remove(disks);
    assert.deepEqual(readdirSync(vmDir), []);
    assert.equal(sha256(xRootfs), before);
  });

  it("a full disk fails with a hint about space and leaves nothing behind", { skip: rootSkip }, async () => {
    const mnt = path.join(dir, "tiny");
    mkdirSync(mnt);
    await run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt]);
    mounts.push({ target: mnt });
    const heavy = await makeImage(dir, "heavy-seed", 64 * MiB, { "big.bin": [randomBytes(20 * MiB), 0o644] });
    const m = new Ext4DiskManager({ runner, cowSizeBytes: 16 * MiB });
    const vmDir = path.join(mnt, "vms", "vm1");
    await assert.rejects(
      m.prepare({ vmDir, imageRootfs: rootfs, imageWorkSeed: heavy, diskSizeBytes: GiB }),
      (e) => {
        assert.ok(isBangerError(e));
        assert.equal(e.code, "COMMAND_FAILED");
        assert.match(e.message, /step "copy the work seed".*No space left on device/s);
        assert.match(e.hint ?? "", /free disk space/);
        return true;
      },
    );
    assert.deepEqual(readdirSync(mnt), []);
  });
});
