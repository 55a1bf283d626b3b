import { BangerError, ErrorCodes, isBangerError } from "../../errors/index.js";
import type { Vm } from "../../model/vm.js";
import type { Store } from "../../store/Store.js";

/**
 * The VM's row again, once its lock is held. An operation that waited behind
 * a `vm delete` of the same VM finds it gone: NOT_FOUND by the name it was
 * asked for, not by an id the user never typed.
 */
export function rereadVm(store: Store, vm0: Pick<Vm, "id" | "name">): Vm {
  try {
    return store.vms.getById(vm0.id);
  } catch (e) {
    if (!isBangerError(e) || e.code !== ErrorCodes.NOT_FOUND) throw e;
    throw new BangerError(ErrorCodes.NOT_FOUND, `VM "${vm0.name}" was deleted meanwhile`, {
      hint: "run `banger vm list` to see the VMs there are",
    });
  }
}
