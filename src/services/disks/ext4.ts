/**
 * Pure helpers for ext2/3/4 images: the superblock lives at byte 1024 and
 * carries the magic 0xEF53 at byte 1080 (offset 56 inside it). Reading it
 * needs no e2fsprogs and no mounting.
 */
import { open } from "node:fs/promises";

export const SUPERBLOCK_OFFSET = 1024;
export const EXT4_MAGIC = 0xef53;
/** Absolute byte offset of s_magic. */
export const MAGIC_OFFSET = SUPERBLOCK_OFFSET + 56;
/** Bytes of the superblock that parseExt4Superblock reads. */
export const SUPERBLOCK_BYTES = 1024;

const INCOMPAT_64BIT = 0x80;

export interface Ext4Superblock {
  blockSize: number;
  blocksCount: number;
  freeBlocksCount: number;
  /** blocksCount * blockSize: the filesystem's size (may be less than its file's). */
  sizeBytes: number;
  /** (blocksCount - freeBlocksCount) * blockSize. */
  usedBytes: number;
  label: string;
}

/**
 * Parse a superblock from the first bytes of an image (at least 1024 + 1024
 * bytes for every field, 1082 for the magic). Returns the reason when the
 * bytes are not an ext2/3/4 filesystem.
 */
export function parseExt4Superblock(head: Buffer): Ext4Superblock | string {
  if (head.length === 0) return "file is empty";
  if (head.length < MAGIC_OFFSET + 2) return `not an ext4 image: only ${head.length} bytes, too small`;
  const magic = head.readUInt16LE(MAGIC_OFFSET);
  if (magic !== EXT4_MAGIC) {
    return `not an ext4 image: no superblock magic 0xEF53 at byte ${MAGIC_OFFSET} (found 0x${magic.toString(16).toUpperCase().padStart(4, "0")})`;
  }
  if (head.length < SUPERBLOCK_OFFSET + SUPERBLOCK_BYTES) return "not an ext4 image: truncated superblock";
  const sb = head.subarray(SUPERBLOCK_OFFSET, SUPERBLOCK_OFFSET + SUPERBLOCK_BYTES);
  const logBlock = sb.readUInt32LE(24);
  if (logBlock > 6) return `not an ext4 image: implausible block size (log ${logBlock})`;
  const blockSize = 1024 << logBlock;
  const is64 = (sb.readUInt32LE(96) & INCOMPAT_64BIT) !== 0;
  const hi = (off: number) => (is64 ? sb.readUInt32LE(off) * 2 ** 32 : 0);
  const blocksCount = sb.readUInt32LE(4) + hi(0x150);
  const freeBlocksCount = sb.readUInt32LE(12) + hi(0x158);
  const label = sb.subarray(120, 136).toString("latin1").replace(/\0.*$/s, "");
  return {
    blockSize,
    blocksCount,
    freeBlocksCount,
    sizeBytes: blocksCount * blockSize,
    usedBytes: (blocksCount - freeBlocksCount) * blockSize,
    label,
  };
}

/** Read and parse an image's superblock; on failure the reason ("cannot read: ENOENT", "file is empty", ...). */
export async function readExt4Superblock(path: string): Promise<Ext4Superblock | string> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(path, "r");
    const buf = Buffer.alloc(SUPERBLOCK_OFFSET + SUPERBLOCK_BYTES);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return parseExt4Superblock(buf.subarray(0, bytesRead));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return `cannot read: ${code ?? (e as Error).message}`;
  } finally {
    await fh?.close();
  }
}

/** null when `path` holds an ext2/3/4 superblock, else the reason. */
export async function ext4Problem(path: string): Promise<string | null> {
  const sb = await readExt4Superblock(path);
  return typeof sb === "string" ? sb : null;
}

/** What mkfs.ext4 writes up front for a filesystem of `bytes`: its journal (mke2fs's default size) and about 0.1% of metadata. */
export function ext4FormatBytes(bytes: number): number {
  const blocks = Math.floor(bytes / 4096);
  const steps: Array<[number, number]> = [
    [32768, 1024],
    [256 * 1024, 4096],
    [512 * 1024, 8192],
    [4096 * 1024, 16384],
    [8192 * 1024, 32768],
    [16384 * 1024, 65536],
    [32768 * 1024, 131072],
  ];
  const journal = blocks < 2048 ? 0 : (steps.find(([max]) => blocks < max)?.[1] ?? 262144);
  return journal * 4096 + Math.ceil(bytes / 1024);
}

/**
 * About what a VM's disks take up front: the work seed's allocated blocks and
 * the metadata of growing it to `diskBytes`, plus an overlay's cow disk
 * (`cowBytes`, 0 for a reflink clone, which shares the image's blocks).
 */
export function vmDisksNeedBytes(seedAllocated: number, diskBytes: number, cowBytes: number): number {
  return seedAllocated + Math.ceil(diskBytes / 1024) + (cowBytes > 0 ? ext4FormatBytes(cowBytes) : 0);
}
