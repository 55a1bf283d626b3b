/**
 * Tar helpers for bundles: path and link checks, a sparse-friendly hashing
 * file writer, and the nested modules tar (a kernel's module tree) packed
 * from and unpacked into a directory without ever leaving it.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { chmod, lstat, mkdir, open, readdir, readlink, symlink } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { BangerError } from "../errors/index.js";
import { CatalogErrorCodes } from "./types.js";
import { bundlePathProblem } from "./validate.js";

const BLOCK = 4096;
const ZERO = Buffer.alloc(BLOCK);

export function bundleError(message: string, hint?: string): BangerError {
  return new BangerError(CatalogErrorCodes.BUNDLE_INVALID, message, hint ? { hint } : {});
}

/** Why an entry name is unsafe (absolute, `..`, ...), or null. */
export function entryPathProblem(name: string): string | null {
  return bundlePathProblem(name.endsWith("/") ? name.slice(0, -1) : name);
}

/** A symlink target is safe when relative and free of `..`: it then resolves inside the tree. */
export function linkTargetProblem(target: string): string | null {
  if (path.isAbsolute(target)) return `points outside the bundle (to the absolute path ${target})`;
  if (target.split("/").includes("..")) return `points outside the bundle (through "..": ${target})`;
  if (target.length === 0) return "has an empty target";
  return null;
}

const isZero = (b: Buffer, s: number, e: number) => b.compare(ZERO, 0, e - s, s, e) === 0;

/** Write `chunk` at `pos`, skipping 4 KiB blocks of zeros (they stay holes). */
async function writeSparseChunk(fh: Awaited<ReturnType<typeof open>>, chunk: Buffer, pos: number) {
  let run = -1;
  for (let off = 0; off < chunk.length; off += BLOCK) {
    const end = Math.min(off + BLOCK, chunk.length);
    const zero = isZero(chunk, off, end);
    if (!zero && run < 0) run = off;
    if (zero && run >= 0) {
      await fh.write(chunk, run, off - run, pos + run);
      run = -1;
    }
  }
  if (run >= 0) await fh.write(chunk, run, chunk.length - run, pos + run);
}

/**
 * Write a stream to a new file (never through an existing one), hashing it,
 * refusing more than `limit` bytes. Zero blocks become holes.
 */
export async function writeHashed(
  src: AsyncIterable<Buffer>,
  file: string,
  limit: number,
  onBytes: (n: number) => void = () => {},
): Promise<{ bytes: number; sha256: string }> {
  const fh = await open(file, "wx", 0o644);
  const hash = createHash("sha256");
  let pos = 0;
  try {
    for await (const chunk of src) {
      if (pos + chunk.length > limit) throw new RangeError(`more than ${limit} bytes`);
      hash.update(chunk);
      await writeSparseChunk(fh, chunk, pos);
      pos += chunk.length;
      onBytes(chunk.length);
    }
    await fh.truncate(pos);
  } finally {
    await fh.close();
  }
  return { bytes: pos, sha256: hash.digest("hex") };
}

/** sha256 and size of a file. */
export async function hashFile(file: string): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { bytes, sha256: hash.digest("hex") };
}

async function walk(root: string, rel: string, out: string[]): Promise<void> {
  const names = (await readdir(path.join(root, rel))).sort();
  for (const n of names) {
    const r = rel ? `${rel}/${n}` : n;
    out.push(r);
    if ((await lstat(path.join(root, r))).isDirectory()) await walk(root, r, out);
  }
}

/**
 * Pack a directory tree (directories, regular files, symlinks that stay
 * inside) into a plain tar. Returns the paths left out (other symlinks, special files).
 */
export async function packTree(dir: string, outFile: string): Promise<{ skipped: string[] }> {
  const rels: string[] = [];
  await walk(dir, "", rels);
  const pack = tar.pack();
  const done = pipeline(pack, createWriteStream(outFile, { mode: 0o600 }));
  const skipped: string[] = [];
  const mtime = new Date(0);
  for (const rel of rels) {
    const abs = path.join(dir, rel);
    const st = await lstat(abs);
    const mode = st.mode & 0o7777;
    if (st.isDirectory()) pack.entry({ name: `${rel}/`, type: "directory", mode, mtime });
    else if (st.isSymbolicLink()) {
      const target = await readlink(abs);
      if (linkTargetProblem(target)) skipped.push(rel);
      else pack.entry({ name: rel, type: "symlink", linkname: target, mode, mtime });
    } else if (st.isFile()) {
      const e = pack.entry({ name: rel, size: st.size, mode, mtime });
      await pipeline(createReadStream(abs), e);
    } else skipped.push(rel);
  }
  pack.finalize();
  await done;
  return { skipped };
}

function refuse(name: string, why: string): BangerError {
  return bundleError(`modules tar entry "${name}" ${why}`);
}

/**
 * Unpack the nested modules tar into `dest` (a new directory): directories,
 * files and symlinks whose target stays inside; anything else is refused.
 */
export async function unpackTree(tarFile: string, dest: string): Promise<void> {
  await mkdir(dest, { mode: 0o755 });
  const extract = tar.extract();
  const feed = pipeline(createReadStream(tarFile), extract);
  feed.catch(() => {});
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const bad = entryPathProblem(h.name);
      if (bad) throw refuse(h.name, bad.replace(`"${h.name}" `, ""));
      const abs = path.join(dest, h.name);
      const mode = (h.mode ?? 0o644) & 0o777;
      if (h.type === "directory") await mkdir(abs, { recursive: true, mode: mode | 0o700 });
      else if (h.type === "symlink") {
        const why = linkTargetProblem(h.linkname ?? "");
        if (why) throw refuse(h.name, `is a symlink that ${why}`);
        await mkdir(path.dirname(abs), { recursive: true });
        await symlink(h.linkname ?? "", abs);
      } else if (h.type === "file" || h.type === "contiguous-file") {
        await mkdir(path.dirname(abs), { recursive: true });
        await writeHashed(entry as unknown as AsyncIterable<Buffer>, abs, h.size ?? 0);
        await chmod(abs, mode);
      } else throw refuse(h.name, `is a ${h.type ?? "special file"}: not allowed`);
      entry.resume();
    }
    await feed;
  } catch (e) {
    extract.destroy();
    await feed.catch(() => {});
    throw e;
  }
}
