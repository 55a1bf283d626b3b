/** Hand-made bundles for tests, including malicious ones that writeBundle would never produce. */
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import tar, { type Header } from "tar-stream";
import type { BundleManifest, CatalogKind } from "./types.js";

export interface RawEntry {
  header: Partial<Header> & { name: string };
  body?: Buffer;
}

export const sha256 = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

/** Write a gzip'd tar of exactly these entries, in this order. */
export async function rawBundle(file: string, entries: RawEntry[]): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack, createGzip(), createWriteStream(file));
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (e.body) pack.entry({ mode: 0o644, ...e.header, size: e.body.length }, e.body, cb);
      else pack.entry({ mode: 0o644, ...e.header }, cb);
    });
  }
  pack.finalize();
  await done;
}

/** A manifest entry (as a raw tar entry) listing `files` by role. */
export function manifestEntry(
  kind: CatalogKind,
  files: Record<string, { path: string; body: Buffer }>,
  name = "t",
): RawEntry {
  const m: BundleManifest = { format: 1, kind, name, version: "1", arch: "x86_64", files: {} };
  for (const [role, f] of Object.entries(files)) {
    (m.files as Record<string, unknown>)[role] = {
      path: f.path,
      sizeBytes: f.body.length,
      sha256: sha256(f.body),
    };
  }
  return { header: { name: "manifest.json" }, body: Buffer.from(JSON.stringify(m)) };
}
