/** RPC method -> service call; params arrive already checked against their schema (api/schema). */

import { readFile } from "node:fs/promises";
import path from "node:path";
import { on } from "../api/schema/validate.js";
import type { VmCgroupView, VmView } from "../api/vms.js";
import type { Handler, HandlerContext } from "../rpc/server.js";
import type { ImageService } from "../services/images/ImageService.js";
import { readVmmCgroup } from "../services/stats/cgroupStats.js";
import type { GuestService } from "../services/vms/GuestService.js";
import type { VmService } from "../services/vms/VmService.js";
import { loggerPidFile, runningLogger } from "../vmm/logger/vmLogs.js";
import { streamLog } from "./logStream.js";

/** The running VM's log writer: its pid, and whether it still runs (null without one). */
export async function logWriterView(v: VmView): Promise<{ pid: number; running: boolean } | null> {
  if (v.state !== "running") return null;
  const dir = path.dirname(v.paths.consoleLog);
  const pid = Number.parseInt(await readFile(loggerPidFile(dir), "utf8").catch(() => ""), 10);
  if (!Number.isInteger(pid)) return null;
  return { pid, running: (await runningLogger(dir)) === pid };
}

/** The VMM's cgroup and limits for `vm show` (null when it runs in none of banger's). */
async function cgroupView(pid: number | null): Promise<VmCgroupView | null> {
  const cg = pid === null ? null : await readVmmCgroup(pid);
  if (!cg) return null;
  const { version, path, memoryLimitBytes, pidsLimit, cpus } = cg;
  return { version, path, memoryLimitBytes, pidsLimit, cpus };
}

export function vmHandlers(vms: VmService, images: ImageService, guest: GuestService): Map<string, Handler> {
  const h = new Map<string, Handler>();
  const progress = (ctx: HandlerContext) => (e: Parameters<typeof ctx.emit>[0]) => ctx.emit(e);
  on(h, "vm.create", (p, ctx) => vms.create(p, progress(ctx)));
  on(h, "vm.start", async (p, ctx) =>
    vms.view(await vms.lifecycle.start(p.name, progress(ctx), [], { discardState: p.discardState ?? false })),
  );
  on(h, "vm.pause", async (p) => vms.view(await vms.snapshots.pause(p.name)));
  on(h, "vm.resume", async (p, ctx) => vms.view(await vms.snapshots.resume(p.name, progress(ctx))));
  on(h, "vm.suspend", async (p, ctx) => vms.view(await vms.snapshots.suspend(p.name, progress(ctx))));
  on(h, "vm.fork", async (p, ctx) => ({
    vms: await vms.fork(
      p.source,
      { ...(p.name ? { name: p.name } : {}), count: p.count ?? 1 },
      progress(ctx),
    ),
  }));
  on(h, "vm.stop", async (p) => vms.view(await vms.lifecycle.stop(p.name, p.timeoutMs)));
  on(h, "vm.restart", async (p, ctx) =>
    vms.view(await vms.lifecycle.restart(p.name, progress(ctx), p.timeoutMs)),
  );
  on(h, "vm.delete", (p) => vms.delete(p.name, p.force ?? false));
  on(h, "vm.list", (p) => {
    const r = vms.list(p.all ?? false);
    const stats = new Map(guest.stats().map((s) => [s.name, s]));
    return { ...r, vms: r.vms.map((v) => ({ ...v, stats: stats.get(v.name) ?? null })) };
  });
  on(h, "vm.show", async (p) => {
    const v = vms.show(p.name);
    const [cgroup, logWriter] = await Promise.all([cgroupView(v.pid), logWriterView(v)]);
    return { ...v, stats: guest.stats(v.name)[0] ?? null, cgroup, logWriter };
  });
  on(h, "vm.sshInfo", (p) => vms.sshInfo(p.name));
  on(h, "vm.logs", (p, ctx) => {
    const params = {
      name: p.name,
      source: p.source ?? "console",
      follow: p.follow ?? false,
      tailBytes: p.tailBytes ?? 64 * 1024,
    };
    const view = vms.show(params.name);
    const file = params.source === "vmm" ? view.paths.vmmLog : view.paths.consoleLog;
    return streamLog(file, params, ctx, () => vms.exists(view.id));
  });
  on(h, "image.register", (p, ctx) => images.register(p, progress(ctx)));
  on(h, "image.list", () => images.list());
  on(h, "image.show", (p) => images.show(p.name));
  on(h, "image.delete", (p) => images.delete(p.name));
  return h;
}
