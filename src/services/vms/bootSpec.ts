/** The BootSpec of a VM: its kernel (from its image), drives, address, files. */
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { Vm } from "../../model/vm.js";
import type { BootSpec } from "../../vmm/driver.js";
import type { VmServiceDeps } from "./deps.js";
import { drivesFor, guestKernelArgs } from "./kernelArgs.js";
import { vmPaths } from "./views.js";

export function vmBootSpec(deps: Pick<VmServiceDeps, "store" | "network">, vm: Vm, tap: string): BootSpec {
  const p = vmPaths(vm.vmDir);
  const disks = vm.disks!;
  const net = vm.network!;
  return {
    id: vm.id,
    name: vm.name,
    vcpu: vm.spec.vcpu,
    memoryMib: vm.spec.memoryMib,
    ...kernelFor(deps.store, vm),
    kernelArgs: guestKernelArgs({ ip: net.ip, subnet: deps.network.subnet, hostname: vm.name, disks }),
    drives: drivesFor(disks),
    net: { tap, mac: net.mac },
    cid: vm.cid,
    vmDir: vm.vmDir,
    consoleLog: p.consoleLog,
    vmmLog: p.vmmLog,
    memoryFile: p.memoryFile,
  };
}

function kernelFor(store: VmServiceDeps["store"], vm: Vm): { kernelPath: string; initrdPath: string | null } {
  const image = store.images.getById(vm.imageId);
  if (image.kernelId) {
    const k = store.kernels.getById(image.kernelId);
    return { kernelPath: k.vmlinuxPath, initrdPath: image.initrdPath ?? k.initrdPath };
  }
  if (image.kernelPath) return { kernelPath: image.kernelPath, initrdPath: image.initrdPath };
  throw new BangerError(ErrorCodes.NOT_FOUND, `image "${image.name}" has no kernel`, {
    hint: "register the image again with --kernel",
  });
}
