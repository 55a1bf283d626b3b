/** The boot step of a restore: load the saved state into the fresh VMM and let it run. */
import { rm } from "node:fs/promises";
import type { Step } from "../steps.js";
import { snapshotLoadBody } from "./bodies.js";
import type { BootContext } from "./context.js";

/**
 * PUT /snapshot/load with the File backend (guest memory mapped MAP_PRIVATE
 * from the memory file, which must stay unchanged while the VM runs), this
 * VM's TAP and vsock socket instead of the saved VM's, and resume_vm. On a
 * failed load Firecracker exits; the spawn step's cleanup kills what is left.
 */
export const loadSnapshotStep: Step<BootContext> = {
  name: "load-snapshot",
  async run(ctx, onCleanup) {
    const restore = ctx.api.spec.restore;
    if (!restore) throw new Error("load-snapshot without spec.restore");
    const body = snapshotLoadBody({
      statePath: restore.stateFile,
      memoryPath: restore.memoryFile,
      tap: ctx.spec.net?.tap ?? null,
      vsockPath: ctx.api.paths.vsock,
    });
    await rm(ctx.paths.vsock, { force: true }); // Firecracker binds it: a stale one fails the load
    onCleanup(() => rm(ctx.paths.vsock, { force: true }));
    await ctx.client.put("/snapshot/load", body);
  },
};
