import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { FakeDiskManager } from "./FakeDiskManager.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "bgfakedisk-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("FakeDiskManager", () => {
  it("records calls, makes placeholders, keeps work files, removes its own files only", async () => {
    const image = path.join(dir, "rootfs.ext4");
    writeFileSync(image, "image");
    const m = new FakeDiskManager();
    const vmDir = path.join(dir, "vm");
    const disks = await m.prepare({ vmDir, imageRootfs: image, imageWorkSeed: image, diskSizeBytes: 1 });
    assert.equal(disks.rootMode, "overlay");
    assert.deepEqual(readdirSync(vmDir).sort(), ["cow.ext4", "work.ext4"]);
    await m.writeWorkFiles(disks.work, [{ path: ".ssh/authorized_keys", content: "k", mode: 0o600 }]);
    assert.equal((await m.readWorkFile(disks.work, "./.ssh/authorized_keys"))?.toString(), "k");
    assert.equal(await m.readWorkFile(disks.work, "nope"), null);
    await assert.rejects(m.writeWorkFiles(disks.work, [{ path: "../x", content: "", mode: 0 }]), /'\.\.'/);
    await m.remove(disks);
    assert.deepEqual(readdirSync(vmDir), []);
    assert.ok(existsSync(image));
    assert.deepEqual(
      m.calls.map((c) => c.method),
      ["prepare", "writeWorkFiles", "readWorkFile", "readWorkFile", "writeWorkFiles", "remove"],
    );
    assert.equal(m.callsOf("prepare")[0]?.req.vmDir, vmDir);
  });

  it("reflink mode and injected failures", async () => {
    const m = new FakeDiskManager({ rootMode: "reflink" });
    const vmDir = path.join(dir, "vm");
    m.failOn("prepare", new Error("boom"));
    await assert.rejects(
      m.prepare({ vmDir, imageRootfs: "/i", imageWorkSeed: "/s", diskSizeBytes: 1 }),
      /boom/,
    );
    assert.equal(existsSync(vmDir), false);
    const disks = await m.prepare({ vmDir, imageRootfs: "/i", imageWorkSeed: "/s", diskSizeBytes: 1 });
    assert.deepEqual(disks.root, { path: path.join(vmDir, "root.ext4"), readOnly: false });
    assert.deepEqual(readdirSync(vmDir).sort(), ["root.ext4", "work.ext4"]);
    m.failOn("checkExt4", undefined, Number.POSITIVE_INFINITY);
    await assert.rejects(m.checkExt4(disks.work), /fake checkExt4 failure/);
    await assert.rejects(m.checkExt4(disks.work), /fake checkExt4 failure/);
    m.clearFailures();
    assert.equal(await m.checkExt4(disks.work), null);
    m.ext4Verdicts.set(disks.work, "not an ext4 image: test");
    assert.equal(await m.checkExt4(disks.work), "not an ext4 image: test");
    assert.equal(await m.checkExt4(path.join(dir, "nope")), "cannot read: ENOENT");
  });
});
