/** RPC method -> service call, with every param checked (the daemon never trusts a client's shape). */
import type { VmLogsParams } from "../api/vms.js";
import type { Handler } from "../rpc/server.js";
import type { ImageService } from "../services/images/ImageService.js";
import { asObject, optBool, optEnum, optInt, optString, reqString } from "../services/params.js";
import type { GuestService } from "../services/vms/GuestService.js";
import type { VmService } from "../services/vms/VmService.js";
import { optStringList } from "./egressHandlers.js";
import { streamLog } from "./logStream.js";

const GiB = 1024 ** 3;
const TiB = 1024 ** 4;

export function vmHandlers(vms: VmService, images: ImageService, guest: GuestService): Map<string, Handler> {
  const h = new Map<string, Handler>();
  const progress = (ctx: Parameters<Handler>[1]) => (e: Parameters<typeof ctx.emit>[0]) => ctx.emit(e);
  h.set("vm.create", (raw, ctx) => {
    const p = asObject(raw);
    return vms.create(
      {
        name: optString(p, "name"),
        image: optString(p, "image"),
        vcpu: optInt(p, "vcpu", 1, 64),
        memoryMib: optInt(p, "memoryMib", 128, 1024 * 1024),
        diskSizeBytes: optInt(p, "diskSizeBytes", 64 * 1024 * 1024, 16 * TiB),
        start: optBool(p, "start"),
        egress: optString(p, "egress"),
        peers: optStringList(p, "peers"),
      },
      progress(ctx),
    );
  });
  h.set("vm.start", async (raw, ctx) =>
    vms.view(await vms.lifecycle.start(reqString(asObject(raw), "name"), progress(ctx))),
  );
  h.set("vm.stop", async (raw) => {
    const p = asObject(raw);
    return vms.view(await vms.lifecycle.stop(reqString(p, "name"), optInt(p, "timeoutMs", 0, 3_600_000)));
  });
  h.set("vm.restart", async (raw, ctx) => {
    const p = asObject(raw);
    return vms.view(
      await vms.lifecycle.restart(reqString(p, "name"), progress(ctx), optInt(p, "timeoutMs", 0, 3_600_000)),
    );
  });
  h.set("vm.delete", (raw) => {
    const p = asObject(raw);
    return vms.delete(reqString(p, "name"), optBool(p, "force") ?? false);
  });
  h.set("vm.list", () => {
    const r = vms.list();
    const stats = new Map(guest.stats().map((s) => [s.name, s]));
    return { ...r, vms: r.vms.map((v) => ({ ...v, stats: stats.get(v.name) ?? null })) };
  });
  h.set("vm.show", (raw) => {
    const v = vms.show(reqString(asObject(raw), "name"));
    return { ...v, stats: guest.stats(v.name)[0] ?? null };
  });
  h.set("vm.sshInfo", (raw) => vms.sshInfo(reqString(asObject(raw), "name")));
  h.set("vm.logs", (raw, ctx) => {
    const p = asObject(raw);
    const params: VmLogsParams = {
      name: reqString(p, "name"),
      source: optEnum(p, "source", ["console", "vmm"] as const) ?? "console",
      follow: optBool(p, "follow") ?? false,
      tailBytes: optInt(p, "tailBytes", 0, GiB) ?? 64 * 1024,
    };
    const view = vms.show(params.name);
    const file = params.source === "vmm" ? view.paths.vmmLog : view.paths.consoleLog;
    return streamLog(file, params, ctx, () => vms.exists(view.id));
  });
  h.set("image.register", (raw, ctx) => {
    const p = asObject(raw);
    return images.register(
      {
        name: reqString(p, "name"),
        kernel: reqString(p, "kernel"),
        initrd: optString(p, "initrd"),
        rootfs: reqString(p, "rootfs"),
        workSeed: reqString(p, "workSeed"),
        description: optString(p, "description"),
        version: optString(p, "version"),
      },
      progress(ctx),
    );
  });
  h.set("image.list", () => images.list());
  h.set("image.show", (raw) => images.show(reqString(asObject(raw), "name")));
  h.set("image.delete", (raw) => images.delete(reqString(asObject(raw), "name")));
  return h;
}
