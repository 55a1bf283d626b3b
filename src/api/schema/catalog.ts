/** Schemas of catalogs, kernels and pulls. */
import { z } from "zod";
import { Name } from "./common.js";

export const KernelView = z.object({
  id: z.string(),
  name: z.string(),
  version: z.string(),
  arch: z.string(),
  vmlinuxPath: z.string(),
  initrdPath: z.string().nullable(),
  modulesDir: z.string().nullable(),
  source: z.string(),
  createdAt: z.string(),
  /** Names of images that boot with it. */
  usedBy: z.array(z.string()),
});

/** One entry of an image or kernel catalog (see docs/catalog.md). */
export const CatalogEntryView = z.object({
  kind: z.enum(["image", "kernel"]),
  name: z.string(),
  version: z.string(),
  arch: z.string(),
  description: z.string(),
  sizeBytes: z.number(),
  /** For images: the kernel (catalog name) it boots with. */
  kernel: z.string().optional(),
  hasBundle: z.boolean(),
  hasRecipe: z.boolean(),
  /** "embedded" or the catalog URL it came from. */
  origin: z.string(),
  /** Whether a local object with this name exists. */
  installed: z.boolean(),
});

export const PullParams = z.strictObject({
  name: Name,
  /** Build from the recipe even when a bundle could be downloaded. */
  fromRecipe: z.boolean().optional(),
});

export const Entries = z.object({ entries: z.array(CatalogEntryView) });
