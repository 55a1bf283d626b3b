/** RPC handlers for catalogs, pulls, recipe builds, exports and kernels. */
import path from "node:path";
import type { ProgressEvent } from "../api/protocol.js";
import type { KernelService } from "../catalog/KernelService.js";
import type { PullService } from "../catalog/PullService.js";
import { BangerError, ErrorCodes } from "../errors/index.js";
import type { Handler, HandlerContext } from "../rpc/server.js";
import type { ImageService } from "../services/images/ImageService.js";
import { asObject, optBool, optString, reqString } from "../services/params.js";

const progress = (ctx: HandlerContext) => (e: ProgressEvent) => ctx.emit(e);

export function catalogHandlers(
  pulls: PullService,
  kernels: KernelService,
  images: ImageService,
): Map<string, Handler> {
  const h = new Map<string, Handler>();
  h.set("image.pull", async (raw, ctx) => {
    const p = asObject(raw);
    const fromRecipe = optBool(p, "fromRecipe") ?? false;
    const img = await pulls.pullImage(reqString(p, "name"), { fromRecipe, onProgress: progress(ctx) });
    return images.view(await images.record(img));
  });
  h.set("image.buildRecipe", async (raw, ctx) => {
    const name = reqString(asObject(raw), "name");
    const img = await pulls.pullImage(name, { fromRecipe: true, onProgress: progress(ctx) });
    return images.view(await images.record(img));
  });
  h.set("image.export", (raw, ctx) => {
    const p = asObject(raw);
    const output = reqString(p, "output");
    if (!path.isAbsolute(output)) {
      throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `output: "${output}" is not an absolute path`);
    }
    return pulls.exportImage(reqString(p, "name"), output, progress(ctx));
  });
  h.set("image.available", () => kernels.available("image"));
  h.set("image.build", (raw, ctx) => {
    const p = asObject(raw);
    const strings = (field: string): string[] | undefined => {
      const v = p[field];
      if (v === undefined || v === null) return undefined;
      if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) {
        throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `${field} must be an array of strings`);
      }
      return v as string[];
    };
    const script = optString(p, "script");
    return images.build(
      {
        name: reqString(p, "name"),
        from: reqString(p, "from"),
        install: strings("install"),
        copy: strings("copy"),
        ...(script ? { script } : {}),
      },
      progress(ctx),
    );
  });
  h.set("kernel.available", () => kernels.available("kernel"));
  h.set("kernel.list", () => kernels.list());
  h.set("kernel.show", (raw) => kernels.show(reqString(asObject(raw), "name")));
  h.set("kernel.delete", (raw) => kernels.delete(reqString(asObject(raw), "name")));
  h.set("kernel.pull", async (raw, ctx) => {
    const p = asObject(raw);
    const fromRecipe = optBool(p, "fromRecipe") ?? false;
    return kernels.view(
      await pulls.pullKernel(reqString(p, "name"), { fromRecipe, onProgress: progress(ctx) }),
    );
  });
  return h;
}
