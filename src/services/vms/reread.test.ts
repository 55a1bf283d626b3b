import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { Vm } from "../../model/vm.js";
import { notFoundById } from "../../store/errors.js";
import type { Store } from "../../store/Store.js";
import { rereadVm } from "./reread.js";

function storeWith(getById: (id: string) => Vm): Store {
  return { vms: { getById } } as unknown as Store;
}

describe("rereadVm", () => {
  it("returns the current row", () => {
    const row = { id: "0123456789abcdef", name: "web", state: "stopped" } as Vm;
    assert.equal(
      rereadVm(
        storeWith(() => row),
        { id: row.id, name: "web" },
      ),
      row,
    );
  });

  it("a VM deleted meanwhile is NOT_FOUND by its name, not its id", () => {
    const store = storeWith((id) => {
      throw notFoundById("VM", id);
    });
    assert.throws(
      () => rereadVm(store, { id: "0123456789abcdef", name: "web" }),
      (e) =>
        e instanceof BangerError &&
        e.code === ErrorCodes.NOT_FOUND &&
        e.message === 'VM "web" was deleted meanwhile' &&
        /banger vm list/.test(e.hint ?? ""),
    );
  });

  it("other failures pass through", () => {
    const boom = new BangerError(ErrorCodes.STORE, "database is locked");
    const store = storeWith(() => {
      throw boom;
    });
    assert.throws(
      () => rereadVm(store, { id: "0123456789abcdef", name: "web" }),
      (e) => e === boom,
    );
  });
});
