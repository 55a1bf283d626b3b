/**
 * Catalogs: the embedded ones (data/catalog/*.json in the package) extended
 * by the user's (image_catalog_url / kernel_catalog_url). Same name: the
 * user's entry wins. Loaded on each use, so a config change applies at once.
 */
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { didYouMean } from "../config/suggest.js";
import { BangerError, ErrorCodes } from "../errors/index.js";
import { CatalogErrorCodes, type CatalogKind, type FormatProblem, type ResolvedEntry } from "./types.js";
import { formatProblems, validateCatalog } from "./validate.js";

/** The package root: from dist/src/catalog/ (or src/catalog/) three levels up. */
export function packageRoot(): string {
  return fileURLToPath(new URL("../../../", import.meta.url));
}

export function defaultCatalogDir(): string {
  return path.join(packageRoot(), "data", "catalog");
}

const FILE_OF: Record<CatalogKind, string> = { image: "images.json", kernel: "kernels.json" };
const SETTING_OF: Record<CatalogKind, string> = { image: "image_catalog_url", kernel: "kernel_catalog_url" };
const MAX_CATALOG_BYTES = 8 * 1024 * 1024;

/** A merged catalog of one kind, sorted by name. */
export class Catalog {
  readonly entries: readonly ResolvedEntry[];

  constructor(
    readonly kind: CatalogKind,
    entries: readonly ResolvedEntry[],
  ) {
    this.entries = [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  names(): string[] {
    return this.entries.map((e) => e.name);
  }

  find(name: string): ResolvedEntry | undefined {
    return this.entries.find((e) => e.name === name);
  }

  /** NOT_FOUND listing the available names when there is no such entry. */
  get(name: string): ResolvedEntry {
    const e = this.find(name);
    if (e) return e;
    const names = this.names();
    const list = names.length > 0 ? names.join(", ") : "none";
    throw new BangerError(
      ErrorCodes.NOT_FOUND,
      `no ${this.kind} named "${name}" in the ${this.kind} catalog${didYouMean(name, names)}; available: ${list}`,
      {
        hint: `\`banger ${this.kind} available\` lists them; ${SETTING_OF[this.kind]} in config.toml adds your own`,
        details: { available: names },
      },
    );
  }
}

/** Merge the user's entries over the embedded ones (same name: the user's wins). */
export function mergeEntries(
  embedded: readonly ResolvedEntry[],
  user: readonly ResolvedEntry[],
): ResolvedEntry[] {
  const byName = new Map<string, ResolvedEntry>();
  for (const e of embedded) byName.set(e.name, e);
  for (const e of user) byName.set(e.name, e);
  return [...byName.values()];
}

function invalidCatalog(
  kind: CatalogKind,
  where: string,
  problems: FormatProblem[],
  hint: string,
): BangerError {
  const n = problems.length;
  return new BangerError(
    CatalogErrorCodes.CATALOG_INVALID,
    `the ${kind} catalog ${where} is invalid (${n} problem${n === 1 ? "" : "s"}): ${formatProblems(problems)}`,
    { hint, details: { problems } },
  );
}

/** Parse and validate catalog text; `origin` is "embedded" or the URL. */
export function parseCatalog(
  text: string,
  kind: CatalogKind,
  origin: string,
  where: string,
  hint: string,
): ResolvedEntry[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw invalidCatalog(
      kind,
      where,
      [{ path: "(top level)", message: `not JSON: ${(e as Error).message}` }],
      hint,
    );
  }
  const base = origin === "embedded" ? null : origin;
  const { catalog, problems } = validateCatalog(raw, kind, base);
  if (!catalog) throw invalidCatalog(kind, where, problems, hint);
  return catalog.entries.map((e) => ({ ...e, kind, origin }));
}

/** Why a fetch or read failed, in words: "connection refused", "HTTP 404 Not Found". */
export function describeFetchError(e: unknown): string {
  const err = e as {
    code?: string;
    cause?: { code?: string; message?: string };
    message?: string;
    name?: string;
  };
  const code = err.cause?.code ?? err.code;
  const words: Record<string, string> = {
    ECONNREFUSED: "connection refused",
    ENOTFOUND: "host not found",
    EAI_AGAIN: "host name lookup failed (temporary)",
    ETIMEDOUT: "timed out",
    ECONNRESET: "connection reset",
    ENOENT: "no such file",
    EACCES: "permission denied",
    EISDIR: "is a directory",
  };
  if (code && words[code]) return `${words[code]} (${code})`;
  if (err.name === "TimeoutError" || err.name === "AbortError") return "timed out";
  return err.cause?.message ?? err.message ?? String(e);
}

/** Read a catalog URL (http(s):// or file://) as text. */
export async function readCatalogUrl(url: string, timeoutMs: number): Promise<string> {
  const u = new URL(url);
  if (u.protocol === "file:") {
    const text = await readFile(fileURLToPath(u), "utf8");
    if (text.length > MAX_CATALOG_BYTES) throw new Error(`larger than ${MAX_CATALOG_BYTES} bytes`);
    return text;
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new Error(`unsupported scheme ${u.protocol} (use http://, https:// or file://)`);
  }
  const res = await fetch(u, { signal: AbortSignal.timeout(timeoutMs), redirect: "follow" });
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`);
  }
  const text = await res.text();
  if (text.length > MAX_CATALOG_BYTES) throw new Error(`larger than ${MAX_CATALOG_BYTES} bytes`);
  return text;
}

export interface CatalogLoaderOptions {
  /** The user's catalog URLs, read on each load (from the resolved config). */
  urls: () => { image: string | null; kernel: string | null };
  /** Holds images.json and kernels.json. Default: PACKAGE_ROOT/data/catalog. */
  dataDir?: string;
  /** Reads a user catalog URL; default readCatalogUrl. */
  readUrl?: (url: string) => Promise<string>;
  /** For http(s) catalogs. Default 15 s. */
  timeoutMs?: number;
}

/** Loads and merges catalogs. The embedded catalogs are read once. */
export class CatalogLoader {
  private readonly embedded = new Map<CatalogKind, ResolvedEntry[]>();
  private readonly dataDir: string;

  constructor(private readonly opts: CatalogLoaderOptions) {
    this.dataDir = opts.dataDir ?? defaultCatalogDir();
  }

  embeddedEntries(kind: CatalogKind): ResolvedEntry[] {
    const cached = this.embedded.get(kind);
    if (cached) return cached;
    const file = path.join(this.dataDir, FILE_OF[kind]);
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new BangerError(
        ErrorCodes.INTERNAL,
        `the embedded ${kind} catalog ${file} cannot be read: ${describeFetchError(e)}`,
        {
          hint: "the installation is incomplete: reinstall banger",
          cause: e,
        },
      );
    }
    const entries = parseCatalog(
      text,
      kind,
      "embedded",
      file,
      "the installation is broken: reinstall banger",
    );
    this.embedded.set(kind, entries);
    return entries;
  }

  async userEntries(kind: CatalogKind): Promise<ResolvedEntry[]> {
    const url = this.opts.urls()[kind];
    if (url === null) return [];
    const setting = SETTING_OF[kind];
    let text: string;
    try {
      text = await (this.opts.readUrl ?? ((u) => readCatalogUrl(u, this.opts.timeoutMs ?? 15_000)))(url);
    } catch (e) {
      throw new BangerError(
        CatalogErrorCodes.CATALOG_UNAVAILABLE,
        `cannot read the ${kind} catalog ${url}: ${describeFetchError(e)}`,
        { hint: `check ${setting} in config.toml, or unset it to use the embedded catalog only`, cause: e },
      );
    }
    return parseCatalog(
      text,
      kind,
      url,
      url,
      `fix the catalog at ${url}, or unset ${setting} in config.toml`,
    );
  }

  async load(kind: CatalogKind): Promise<Catalog> {
    return new Catalog(kind, mergeEntries(this.embeddedEntries(kind), await this.userEntries(kind)));
  }
}
