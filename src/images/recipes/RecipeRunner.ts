/**
 * Recipes build images and kernels locally from upstream sources (Debian
 * packages, Void's rootfs tarball) when no prebuilt bundle can be pulled.
 * What a recipe receives and returns is in types.ts.
 */
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { CommandRunner } from "../../host/runner.js";
import { type BuildUser, preparedBuildUser } from "../userns.js";
import { type AgentProvider, defaultAgentProvider } from "./agent.js";
import { DEBIAN_BOOKWORM_RECIPE, runDebianBookworm } from "./debianBookworm.js";
import { DEBIAN_KERNEL_RECIPE, runDebianKernel } from "./debianKernel.js";
import { mirrorError } from "./mirrorFailure.js";
import type { RecipeContext, RecipeResult, RecipeRunner } from "./types.js";
import { runVoid, VOID_RECIPE } from "./void.js";

export type { RecipeContext, RecipeResult, RecipeRunner } from "./types.js";

export interface LocalRecipeRunnerDeps {
  runner: CommandRunner;
  /** Where built artifacts are kept and reused (by recipe hash). Default: none, build under ctx.workDir. */
  cacheDir?: string;
  /** The guest agent (default: built from src/guest/agent). */
  agent?: AgentProvider;
  now?: () => Date;
  /** Downloads (default: the global fetch). */
  fetch?: typeof fetch;
  /** Who builds images (default: this user, or banger-vmm for root; checked before a build). */
  buildUser?: () => Promise<BuildUser>;
}

export const RECIPE_IDS: readonly string[] = [DEBIAN_KERNEL_RECIPE, DEBIAN_BOOKWORM_RECIPE, VOID_RECIPE];

export class LocalRecipeRunner implements RecipeRunner {
  private readonly runner: CommandRunner;
  private readonly cacheDir: string | undefined;
  private readonly agent: AgentProvider;
  private readonly now: () => Date;
  private readonly fetch: typeof fetch;
  private readonly buildUser: () => Promise<BuildUser>;

  constructor(deps: LocalRecipeRunnerDeps) {
    this.runner = deps.runner;
    this.cacheDir = deps.cacheDir;
    this.agent = deps.agent ?? defaultAgentProvider(deps.runner);
    this.now = deps.now ?? (() => new Date());
    this.fetch = deps.fetch ?? ((...args) => fetch(...args));
    this.buildUser = deps.buildUser ?? (() => preparedBuildUser(deps.runner, process.getuid?.()));
  }

  run(recipeId: string, ctx: RecipeContext): Promise<RecipeResult> {
    const cacheRoot = this.cacheDir ?? ctx.workDir;
    const deps = {
      runner: this.runner,
      agent: this.agent,
      now: this.now,
      fetch: this.fetch,
      buildUser: this.buildUser,
    };
    const mirror = (e: unknown) => {
      throw mirrorError(recipeId, e) ?? e;
    };
    switch (recipeId) {
      case DEBIAN_KERNEL_RECIPE:
        return runDebianKernel(deps, cacheRoot, ctx).catch(mirror);
      case DEBIAN_BOOKWORM_RECIPE:
        return runDebianBookworm(deps, cacheRoot, ctx).catch(mirror);
      case VOID_RECIPE:
        return runVoid(deps, cacheRoot, ctx);
      default:
        return Promise.reject(
          new BangerError(ErrorCodes.NOT_FOUND, `unknown recipe "${recipeId}"`, {
            hint: `known recipes: ${RECIPE_IDS.join(", ")}`,
          }),
        );
    }
  }
}
