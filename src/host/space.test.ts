import assert from "node:assert/strict";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { BangerError, ErrorCodes } from "../errors/index.js";
import { ext4FormatBytes, vmDisksNeedBytes } from "../services/disks/ext4.js";
import { freeBytes, isNoSpace, noSpaceError } from "./space.js";

const MiB = 1024 ** 2;

describe("isNoSpace", () => {
  it("sees ENOSPC as an errno, in a message, in a command's stderr and down a cause chain", () => {
    const errno = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    assert.equal(isNoSpace(errno), true);
    assert.equal(isNoSpace(new Error("mkfs.ext4: No space left on device while writing")), true);
    const cmd = new BangerError(ErrorCodes.COMMAND_FAILED, "cp exited with code 1", {
      details: { stderr: "cp: error writing 'w.ext4': No space left on device" },
    });
    assert.equal(isNoSpace(cmd), true);
    const wrapped = new BangerError("DOWNLOAD_FAILED", "download failed", { cause: { cause: errno } });
    assert.equal(isNoSpace(wrapped), true);
    assert.equal(isNoSpace(new Error("database or disk is full")), true);
  });

  it("does not see it in other failures", () => {
    assert.equal(isNoSpace(new Error("connection refused")), false);
    assert.equal(isNoSpace(Object.assign(new Error("EACCES"), { code: "EACCES" })), false);
    assert.equal(isNoSpace(undefined), false);
  });
});

describe("noSpaceError", () => {
  it("names the directory, the need, what is free and the shortfall, without repeating the cause's prefix", async () => {
    const dir = os.tmpdir();
    const free = (await freeBytes(dir))!;
    const e = await noSpaceError({
      dir,
      doing: 'pulling image "x" failed',
      needBytes: free + 10 * MiB,
      cause: new Error('pulling image "x" failed: ENOSPC: no space left on device, write'),
    });
    assert.equal(e.code, ErrorCodes.COMMAND_FAILED);
    assert.match(e.message, /^pulling image "x" failed: no space left on device in /);
    assert.ok(e.message.includes(`in ${dir}: it needs about `), e.message);
    assert.match(e.message, / MiB free \(ENOSPC: no space left on device, write\)$/);
    assert.match(e.hint ?? "", /at least 10\.0 MiB more/);
    assert.ok((e.hint ?? "").includes(`df -h ${dir}`));
  });

  it("says what it does not know", async () => {
    const e = await noSpaceError({
      dir: path.join(os.tmpdir(), "no", "such"),
      doing: "x failed",
      needBytes: null,
      cause: "full",
    });
    assert.match(e.message, /it needs more space, [\d.]+ MiB free \(full\)/);
    assert.doesNotMatch(e.hint ?? "", /more\)/);
  });
});

describe("ext4FormatBytes", () => {
  it("is mke2fs's default journal plus about 0.1% of metadata", () => {
    assert.equal(ext4FormatBytes(4 * 1024 ** 3), 64 * MiB + 4 * MiB);
    assert.equal(ext4FormatBytes(512 * MiB), 16 * MiB + 512 * 1024);
    assert.equal(ext4FormatBytes(4 * MiB), 4096);
  });

  it("a VM's disks: the seed's blocks, growth metadata, and the overlay's cow (none for a reflink clone)", () => {
    const GiB = 1024 ** 3;
    assert.equal(vmDisksNeedBytes(4 * MiB, GiB, 4 * GiB), 4 * MiB + MiB + 68 * MiB);
    assert.equal(vmDisksNeedBytes(4 * MiB, GiB, 0), 5 * MiB);
  });
});
