/** RPC handlers for catalogs, pulls, recipe builds, exports and kernels; params are schema-checked. */
import type { ProgressEvent } from "../api/protocol.js";
import { on } from "../api/schema/validate.js";
import type { KernelService } from "../catalog/KernelService.js";
import type { PullService } from "../catalog/PullService.js";
import type { Handler, HandlerContext } from "../rpc/server.js";
import type { ImageService } from "../services/images/ImageService.js";

const progress = (ctx: HandlerContext) => (e: ProgressEvent) => ctx.emit(e);

export function catalogHandlers(
  pulls: PullService,
  kernels: KernelService,
  images: ImageService,
): Map<string, Handler> {
  const h = new Map<string, Handler>();
  on(h, "image.pull", async (p, ctx) => {
    const img = await pulls.pullImage(p.name, {
      fromRecipe: p.fromRecipe ?? false,
      onProgress: progress(ctx),
    });
    return images.view(await images.record(img));
  });
  on(h, "image.buildRecipe", async (p, ctx) => {
    const img = await pulls.pullImage(p.name, { fromRecipe: true, onProgress: progress(ctx) });
    return images.view(await images.record(img));
  });
  on(h, "image.export", (p, ctx) => pulls.exportImage(p.name, p.output, progress(ctx)));
  on(h, "image.available", () => kernels.available("image"));
  on(h, "image.build", (p, ctx) => images.build(p, progress(ctx)));
  on(h, "kernel.available", () => kernels.available("kernel"));
  on(h, "kernel.list", () => kernels.list());
  on(h, "kernel.show", (p) => kernels.show(p.name));
  on(h, "kernel.delete", (p) => kernels.delete(p.name));
  on(h, "kernel.pull", async (p, ctx) =>
    kernels.view(
      await pulls.pullKernel(p.name, { fromRecipe: p.fromRecipe ?? false, onProgress: progress(ctx) }),
    ),
  );
  return h;
}
