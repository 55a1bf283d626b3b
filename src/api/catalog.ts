/** Wire types of catalogs, kernels and pulls; see schema/catalog.ts. */
import type { z } from "zod";
import type * as S from "./schema/catalog.js";

export type KernelView = z.infer<typeof S.KernelView>;
/** One entry of an image or kernel catalog (see docs/catalog.md). */
export type CatalogEntryView = z.infer<typeof S.CatalogEntryView>;
export type PullParams = z.input<typeof S.PullParams>;
