#!/usr/bin/env node
// Benchmark: how long Ext4DiskManager.prepare() takes for a 256 MiB and a
// 2 GiB rootfs image (20 MiB and 200 MiB of content) with a 64 MiB work seed
// grown to 8 GiB. A VM never copies its rootfs, so the two should take the
// same time: prints the medians of 5 runs and the ratio (target within 1.10).
// Overlay mode always; reflink mode when BANGER_BENCH_REFLINK_DIR names a
// directory on a reflink-capable filesystem (XFS with reflink=1, btrfs).
//
// Usage: npm run build && node bench/disks.mjs [DIST_DIR]   (default: dist;
// or env BANGER_DIST). Everything it makes lives in temp dirs it removes.
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const RUNS = 5;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = path.resolve(root, process.argv[2] ?? process.env.BANGER_DIST ?? "dist");
const load = (rel) => import(pathToFileURL(path.join(dist, rel)).href);
const { Ext4DiskManager } = await load("src/services/disks/Ext4DiskManager.js");
const { NodeCommandRunner } = await load("src/host/node/NodeCommandRunner.js");
const runner = new NodeCommandRunner();

/** An ext4 image of `size` bytes holding one random file of `dataBytes` (plus a few small files). */
async function makeImage(dir, name, size, dataBytes) {
  const src = path.join(dir, `${name}.d`);
  mkdirSync(path.join(src, "etc"), { recursive: true });
  writeFileSync(path.join(src, "etc", "hostname"), `${name}\n`);
  const chunk = 4 * MiB;
  for (let done = 0; done < dataBytes; done += chunk) {
    writeFileSync(path.join(src, "data.bin"), randomBytes(Math.min(chunk, dataBytes - done)), { flag: "a" });
  }
  const img = path.join(dir, `${name}.ext4`);
  await runner.run(["truncate", "-s", String(size), "--", img]);
  await runner.run(["mkfs.ext4", "-F", "-q", "-b", "4096", "-L", name, "-d", src, img]);
  rmSync(src, { recursive: true });
  // Flush the image now, so its writeback does not land inside a timed run.
  const fh = await open(img, "r+");
  await fh.sync();
  await fh.close();
  return img;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

/** One prepare() (timed) and remove(); returns milliseconds. */
async function timeOne(manager, vmDir, rootfs, seed, wantMode) {
  const t0 = process.hrtime.bigint();
  const disks = await manager.prepare({
    vmDir,
    imageRootfs: rootfs,
    imageWorkSeed: seed,
    diskSizeBytes: 8 * GiB,
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (disks.rootMode !== wantMode)
    throw new Error(`${vmDir}: got rootMode ${disks.rootMode}, wanted ${wantMode}`);
  await manager.remove(disks);
  rmSync(vmDir, { recursive: true, force: true });
  return ms;
}

/** RUNS timed prepares per image, alternating small and big (after one untimed warm-up each) so drift hits both. */
async function benchMode(mode, workDir, images) {
  const manager = new Ext4DiskManager({ runner, reflink: mode === "reflink" ? "auto" : "never" });
  const vmsDir = path.join(workDir, "vms");
  mkdirSync(vmsDir, { recursive: true });
  const small = [];
  const big = [];
  for (let i = 0; i <= RUNS; i++) {
    const a = await timeOne(manager, path.join(vmsDir, `small-${i}`), images.small, images.seed, mode);
    const b = await timeOne(manager, path.join(vmsDir, `big-${i}`), images.big, images.seed, mode);
    if (i > 0) {
      small.push(a);
      big.push(b);
    }
  }
  const [ms, mb] = [median(small), median(big)];
  const fmt = (xs) => xs.map((x) => x.toFixed(1)).join(", ");
  console.log(`${mode} mode, prepare() with an 8 GiB work disk, ${RUNS} runs each:`);
  console.log(`  256 MiB rootfs: median ${ms.toFixed(1)} ms  [${fmt(small)}]`);
  console.log(`  2 GiB rootfs:   median ${mb.toFixed(1)} ms  [${fmt(big)}]`);
  console.log(`  2 GiB vs 256 MiB create time ratio: ${(mb / ms).toFixed(2)} (target within 1.10)`);
}

async function makeImages(dir) {
  const t0 = Date.now();
  const images = {
    small: await makeImage(dir, "rootfs-256m", 256 * MiB, 20 * MiB),
    big: await makeImage(dir, "rootfs-2g", 2 * GiB, 200 * MiB),
    seed: await makeImage(dir, "work-seed", 64 * MiB, 1 * MiB),
  };
  const alloc = (f) => `${((statSync(f).blocks * 512) / MiB).toFixed(0)} MiB`;
  console.log(
    `images built in ${Date.now() - t0} ms: 256 MiB rootfs (${alloc(images.small)} allocated), ` +
      `2 GiB rootfs (${alloc(images.big)}), 64 MiB seed (${alloc(images.seed)})`,
  );
  return images;
}

const tmp = mkdtempSync(path.join(os.tmpdir(), "bgbench-disks-"));
let reflinkTmp;
try {
  const images = await makeImages(tmp);
  await benchMode("overlay", tmp, images);
  const reflinkDir = process.env.BANGER_BENCH_REFLINK_DIR;
  if (reflinkDir) {
    // The images must live on the same filesystem as the VMs to be cloned.
    reflinkTmp = mkdtempSync(path.join(reflinkDir, "bgbench-disks-"));
    await benchMode("reflink", reflinkTmp, await makeImages(reflinkTmp));
  } else {
    console.log(
      "reflink mode: skipped (set BANGER_BENCH_REFLINK_DIR to a directory on XFS with reflink=1 or btrfs)",
    );
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
  if (reflinkTmp) rmSync(reflinkTmp, { recursive: true, force: true });
}
