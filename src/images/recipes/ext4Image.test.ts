import assert from "node:assert/strict";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { GiB, MiB } from "../../config/sizes.js";
import { FakeCommandRunner } from "../../host/fake/FakeCommandRunner.js";
import {
  imageSizeFor,
  mkfsFromDir,
  mkfsFromDirArgv,
  parseDuBytes,
  ROOTFS_SIZE,
  splitWorkSeed,
  WORK_SEED_SIZE,
} from "./ext4Image.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "banger-ext4img-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("image sizes", () => {
  it("rootfs: at least 1 GiB; above that content + 30% + overhead, whole MiB", () => {
    assert.equal(imageSizeFor(300 * MiB, ROOTFS_SIZE), GiB);
    const big = imageSizeFor(2 * GiB, ROOTFS_SIZE);
    assert.ok(big >= 2.6 * GiB && big < 2.8 * GiB, String(big));
    assert.equal(big % MiB, 0);
  });
  it("work seed: at least 64 MiB", () => {
    assert.equal(imageSizeFor(20_000, WORK_SEED_SIZE), 64 * MiB);
  });
  it("parses du -s -B1 output and rejects garbage", () => {
    assert.equal(parseDuBytes("123456\t/some/dir\n"), 123456);
    assert.throws(() => parseDuBytes("du: cannot access"), /cannot parse du output/);
  });
});

describe("mkfsFromDir", () => {
  it("mkfs.ext4 -d with 4096-byte blocks and root_owner; the image root gets the dir's mode", async () => {
    assert.deepEqual(mkfsFromDirArgv("/t", "/o.ext4", "lbl", 64 * MiB), [
      "mkfs.ext4",
      "-F",
      "-q",
      "-b",
      "4096",
      "-L",
      "lbl",
      "-E",
      "root_owner=0:0",
      "-d",
      "/t",
      "/o.ext4",
      "65536k",
    ]);
    const tree = path.join(dir, "tree");
    mkdirSync(tree, { mode: 0o700 });
    const fake = new FakeCommandRunner().on(["du"], { stdout: `${10 * MiB}\t${tree}\n` });
    let debugfsInput = "";
    fake.on(["debugfs"], (_argv, opts) => {
      debugfsInput = String(opts.input);
      return {};
    });
    const size = await mkfsFromDir({
      dir: tree,
      out: path.join(dir, "o.ext4"),
      label: "bangerwork",
      size: WORK_SEED_SIZE,
      runner: fake,
    });
    assert.equal(size, 64 * MiB);
    assert.deepEqual(
      fake.calls.map((c) => c[0]),
      ["du", "mkfs.ext4", "debugfs"],
    );
    assert.equal(debugfsInput, "sif / mode 040700\n");
  });

  it("fails when debugfs complains on stderr (it exits 0)", async () => {
    const tree = path.join(dir, "tree");
    mkdirSync(tree);
    const fake = new FakeCommandRunner()
      .on(["du"], { stdout: "4096\tx\n" })
      .on(["debugfs"], { stderr: "debugfs 1.47.0 (5-Feb-2023)\nsif: Filesystem not open\n" });
    await assert.rejects(
      mkfsFromDir({ dir: tree, out: path.join(dir, "o"), label: "l", size: WORK_SEED_SIZE, runner: fake }),
      /debugfs could not fix up .*Filesystem not open/,
    );
  });
});

describe("splitWorkSeed", () => {
  it("moves /root's content into the seed dir (0700, with .ssh 0700), leaving an empty 0700 /root", async () => {
    const root = path.join(dir, "rootfs");
    mkdirSync(path.join(root, "root"), { recursive: true, mode: 0o755 });
    writeFileSync(path.join(root, "root", ".bashrc"), "# bashrc\n");
    writeFileSync(path.join(root, "root", ".profile"), "# profile\n");
    const seed = path.join(dir, "seed");
    await splitWorkSeed(root, seed);
    assert.deepEqual(readdirSync(path.join(root, "root")), []);
    assert.equal(statSync(path.join(root, "root")).mode & 0o7777, 0o700);
    assert.deepEqual(readdirSync(seed).sort(), [".bashrc", ".profile", ".ssh"]);
    assert.equal(statSync(seed).mode & 0o7777, 0o700);
    assert.ok(lstatSync(path.join(seed, ".ssh")).isDirectory());
    assert.equal(statSync(path.join(seed, ".ssh")).mode & 0o7777, 0o700);
  });
});
