import type { Image, ImageCapabilities, Kernel } from "../../model/index.js";
import { alreadyExists, checkIdentity, idTaken, inUse, notFound, notFoundById } from "../errors.js";
import type { ImageRepo, KernelRepo, ListOptions, ListResult } from "../Store.js";
import type { SqliteContext } from "./context.js";
import { imageToParams, insertSql, kernelToParams, readImage, readKernel } from "./rows.js";
import { isUniqueViolation } from "./sqliteErrors.js";

const SELECT_KERNEL = "SELECT rowid AS _rowid, * FROM kernels";
const SELECT_IMAGE = "SELECT rowid AS _rowid, * FROM images";

export class SqliteKernelRepo implements KernelRepo {
  constructor(private readonly c: SqliteContext) {}

  insert(k: Kernel): Kernel {
    checkIdentity("kernel", k.id);
    return this.c.write(() => {
      try {
        const p = kernelToParams(k);
        this.c.db.prepare(insertSql("kernels", p)).run(p);
      } catch (e) {
        if (isUniqueViolation(e, "kernels", "name")) throw alreadyExists("kernel", k.name);
        if (isUniqueViolation(e, "kernels", "id")) throw idTaken("kernel", k.id);
        throw e;
      }
      return this.getById(k.id);
    });
  }

  find(name: string): Kernel | undefined {
    return this.c.one("kernels", readKernel, `${SELECT_KERNEL} WHERE name = ?`, name);
  }

  get(name: string): Kernel {
    const k = this.find(name);
    if (k === undefined) throw notFound("kernel", name);
    return k;
  }

  getById(id: string): Kernel {
    const k = this.c.one("kernels", readKernel, `${SELECT_KERNEL} WHERE id = ?`, id);
    if (k === undefined) throw notFoundById("kernel", id);
    return k;
  }

  list(): Kernel[];
  list(opts: ListOptions): ListResult<Kernel>;
  list(opts?: ListOptions): Kernel[] | ListResult<Kernel> {
    return this.c.all("kernels", readKernel, `${SELECT_KERNEL} ORDER BY name`, [], opts);
  }

  delete(id: string): void {
    this.c.write(() => {
      const name = this.c.db.prepare("SELECT name FROM kernels WHERE id = ?").pluck().get(id) as
        | string
        | undefined;
      if (name === undefined) throw notFoundById("kernel", id);
      const users = this.c.db
        .prepare("SELECT name FROM images WHERE kernel_id = ? ORDER BY name")
        .pluck()
        .all(id);
      if (users.length > 0) throw inUse("kernel", name, "image", users as string[]);
      this.c.db.prepare("DELETE FROM kernels WHERE id = ?").run(id);
    });
  }
}

export class SqliteImageRepo implements ImageRepo {
  constructor(private readonly c: SqliteContext) {}

  insert(img: Image): Image {
    checkIdentity("image", img.id);
    return this.c.write(() => {
      if (
        img.kernelId !== null &&
        !this.c.db.prepare("SELECT 1 FROM kernels WHERE id = ?").get(img.kernelId)
      ) {
        throw notFoundById("kernel", img.kernelId);
      }
      try {
        const p = imageToParams(img);
        this.c.db.prepare(insertSql("images", p)).run(p);
      } catch (e) {
        if (isUniqueViolation(e, "images", "name")) throw alreadyExists("image", img.name);
        if (isUniqueViolation(e, "images", "id")) throw idTaken("image", img.id);
        throw e;
      }
      return this.getById(img.id);
    });
  }

  find(name: string): Image | undefined {
    return this.c.one("images", readImage, `${SELECT_IMAGE} WHERE name = ?`, name);
  }

  get(name: string): Image {
    const img = this.find(name);
    if (img === undefined) throw notFound("image", name);
    return img;
  }

  getById(id: string): Image {
    const img = this.c.one("images", readImage, `${SELECT_IMAGE} WHERE id = ?`, id);
    if (img === undefined) throw notFoundById("image", id);
    return img;
  }

  list(): Image[];
  list(opts: ListOptions): ListResult<Image>;
  list(opts?: ListOptions): Image[] | ListResult<Image> {
    return this.c.all("images", readImage, `${SELECT_IMAGE} ORDER BY name`, [], opts);
  }

  delete(id: string): void {
    this.c.write(() => {
      const name = this.c.db.prepare("SELECT name FROM images WHERE id = ?").pluck().get(id) as
        | string
        | undefined;
      if (name === undefined) throw notFoundById("image", id);
      const users = this.c.db
        .prepare("SELECT name FROM vms WHERE image_id = ? ORDER BY name")
        .pluck()
        .all(id);
      if (users.length > 0) throw inUse("image", name, "VM", users as string[]);
      this.c.db.prepare("DELETE FROM images WHERE id = ?").run(id);
    });
  }

  imagesUsingKernel(kernelId: string): Image[] {
    return this.c.all("images", readImage, `${SELECT_IMAGE} WHERE kernel_id = ? ORDER BY name`, [kernelId]);
  }

  setCapabilities(id: string, caps: ImageCapabilities): Image {
    return this.c.write(() => {
      const r = this.c.db
        .prepare("UPDATE images SET capabilities = ? WHERE id = ?")
        .run(JSON.stringify({ agent: caps.agent, sshd: caps.sshd }), id);
      if (r.changes === 0) throw notFoundById("image", id);
      return this.getById(id);
    });
  }
}
