/** The catalogs and what pulls from them: images (built by recipes or downloaded) and kernels. */

import path from "node:path";
import type { Logger } from "pino";
import { CatalogLoader } from "../../catalog/catalog.js";
import { KernelService } from "../../catalog/KernelService.js";
import { PullService } from "../../catalog/PullService.js";
import type { Paths } from "../../config/index.js";
import type { ResolvedConfig } from "../../config/types.js";
import { LocalRecipeRunner } from "../../images/recipes/RecipeRunner.js";
import type { Store } from "../../store/Store.js";
import type { HostParts } from "./host.js";

export interface CatalogParts {
  catalogs: CatalogLoader;
  pulls: PullService;
  kernels: KernelService;
}

export function catalogParts(
  paths: Paths,
  config: ResolvedConfig,
  store: Store,
  host: HostParts,
  log: Logger,
): CatalogParts {
  const catalogs = new CatalogLoader({
    urls: () => ({ image: config.image_catalog_url.value, kernel: config.kernel_catalog_url.value }),
  });
  const pulls = new PullService({
    store,
    catalogs,
    // BANGER_RECIPE_CACHE lets CI (and people with several state dirs) share one cache of recipe builds.
    recipes: new LocalRecipeRunner({
      runner: host.runner,
      cacheDir: process.env.BANGER_RECIPE_CACHE || path.join(paths.cacheDir, "recipes"),
    }),
    imagesDir: paths.imagesDir,
    kernelsDir: paths.kernelsDir,
    checkExt4: (f) => host.disks.checkExt4(f),
    log,
  });
  const kernels = new KernelService({ store, catalogs, kernelsDir: paths.kernelsDir, log });
  return { catalogs, pulls, kernels };
}
