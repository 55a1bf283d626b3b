/** Installed kernels (list, show, delete) and what the catalogs offer (`available`). */
import { rm } from "node:fs/promises";
import path from "node:path";
import type { CatalogEntryView, KernelView } from "../api/catalog.js";
import { BangerError, ErrorCodes } from "../errors/index.js";
import type { Kernel } from "../model/kernel.js";
import type { Store } from "../store/Store.js";
import type { Catalog } from "./catalog.js";
import type { CatalogKind, ResolvedEntry } from "./types.js";

export interface KernelServiceDeps {
  store: Store;
  catalogs: { load(kind: CatalogKind): Promise<Catalog> };
  /** StateDir/kernels: a deleted kernel's KERNELS_DIR/<id>/ goes with it. */
  kernelsDir: string;
  log: { info(obj: object, msg: string): void };
}

export class KernelService {
  constructor(private readonly deps: KernelServiceDeps) {}

  view(k: Kernel): KernelView {
    return {
      id: k.id,
      name: k.name,
      version: k.version,
      arch: k.arch,
      vmlinuxPath: k.vmlinuxPath,
      initrdPath: k.initrdPath,
      modulesDir: k.modulesDir,
      source: k.source,
      createdAt: k.createdAt.toISOString(),
      usedBy: this.deps.store.images.imagesUsingKernel(k.id).map((i) => i.name),
    };
  }

  list(): { kernels: KernelView[] } {
    return { kernels: this.deps.store.kernels.list({ skipCorrupt: true }).items.map((k) => this.view(k)) };
  }

  show(name: string): KernelView {
    return this.view(this.deps.store.kernels.get(name));
  }

  /** Refused while images boot with it (naming them); then its files go. */
  async delete(name: string): Promise<{ deleted: string }> {
    const { store } = this.deps;
    const k = store.kernels.get(name);
    const users = store.images.imagesUsingKernel(k.id).map((i) => i.name);
    if (users.length > 0) {
      const list = users.map((u) => `"${u}"`).join(", ");
      throw new BangerError(
        ErrorCodes.CONFLICT,
        `kernel "${name}" is used by image${users.length === 1 ? "" : "s"} ${list}`,
        {
          hint: `delete ${users.length === 1 ? "that image" : "those images"} first (\`banger image delete ${users[0]}\`)`,
          details: { usedBy: users },
        },
      );
    }
    store.kernels.delete(k.id);
    const owned = path.join(this.deps.kernelsDir, k.id);
    if (path.dirname(k.vmlinuxPath) === owned) await rm(owned, { recursive: true, force: true });
    this.deps.log.info({ kernel: k.name, id: k.id }, "kernel deleted");
    return { deleted: k.name };
  }

  /** The merged catalog of `kind`, with an `installed` flag per entry (a local object of that name exists). */
  async available(kind: CatalogKind): Promise<{ entries: CatalogEntryView[] }> {
    const catalog = await this.deps.catalogs.load(kind);
    const { store } = this.deps;
    const installed = (n: string) =>
      kind === "image" ? store.images.find(n) !== undefined : store.kernels.find(n) !== undefined;
    return { entries: catalog.entries.map((e) => entryView(e, installed(e.name))) };
  }
}

export function entryView(e: ResolvedEntry, installed: boolean): CatalogEntryView {
  const v: CatalogEntryView = {
    kind: e.kind,
    name: e.name,
    version: e.version,
    arch: e.arch,
    description: e.description,
    sizeBytes: e.sizeBytes,
    hasBundle: e.bundle !== undefined,
    hasRecipe: e.recipe !== undefined,
    origin: e.origin,
    installed,
  };
  if (e.kernel !== undefined) v.kernel = e.kernel;
  return v;
}
