/**
 * What a recipe receives and returns, apart from the runner that picks one (RecipeRunner.ts), so
 * that recipes and the runner do not import each other.
 *
 * File roles: images: rootfs, workSeed (kernel?, initrd? when they bring
 * their own); kernels: vmlinux, initrd? (modules?). Returned paths live in the
 * recipe cache (or under ctx.workDir without one): callers copy them.
 */
import type { ProgressEvent } from "../../api/protocol.js";

export interface RecipeContext {
  /** Scratch space the caller owns (and removes). */
  workDir: string;
  onProgress: (e: ProgressEvent) => void;
  /** The catalog entry the recipe serves (recipes read what they need, e.g. source.url). */
  catalogEntry: unknown;
}

export interface RecipeResult {
  /** Role -> absolute path. */
  files: Record<string, string>;
  version: string;
}

export interface RecipeRunner {
  run(recipeId: string, ctx: RecipeContext): Promise<RecipeResult>;
}
