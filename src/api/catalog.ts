/** Wire types of catalogs, kernels and pulls. */

export interface KernelView {
  id: string;
  name: string;
  version: string;
  arch: string;
  vmlinuxPath: string;
  initrdPath: string | null;
  modulesDir: string | null;
  source: string;
  createdAt: string;
  /** Names of images that boot with it. */
  usedBy: string[];
}

/** One entry of an image or kernel catalog (see docs/catalog.md). */
export interface CatalogEntryView {
  kind: "image" | "kernel";
  name: string;
  version: string;
  arch: string;
  description: string;
  sizeBytes: number;
  /** For images: the kernel (catalog name) it boots with. */
  kernel?: string;
  hasBundle: boolean;
  hasRecipe: boolean;
  /** "embedded" or the catalog URL it came from. */
  origin: string;
  /** Whether a local object with this name exists. */
  installed: boolean;
}

export interface PullParams {
  name: string;
  /** Build from the recipe even when a bundle could be downloaded. */
  fromRecipe?: boolean;
}
