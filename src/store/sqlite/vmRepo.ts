import type { Vm } from "../../model/index.js";
import {
  alreadyExists,
  checkIdentity,
  cidTaken,
  idTaken,
  notFound,
  notFoundById,
  smallestFreeCid,
} from "../errors.js";
import type { ListOptions, ListResult, NewVm, VmPatch, VmRepo } from "../Store.js";
import type { SqliteContext } from "./context.js";
import { insertSql, updateSql } from "./rows.js";
import { isUniqueViolation } from "./sqliteErrors.js";
import { readVm, vmToParams } from "./vmRows.js";

const SELECT_VM = "SELECT rowid AS _rowid, * FROM vms";

export class SqliteVmRepo implements VmRepo {
  constructor(private readonly c: SqliteContext) {}

  insert(vm: NewVm): Vm {
    checkIdentity("VM", vm.id, vm.cid);
    return this.c.write(() => {
      this.checkImage(vm.imageId);
      const cid = vm.cid ?? this.freeCid();
      this.checkCid(cid, vm.id);
      try {
        const p = vmToParams({ ...vm, cid });
        this.c.db.prepare(insertSql("vms", p)).run(p);
      } catch (e) {
        if (isUniqueViolation(e, "vms", "name")) throw alreadyExists("VM", vm.name);
        if (isUniqueViolation(e, "vms", "id")) throw idTaken("VM", vm.id);
        throw e;
      }
      return this.getById(vm.id);
    });
  }

  find(nameOrId: string): Vm | undefined {
    return (
      this.c.one("vms", readVm, `${SELECT_VM} WHERE name = ?`, nameOrId) ??
      this.c.one("vms", readVm, `${SELECT_VM} WHERE id = ?`, nameOrId)
    );
  }

  get(nameOrId: string): Vm {
    const vm = this.find(nameOrId);
    if (vm === undefined) throw notFound("VM", nameOrId);
    return vm;
  }

  getById(id: string): Vm {
    const vm = this.c.one("vms", readVm, `${SELECT_VM} WHERE id = ?`, id);
    if (vm === undefined) throw notFoundById("VM", id);
    return vm;
  }

  list(): Vm[];
  list(opts: ListOptions): ListResult<Vm>;
  list(opts?: ListOptions): Vm[] | ListResult<Vm> {
    return this.c.all("vms", readVm, `${SELECT_VM} ORDER BY name`, [], opts);
  }

  update(id: string, patch: VmPatch): Vm {
    return this.c.write(() => {
      const current = this.getById(id);
      const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as VmPatch;
      const next: Vm = { ...current, ...defined, id: current.id, createdAt: current.createdAt };
      if (patch.updatedAt === undefined) next.updatedAt = this.c.now();
      if (next.imageId !== current.imageId) this.checkImage(next.imageId);
      if (next.cid !== current.cid) {
        checkIdentity("VM", id, next.cid);
        this.checkCid(next.cid, id);
      }
      try {
        const p = vmToParams(next);
        this.c.db.prepare(updateSql("vms", p)).run(p);
      } catch (e) {
        if (isUniqueViolation(e, "vms", "name")) throw alreadyExists("VM", next.name);
        throw e;
      }
      return this.getById(id);
    });
  }

  delete(id: string): void {
    this.c.write(() => {
      const r = this.c.db.prepare("DELETE FROM vms WHERE id = ?").run(id);
      if (r.changes === 0) throw notFoundById("VM", id);
    });
  }

  vmsUsingImage(imageId: string): Vm[] {
    return this.c.all("vms", readVm, `${SELECT_VM} WHERE image_id = ? ORDER BY name`, [imageId]);
  }

  /** The smallest CID no VM holds. Call inside a write transaction. */
  freeCid(): number {
    return smallestFreeCid(
      this.c.db.prepare("SELECT cid FROM vms WHERE cid IS NOT NULL").pluck().all() as number[],
    );
  }

  private checkImage(imageId: string): void {
    if (!this.c.db.prepare("SELECT 1 FROM images WHERE id = ?").get(imageId))
      throw notFoundById("image", imageId);
  }

  private checkCid(cid: number, self: string): void {
    const holder = this.c.db.prepare("SELECT name FROM vms WHERE cid = ? AND id != ?").pluck().get(cid, self);
    if (typeof holder === "string") throw cidTaken(cid, holder);
  }
}
