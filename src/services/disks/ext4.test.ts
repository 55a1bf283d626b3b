import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { ext4Problem, MAGIC_OFFSET, parseExt4Superblock, readExt4Superblock } from "./ext4.js";

/** A superblock as mkfs.ext4 would write it (only the fields parseExt4Superblock reads). */
function superblock(o: {
  logBlock: number;
  blocks: number;
  free: number;
  label?: string;
  is64?: boolean;
}): Buffer {
  const b = Buffer.alloc(2048);
  const sb = b.subarray(1024);
  sb.writeUInt32LE(o.blocks % 2 ** 32, 4);
  sb.writeUInt32LE(o.free % 2 ** 32, 12);
  sb.writeUInt32LE(o.logBlock, 24);
  sb.writeUInt16LE(0xef53, 56);
  if (o.is64) {
    sb.writeUInt32LE(0x80, 96);
    sb.writeUInt32LE(Math.floor(o.blocks / 2 ** 32), 0x150);
    sb.writeUInt32LE(Math.floor(o.free / 2 ** 32), 0x158);
  }
  sb.write(o.label ?? "", 120, 16, "latin1");
  return b;
}

describe("parseExt4Superblock", () => {
  it("reads block size, counts and label", () => {
    const sb = parseExt4Superblock(superblock({ logBlock: 2, blocks: 262144, free: 200000, label: "work" }));
    assert.deepEqual(sb, {
      blockSize: 4096,
      blocksCount: 262144,
      freeBlocksCount: 200000,
      sizeBytes: 1024 ** 3,
      usedBytes: 62144 * 4096,
      label: "work",
    });
  });

  it("adds the high words on 64bit filesystems", () => {
    const sb = parseExt4Superblock(
      superblock({ logBlock: 2, blocks: 2 ** 32 + 5, free: 2 ** 32, is64: true }),
    );
    assert.ok(typeof sb !== "string");
    assert.equal(sb.blocksCount, 2 ** 32 + 5);
    assert.equal(sb.usedBytes, 5 * 4096);
  });

  it("explains what is wrong", () => {
    assert.equal(parseExt4Superblock(Buffer.alloc(0)), "file is empty");
    assert.match(String(parseExt4Superblock(Buffer.alloc(100))), /only 100 bytes, too small/);
    assert.match(
      String(parseExt4Superblock(Buffer.alloc(4096))),
      /no superblock magic 0xEF53 at byte 1080 \(found 0x0000\)/,
    );
    const b = Buffer.alloc(MAGIC_OFFSET + 2);
    b.writeUInt16LE(0xef53, MAGIC_OFFSET);
    assert.match(String(parseExt4Superblock(b)), /truncated superblock/);
  });
});

describe("readExt4Superblock / ext4Problem", () => {
  it("reads files and reports unreadable ones", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "bgext4-"));
    try {
      const good = path.join(dir, "good");
      writeFileSync(good, superblock({ logBlock: 0, blocks: 65536, free: 1000 }));
      assert.equal(await ext4Problem(good), null);
      assert.equal(((await readExt4Superblock(good)) as { blockSize: number }).blockSize, 1024);
      writeFileSync(path.join(dir, "empty"), "");
      assert.equal(await ext4Problem(path.join(dir, "empty")), "file is empty");
      assert.equal(await ext4Problem(path.join(dir, "nope")), "cannot read: ENOENT");
      assert.equal(await ext4Problem(dir), "cannot read: EISDIR");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
