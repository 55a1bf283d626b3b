/**
 * [[file_sync]] into real work disks (real e2fsprogs, no mounting): a file
 * with the default mode, a custom mode, a missing host path (a warning), a
 * directory tree keeping each file's permissions, and overwriting a file the
 * seed already has on a second VM.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { FileSyncEntry } from "../../src/config/types.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { Ext4DiskManager } from "../../src/services/disks/Ext4DiskManager.js";
import { planFileSync } from "../../src/services/vms/fileSync.js";

const runner = new NodeCommandRunner();
const disks = new Ext4DiskManager({ runner, reflink: "never" });
let dir: string;
let seed: string;
let rootfs: string;

async function stat(img: string, p: string): Promise<{ mode: number; uid: number } | null> {
  const r = await runner.run(["debugfs", "-R", `stat "${p}"`, img], { env: { DEBUGFS_PAGER: "__none__" } });
  const m = /Mode:\s+(\d+).*\nGeneration.*\nUser:\s+(\d+)/.exec(r.stdout);
  return m ? { mode: Number.parseInt(m[1]!, 8), uid: Number(m[2]) } : null;
}

async function vm(name: string) {
  return disks.prepare({
    vmDir: path.join(dir, name),
    imageRootfs: rootfs,
    imageWorkSeed: seed,
    diskSizeBytes: 64 * 1024 ** 2,
  });
}

describe("file sync into the work disk", () => {
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "banger-filesync-"));
    const seedDir = path.join(dir, "seed");
    mkdirSync(path.join(seedDir, ".ssh"), { recursive: true });
    writeFileSync(path.join(seedDir, ".gitconfig"), "[user]\n\tname = seed\n");
    seed = path.join(dir, "seed.ext4");
    rootfs = path.join(dir, "root.ext4");
    await runner.run(["mkfs.ext4", "-F", "-q", "-b", "4096", "-d", seedDir, seed, "32M"]);
    await runner.run(["mkfs.ext4", "-F", "-q", rootfs, "16M"]);
    const host = path.join(dir, "host");
    mkdirSync(path.join(host, "proj", "bin"), { recursive: true });
    writeFileSync(path.join(host, "gitconfig"), "[user]\n\tname = me\n");
    writeFileSync(path.join(host, "token"), "s3cret\n");
    writeFileSync(path.join(host, "proj", "README"), "hello\n");
    writeFileSync(path.join(host, "proj", "bin", "run.sh"), "#!/bin/sh\necho run\n");
    chmodSync(path.join(host, "proj", "bin", "run.sh"), 0o755);
    chmodSync(path.join(host, "proj", "README"), 0o644);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("copies files, modes and trees; a missing host path is a warning; a second VM's seed file is overwritten", async () => {
    const h = (p: string) => path.join(dir, "host", p);
    const entries: FileSyncEntry[] = [
      { host: h("gitconfig"), guest: "/root/.gitconfig", mode: null },
      { host: h("token"), guest: "/root/.config/app/token", mode: 0o640 },
      { host: h("nope"), guest: "/root/nope", mode: null },
      { host: h("proj"), guest: "/root/src/proj", mode: null },
    ];
    const plan = await planFileSync(entries);
    assert.deepEqual(plan.warnings, [`file_sync[2]: ${h("nope")} does not exist; skipped`]);
    for (const name of ["vm1", "vm2"]) {
      const d = await vm(name);
      await disks.writeWorkFiles(d.work, plan.files);
      assert.equal(
        String(await disks.readWorkFile(d.work, ".gitconfig")),
        "[user]\n\tname = me\n",
        "the seed's file is overwritten",
      );
      assert.deepEqual(await stat(d.work, "/.gitconfig"), { mode: 0o600, uid: 0 });
      assert.deepEqual(await stat(d.work, "/.config/app/token"), { mode: 0o640, uid: 0 });
      assert.equal((await stat(d.work, "/.config"))?.mode, 0o700, "created parents are private");
      assert.equal(String(await disks.readWorkFile(d.work, "src/proj/bin/run.sh")), "#!/bin/sh\necho run\n");
      assert.deepEqual(await stat(d.work, "/src/proj/bin/run.sh"), { mode: 0o755, uid: 0 });
      assert.deepEqual(await stat(d.work, "/src/proj/README"), { mode: 0o644, uid: 0 });
      assert.equal(await stat(d.work, "/nope"), null);
    }
  });

  it("an unreadable host file aborts with the entry index", async () => {
    const entries: FileSyncEntry[] = [{ host: "/proc/self/mem", guest: "/root/mem", mode: null }];
    await assert.rejects(planFileSync(entries), /file_sync\[0\]: cannot read \/proc\/self\/mem/);
  });
});
