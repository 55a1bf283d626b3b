import type { VmDisksRecord } from "../../model/vm.js";
import type { DriveSpec } from "../../vmm/driver.js";
import type { SubnetInfo } from "../network/NetworkManager.js";

/**
 * The drives in guest order: vda root, vdb work (/root), vdc copy-on-write
 * layer (overlay mode only). The guest initrd reads banger.root/work/cow.
 */
export function drivesFor(disks: VmDisksRecord): DriveSpec[] {
  const drives: DriveSpec[] = [
    { id: "root", path: disks.root.path, readOnly: disks.root.readOnly, isRoot: true },
    { id: "work", path: disks.work, readOnly: false, isRoot: false },
  ];
  if (disks.cow) drives.push({ id: "cow", path: disks.cow, readOnly: false, isRoot: false });
  return drives;
}

/** The guest's kernel arguments: address (ip=, applied by the initrd) and disk roles. */
export function guestKernelArgs(opts: {
  ip: string;
  subnet: SubnetInfo;
  hostname: string;
  disks: VmDisksRecord;
}): string {
  const { ip, subnet, hostname, disks } = opts;
  const args = [
    `ip=${ip}::${subnet.gateway}:${subnet.netmask}:${hostname}:eth0:off`,
    "banger.root=/dev/vda",
    "banger.work=/dev/vdb",
  ];
  if (disks.cow) args.push("banger.cow=/dev/vdc");
  return args.join(" ");
}
