/** `banger image export`: an image as a bundle plus its catalog entry, ready to host. */
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { ProgressEvent } from "../api/protocol.js";
import { BangerError, ErrorCodes } from "../errors/index.js";
import type { Image } from "../model/image.js";
import type { Store } from "../store/Store.js";
import { writeBundle, writeJson } from "./bundle.js";
import { humanBytes } from "./install.js";
import type { CatalogEntry, ProgressFn, Role } from "./types.js";
import { formatProblems, validateCatalog } from "./validate.js";

const event = (phase: ProgressEvent["phase"], message: string, extra: Partial<ProgressEvent> = {}) => ({
  kind: "progress" as const,
  stage: "export:pack",
  phase,
  message,
  ...extra,
});

/** The catalog entry of an exported image; INVALID_ARGUMENT when the image cannot be one (name, version). */
export function exportEntry(img: Image, outFile: string): CatalogEntry {
  const draft: CatalogEntry = {
    name: img.name,
    version: img.version,
    arch: img.arch,
    description: img.description,
    sizeBytes: img.sizeBytes,
    bundle: { url: pathToFileURL(outFile).href, sha256: "0".repeat(64), sizeBytes: 0 },
  };
  const { problems } = validateCatalog({ format: 1, kind: "image", entries: [draft] }, "image", null);
  if (problems.length > 0) {
    const why = formatProblems(problems).replaceAll("entries[0].", "");
    throw new BangerError(
      ErrorCodes.INVALID_ARGUMENT,
      `image "${img.name}" cannot be a catalog entry: ${why}`,
    );
  }
  return draft;
}

/** The image's files, its kernel's included (managed or its own), so the bundle stands alone. */
export function exportFiles(store: Store, img: Image): Partial<Record<Role, string>> {
  const kernel = img.kernelId ? store.kernels.getById(img.kernelId) : null;
  const files: Partial<Record<Role, string>> = { rootfs: img.rootfsPath, workSeed: img.workSeedPath };
  const vmlinux = img.kernelPath ?? kernel?.vmlinuxPath;
  const initrd = img.initrdPath ?? kernel?.initrdPath;
  if (vmlinux) files.kernel = vmlinux;
  if (initrd) files.initrd = initrd;
  return files;
}

/**
 * Write image NAME as a bundle to `outFile` and its catalog entry to
 * `outFile.json` (bundle.url: a file:// URL of outFile, sha256 and size filled).
 */
export async function exportImage(
  store: Store,
  name: string,
  outFile: string,
  onProgress: ProgressFn,
): Promise<{ bundle: string; entry: string }> {
  if (!path.isAbsolute(outFile)) {
    throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `output: "${outFile}" is not an absolute path`);
  }
  const img = store.images.get(name);
  const entryFile = `${outFile}.json`;
  for (const f of [outFile, entryFile]) {
    if (!existsSync(f)) continue;
    throw new BangerError(ErrorCodes.ALREADY_EXISTS, `${f} already exists`, {
      hint: "choose another output file, or remove it first",
    });
  }
  const entry = exportEntry(img, outFile);
  const t = Date.now();
  onProgress(event("start", `packing ${name} into ${outFile}`));
  const input = { kind: "image" as const, name: img.name, version: img.version, arch: img.arch };
  const written = await writeBundle(outFile, { ...input, files: exportFiles(store, img) }, (p) =>
    onProgress(event("info", `packing ${p.entry}`, { current: p.current, total: p.total })),
  );
  entry.bundle = { url: pathToFileURL(outFile).href, sha256: written.sha256, sizeBytes: written.sizeBytes };
  try {
    await writeJson(entryFile, entry);
  } catch (e) {
    await rm(outFile, { force: true });
    throw e;
  }
  onProgress(event("done", `exported ${name} (${humanBytes(written.sizeBytes)})`, { ms: Date.now() - t }));
  return { bundle: outFile, entry: entryFile };
}
