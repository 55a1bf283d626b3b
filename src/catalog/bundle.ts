/**
 * Bundles: a gzip'd tar whose first member is manifest.json, then the files
 * it lists (see docs/catalog.md). Extraction is safe: nothing outside the
 * manifest, no links, no devices, no path leaving the target, no byte beyond
 * the manifest's sizes; every file's sha256 is checked, and the directory
 * appears (renamed into place) only once all of it is verified.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rename, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip, createGzip } from "node:zlib";
import tar, { type Extract, type Header } from "tar-stream";
import { BangerError, ErrorCodes, isBangerError } from "../errors/index.js";
import type { Arch } from "../model/ids.js";
import {
  bundleError,
  entryPathProblem,
  hashFile,
  linkTargetProblem,
  packTree,
  unpackTree,
  writeHashed,
} from "./tarSafe.js";
import {
  type BundleFile,
  type BundleManifest,
  CatalogErrorCodes,
  type CatalogKind,
  REQUIRED_ROLES,
  type Role,
  rolesOf,
} from "./types.js";
import { formatProblems, validateManifest } from "./validate.js";

/** One member of a bundle being read. */
type TarEntry = Extract extends AsyncIterable<infer S> ? S : never;

export const MANIFEST_NAME = "manifest.json";
const MAX_MANIFEST_BYTES = 1024 * 1024;

/** File names inside bundles written by banger (and in installed directories). */
export const ROLE_FILE_NAMES: Readonly<Record<Role, string>> = {
  rootfs: "rootfs.ext4",
  workSeed: "work-seed.ext4",
  kernel: "vmlinux",
  initrd: "initrd.img",
  vmlinux: "vmlinux",
  modules: "modules.tar",
};
/** The directory the nested modules tar is unpacked into. */
export const MODULES_DIR = "modules";

export interface WriteBundleInput {
  kind: CatalogKind;
  name: string;
  version: string;
  arch: Arch;
  /** Absolute paths by role; `modules` may be a directory (packed as a nested tar). */
  files: Partial<Record<Role, string>>;
}

export interface WrittenBundle {
  path: string;
  sha256: string;
  sizeBytes: number;
  manifest: BundleManifest;
  /** Paths of the modules tree left out (symlinks leaving it, special files). */
  skipped: string[];
}

export interface BundleProgress {
  current: number;
  total: number;
  /** The bundle member being processed. */
  entry: string;
}

function checkRoles(kind: CatalogKind, files: Partial<Record<Role, string>>): void {
  const allowed = rolesOf(kind);
  for (const role of Object.keys(files)) {
    if (!allowed.includes(role as Role)) {
      throw new BangerError(
        "INVALID_ARGUMENT",
        `a ${kind} bundle has no "${role}" file (roles: ${allowed.join(", ")})`,
      );
    }
  }
  for (const role of REQUIRED_ROLES[kind]) {
    if (!files[role]) throw new BangerError("INVALID_ARGUMENT", `a ${kind} bundle needs its "${role}" file`);
  }
}

/** The files to pack, by role: source path and manifest entry (modules directories packed first). */
async function prepareMembers(input: WriteBundleInput, scratch: string) {
  const members: Array<{ role: Role; src: string; file: BundleFile }> = [];
  let skipped: string[] = [];
  for (const role of rolesOf(input.kind)) {
    let src = input.files[role];
    if (!src) continue;
    const st = await stat(src);
    if (role === "modules" && st.isDirectory()) {
      const packed = path.join(scratch, ROLE_FILE_NAMES.modules);
      skipped = (await packTree(src, packed)).skipped;
      src = packed;
    } else if (!st.isFile()) {
      throw new BangerError("INVALID_ARGUMENT", `${src} (${role}) is not a regular file`);
    }
    const { bytes, sha256 } = await hashFile(src);
    members.push({ role, src, file: { path: ROLE_FILE_NAMES[role], sizeBytes: bytes, sha256 } });
  }
  return { members, skipped };
}

/** Write a bundle to `outFile` (via `outFile.part`, renamed when complete). */
export async function writeBundle(
  outFile: string,
  input: WriteBundleInput,
  onProgress: (p: BundleProgress) => void = () => {},
): Promise<WrittenBundle> {
  checkRoles(input.kind, input.files);
  const scratch = await mkdtemp(path.join(os.tmpdir(), "banger-bundle-"));
  const part = `${outFile}.part`;
  try {
    const { members, skipped } = await prepareMembers(input, scratch);
    const files: BundleManifest["files"] = {};
    for (const m of members) files[m.role] = m.file;
    const manifest: BundleManifest = { format: 1, ...pick(input), files };
    const hash = createHash("sha256");
    let sizeBytes = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        sizeBytes += chunk.length;
        cb(null, chunk);
      },
    });
    const pack = tar.pack();
    const done = pipeline(pack, createGzip(), tap, createWriteStream(part, { mode: 0o644 }));
    done.catch(() => {});
    const mtime = new Date(0);
    pack.entry({ name: MANIFEST_NAME, mode: 0o644, mtime }, `${JSON.stringify(manifest, null, 2)}\n`);
    const total = members.reduce((n, m) => n + m.file.sizeBytes, 0);
    let current = 0;
    for (const m of members) {
      const entry = pack.entry({ name: m.file.path, size: m.file.sizeBytes, mode: 0o644, mtime });
      const count = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          current += chunk.length;
          onProgress({ current, total, entry: m.file.path });
          cb(null, chunk);
        },
      });
      await pipeline(createReadStream(m.src), count, entry);
    }
    pack.finalize();
    await done;
    await rename(part, outFile);
    return { path: outFile, sha256: hash.digest("hex"), sizeBytes, manifest, skipped };
  } catch (e) {
    await rm(part, { force: true });
    throw e;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function pick(i: WriteBundleInput): Omit<BundleManifest, "format" | "files"> {
  return { kind: i.kind, name: i.name, version: i.version, arch: i.arch };
}

async function readManifest(entry: TarEntry, kind: CatalogKind): Promise<BundleManifest> {
  const h = entry.header;
  if (h.name !== MANIFEST_NAME || h.type !== "file") {
    throw bundleError(`the first bundle entry must be ${MANIFEST_NAME}, found "${h.name}" (${h.type})`);
  }
  if ((h.size ?? 0) > MAX_MANIFEST_BYTES) throw bundleError(`${MANIFEST_NAME} is larger than 1 MiB`);
  const chunks: Buffer[] = [];
  for await (const c of entry as unknown as AsyncIterable<Buffer>) chunks.push(c);
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch (e) {
    throw bundleError(`${MANIFEST_NAME} is not JSON: ${(e as Error).message}`);
  }
  const { manifest, problems } = validateManifest(raw, kind);
  if (!manifest) throw bundleError(`${MANIFEST_NAME} is invalid: ${formatProblems(problems)}`);
  return manifest;
}

interface Unpacking {
  manifest: BundleManifest;
  dir: string;
  seen: Set<string>;
  current: number;
  total: number;
  onProgress: (p: BundleProgress) => void;
}

/** Refuse anything but a manifest-listed regular file; returns its role. */
function checkEntry(u: Unpacking, h: Header): Role {
  const name = h.name;
  const bad = entryPathProblem(name);
  if (bad) throw bundleError(`bundle entry "${name}" is refused: ${bad}`);
  if (h.type === "symlink" || h.type === "link") {
    const kind = h.type === "symlink" ? "a symlink" : "a hardlink";
    const why = linkTargetProblem(h.linkname ?? "") ?? "links are not allowed in a bundle";
    throw bundleError(`bundle entry "${name}" is refused: ${kind} to ${h.linkname} ${why}`);
  }
  if (h.type !== "file") throw bundleError(`bundle entry "${name}" is refused: a ${h.type} is not allowed`);
  const found = Object.entries(u.manifest.files).find(([, f]) => f?.path === name);
  if (!found) throw bundleError(`bundle entry "${name}" is refused: it is not in the manifest`);
  if (u.seen.has(name)) throw bundleError(`bundle entry "${name}" is refused: it appears twice`);
  const want = found[1]!.sizeBytes;
  if (h.size !== want) {
    throw bundleError(`bundle entry "${name}" is refused: ${h.size} bytes, the manifest says ${want}`);
  }
  return found[0] as Role;
}

async function unpackMember(u: Unpacking, entry: TarEntry): Promise<void> {
  const role = checkEntry(u, entry.header);
  const f = u.manifest.files[role]!;
  u.seen.add(f.path);
  const abs = path.join(u.dir, f.path);
  await mkdir(path.dirname(abs), { recursive: true, mode: 0o755 });
  const got = await writeHashed(entry as unknown as AsyncIterable<Buffer>, abs, f.sizeBytes, (n) => {
    u.current += n;
    u.onProgress({ current: u.current, total: u.total, entry: f.path });
  });
  if (got.sha256 !== f.sha256) {
    throw new BangerError(
      CatalogErrorCodes.CHECKSUM_MISMATCH,
      `bundle entry "${f.path}" has sha256 ${got.sha256}, the manifest says ${f.sha256}`,
    );
  }
}

function corrupt(e: unknown, dir: string): BangerError {
  if (isBangerError(e)) return e;
  const msg = (e as Error).message ?? String(e);
  if (typeof (e as NodeJS.ErrnoException).syscall === "string") {
    // The host's filesystem failed (no space, I/O error), not the bundle.
    return new BangerError(ErrorCodes.COMMAND_FAILED, `extracting the bundle into ${dir} failed: ${msg}`, {
      cause: e,
    });
  }
  return new BangerError(CatalogErrorCodes.BUNDLE_INVALID, `the bundle is not a valid gzip'd tar: ${msg}`, {
    cause: e,
  });
}

/** Stream the bundle into `dir` (which exists, empty); returns the verified manifest. */
async function unpackInto(
  bundle: string,
  dir: string,
  kind: CatalogKind,
  onProgress: (p: BundleProgress) => void,
) {
  const extract = tar.extract();
  const feed = pipeline(createReadStream(bundle), createGunzip(), extract);
  feed.catch(() => {});
  let u: Unpacking | undefined;
  try {
    for await (const entry of extract) {
      if (!u) {
        const manifest = await readManifest(entry, kind);
        const total = Object.values(manifest.files).reduce((n, f) => n + (f?.sizeBytes ?? 0), 0);
        u = { manifest, dir, seen: new Set(), current: 0, total, onProgress };
      } else await unpackMember(u, entry);
    }
    await feed;
  } catch (e) {
    extract.destroy();
    await feed.catch(() => {});
    throw corrupt(e, dir);
  }
  if (!u) throw bundleError(`the bundle is empty: no ${MANIFEST_NAME}`);
  const missing = Object.values(u.manifest.files).filter((f) => f && !u.seen.has(f.path));
  if (missing.length > 0) {
    throw bundleError(
      `the bundle lacks ${missing.map((f) => `"${f?.path}"`).join(", ")} listed in its manifest`,
    );
  }
  return u.manifest;
}

export interface ExtractedBundle {
  manifest: BundleManifest;
  /** Absolute paths (under the final directory) by role; `modules` is a directory. */
  files: Partial<Record<Role, string>>;
}

/**
 * Extract and verify a bundle into `destDir`, which must not exist: it is
 * built as a sibling temp directory and renamed into place at the end.
 */
export async function extractBundle(
  bundle: string,
  destDir: string,
  kind: CatalogKind,
  onProgress: (p: BundleProgress) => void = () => {},
): Promise<ExtractedBundle> {
  const tmp = `${destDir}.extract-${randomBytes(4).toString("hex")}`;
  await mkdir(tmp, { mode: 0o755 });
  try {
    const manifest = await unpackInto(bundle, tmp, kind, onProgress);
    const files: Partial<Record<Role, string>> = {};
    for (const [role, f] of Object.entries(manifest.files) as Array<[Role, BundleFile]>) {
      files[role] = path.join(destDir, f.path);
    }
    if (manifest.files.modules) {
      const clash = Object.values(manifest.files).find(
        (f) => f?.path === MODULES_DIR || f?.path.startsWith(`${MODULES_DIR}/`),
      );
      if (clash)
        throw bundleError(`bundle entry "${clash.path}" is refused: "${MODULES_DIR}" is where modules go`);
      const nested = path.join(tmp, manifest.files.modules.path);
      await unpackTree(nested, path.join(tmp, MODULES_DIR));
      await rm(nested);
      files.modules = path.join(destDir, MODULES_DIR);
    }
    await rename(tmp, destDir);
    return { manifest, files };
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Write a catalog entry JSON file (used by export). */
export async function writeJson(file: string, value: unknown): Promise<void> {
  await writeFile(`${file}.part`, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o644 });
  await rename(`${file}.part`, file);
}
