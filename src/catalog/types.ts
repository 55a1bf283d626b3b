/**
 * Types of image and kernel catalogs, bundles and recipes (see docs/catalog.md).
 * A catalog lists what can be pulled; a bundle is the gzip'd tar a catalog
 * entry points at; a recipe builds the same files locally.
 */
import type { ProgressEvent } from "../api/protocol.js";
import { ErrorCodes } from "../errors/index.js";
import type { Arch } from "../model/ids.js";

export type CatalogKind = "image" | "kernel";

/**
 * Error codes of this module. They travel as strings like the codes of
 * errors/codes.ts (exit code 1); errors/codes.ts may adopt them.
 */
/** The catalog's error codes (defined with the others in errors/codes.ts). */
export const CatalogErrorCodes = {
  CATALOG_INVALID: ErrorCodes.CATALOG_INVALID,
  CATALOG_UNAVAILABLE: ErrorCodes.CATALOG_UNAVAILABLE,
  DOWNLOAD_FAILED: ErrorCodes.DOWNLOAD_FAILED,
  CHECKSUM_MISMATCH: ErrorCodes.CHECKSUM_MISMATCH,
  BUNDLE_INVALID: ErrorCodes.BUNDLE_INVALID,
} as const;

/** Where a bundle can be downloaded, and what it must hash to. */
export interface BundleRef {
  /** http://, https:// or file:// (relative URLs are resolved against the catalog's URL). */
  url: string;
  /** 64 lowercase hex characters: sha256 of the whole bundle file. */
  sha256: string;
  /** Size of the bundle file in bytes. */
  sizeBytes: number;
}

/** One entry of a catalog file, as written in JSON. */
export interface CatalogEntry {
  /** DNS-label-like: 1-63 of a-z, 0-9 and `-`. */
  name: string;
  /** Free text, sortable, e.g. "12.8-20261127". */
  version: string;
  arch: Arch;
  description: string;
  /** Installed size in bytes (approximate for recipes). */
  sizeBytes: number;
  /** Images only: the kernel catalog entry the image boots with. */
  kernel?: string;
  bundle?: BundleRef;
  /** The id of a recipe banger can run locally to build the same files. */
  recipe?: string;
}

/** A catalog entry with the catalog it came from. */
export interface ResolvedEntry extends CatalogEntry {
  kind: CatalogKind;
  /** "embedded" or the user catalog's URL. */
  origin: string;
}

/** A catalog file: `{ "format": 1, "kind": "image", "entries": [...] }`. */
export interface CatalogFile {
  format: 1;
  kind: CatalogKind;
  entries: CatalogEntry[];
}

/** One problem in a catalog or a manifest, with the JSON path of the field. */
export interface FormatProblem {
  /** e.g. `entries[2].bundle.sha256` */
  path: string;
  message: string;
}

export const IMAGE_ROLES = ["rootfs", "workSeed", "kernel", "initrd"] as const;
export const KERNEL_ROLES = ["vmlinux", "initrd", "modules"] as const;
export type ImageRole = (typeof IMAGE_ROLES)[number];
export type KernelRole = (typeof KERNEL_ROLES)[number];
export type Role = ImageRole | KernelRole;

/** Roles a bundle or a recipe must provide. */
export const REQUIRED_ROLES: Readonly<Record<CatalogKind, readonly Role[]>> = {
  image: ["rootfs", "workSeed"],
  kernel: ["vmlinux"],
};

export function rolesOf(kind: CatalogKind): readonly Role[] {
  return kind === "image" ? IMAGE_ROLES : KERNEL_ROLES;
}

export interface BundleFile {
  /** Relative path inside the bundle (and inside the installed directory). */
  path: string;
  sizeBytes: number;
  sha256: string;
}

/** manifest.json, the first member of every bundle. */
export interface BundleManifest {
  format: 1;
  kind: CatalogKind;
  name: string;
  version: string;
  arch: Arch;
  files: Partial<Record<Role, BundleFile>>;
}

export type ProgressFn = (e: ProgressEvent) => void;

export interface RecipeContext {
  /** An empty scratch directory on the state directory's filesystem; removed after the pull. */
  workDir: string;
  onProgress: ProgressFn;
  catalogEntry: ResolvedEntry;
}

export interface RecipeResult {
  /** Absolute paths of the built files by role (`modules` may be a directory). */
  files: Partial<Record<Role, string>>;
  version: string;
}

/** Builds an image's or a kernel's files locally (implemented elsewhere; a fake for tests). */
export interface RecipeRunner {
  run(recipeId: string, ctx: RecipeContext): Promise<RecipeResult>;
}
