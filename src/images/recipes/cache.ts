/**
 * The recipe cache: a build goes into a temp dir beside its entry
 * (ROOT/.NAME.tmp-XXXX), manifest.json is written last, and the dir is
 * renamed into place (ROOT/NAME). An entry counts only when its manifest and
 * every file it names exist; anything else is rebuilt.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import { removeUnlessMounted } from "../mounts.js";
import type { StageTiming } from "./stages.js";

export interface CacheManifest {
  version: 1;
  recipe: string;
  hash: string;
  /** Role -> file name inside the entry. */
  files: Record<string, string>;
  /** The artifact's version, e.g. "12-20250520" or "6.1.0-56-amd64". */
  artifactVersion: string;
  builtAt: string;
  buildSeconds: number;
  stages: StageTiming[];
}

export interface CacheEntry {
  dir: string;
  manifest: CacheManifest;
  /** Role -> absolute path. */
  files: Record<string, string>;
}

/** What a build returns; the cache adds the rest of the manifest. */
export type BuiltArtifact = Pick<CacheManifest, "files" | "artifactVersion" | "stages">;

/** sha256 (hex) of a JSON rendering of the parts: the recipe's cache key. */
export function cacheKey(parts: unknown): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex");
}

/**
 * The text of modules next to the caller (`new URL("./x.js", import.meta.url)`):
 * what the recipe is, for its cache key. Works from dist/ and from sources.
 */
export async function moduleTexts(urls: readonly URL[]): Promise<Array<[string, string]>> {
  return Promise.all(
    urls.map(async (u): Promise<[string, string]> => {
      const file = fileURLToPath(u);
      return [path.basename(file), await readFile(file, "utf8")];
    }),
  );
}

/** The entry in DIR when complete, else undefined. */
export async function readCacheEntry(dir: string): Promise<CacheEntry | undefined> {
  let manifest: CacheManifest;
  try {
    manifest = JSON.parse(await readFile(path.join(dir, "manifest.json"), "utf8")) as CacheManifest;
  } catch {
    return undefined;
  }
  if (manifest.version !== 1 || typeof manifest.files !== "object" || manifest.files === null)
    return undefined;
  const files: Record<string, string> = {};
  for (const [role, name] of Object.entries(manifest.files)) {
    const p = path.join(dir, name);
    if (!existsSync(p)) return undefined;
    files[role] = p;
  }
  return { dir, manifest, files };
}

export interface BuildCachedOptions {
  /** The cache directory (created when missing). */
  root: string;
  recipe: string;
  hash: string;
  /** Entry name, e.g. "image-debian-bookworm-<hash16>". */
  name: string;
  /** Build into `tmp` (an empty dir); scratch files must be removed or they stay in the entry. */
  build: (tmp: string) => Promise<BuiltArtifact>;
}

/** The cached entry, or a fresh build moved into place. */
export async function buildCached(opts: BuildCachedOptions): Promise<CacheEntry & { cached: boolean }> {
  const dir = path.join(opts.root, opts.name);
  const hit = await readCacheEntry(dir);
  if (hit) {
    await pruneSuperseded(opts.root, opts.name);
    return { ...hit, cached: true };
  }
  await mkdir(opts.root, { recursive: true }).catch((e: unknown) => {
    throw new BangerError(ErrorCodes.PREFLIGHT_FAILED, `cannot create the cache directory ${opts.root}`, {
      cause: e,
      hint: "check that the cache directory is writable",
    });
  });
  await removeStaleTemps(opts.root, opts.name);
  const tmp = await mkdtemp(path.join(opts.root, `.${opts.name}.tmp-`));
  const started = Date.now();
  try {
    await chmod(tmp, 0o755);
    const built = await opts.build(tmp);
    const manifest: CacheManifest = {
      version: 1,
      recipe: opts.recipe,
      hash: opts.hash,
      ...built,
      builtAt: new Date().toISOString(),
      buildSeconds: (Date.now() - started) / 1000,
    };
    await writeFile(path.join(tmp, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
    await moveIntoPlace(tmp, dir);
  } finally {
    await removeBuildDir(tmp);
  }
  await pruneSuperseded(opts.root, opts.name);
  const entry = await readCacheEntry(dir);
  if (!entry) throw new BangerError(ErrorCodes.INTERNAL, `cache entry ${dir} is incomplete after building`);
  return { ...entry, cached: false };
}

/**
 * Remove entries of the same recipe built from older recipe versions
 * ("PREFIX-<16 hex>" beside NAME): a changed recipe would otherwise leave
 * every earlier build behind. Failures are ignored (an entry in use stays).
 */
export async function pruneSuperseded(root: string, name: string): Promise<string[]> {
  const m = /^(.*)-[0-9a-f]{16}$/.exec(name);
  if (!m) return [];
  const sibling = new RegExp(`^${m[1]!.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}-[0-9a-f]{16}$`);
  const removed: string[] = [];
  for (const n of await readdir(root).catch(() => [] as string[])) {
    if (n === name || !sibling.test(n)) continue;
    await removeBuildDir(path.join(root, n)).then(
      () => removed.push(n),
      () => undefined,
    );
  }
  return removed;
}

/** Remove a build dir; refuse (loudly) while a mount is left in it (a killed mmdebstrap). */
export async function removeBuildDir(dir: string): Promise<void> {
  const mounted = await removeUnlessMounted(dir);
  if (mounted.length > 0) {
    throw new BangerError(ErrorCodes.INTERNAL, `${dir} still has mounts in it: ${mounted.join(", ")}`, {
      hint: `unmount them (umount -R ${dir}) and remove the directory`,
    });
  }
}

/** Rename the build into place; a complete entry made meanwhile by another build wins. */
async function moveIntoPlace(tmp: string, dir: string): Promise<void> {
  try {
    await rename(tmp, dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ENOTEMPTY" && code !== "EEXIST") throw e;
    if (await readCacheEntry(dir)) return;
    await rm(dir, { recursive: true, force: true }); // damaged: a file or the manifest is gone
    await rename(tmp, dir);
  }
}

/** Remove temp dirs of killed builds of this entry (older than 3 hours). */
async function removeStaleTemps(root: string, name: string): Promise<void> {
  for (const entry of await readdir(root)) {
    if (!entry.startsWith(`.${name}.tmp-`)) continue;
    const p = path.join(root, entry);
    const st = await stat(p).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > 3 * 3600_000) await rm(p, { recursive: true, force: true });
  }
}
