import type { ResolvedConfig } from "../config/types.js";
import { BangerError, ErrorCodes } from "../errors/index.js";
import { kvmStatus } from "../host/kvm.js";
import type { HostProbe } from "../host/probe.js";
import type { DriverProvider } from "../services/vms/deps.js";
import type { DriverName, VmmDriver } from "../vmm/driver.js";
import { FirecrackerDriver } from "../vmm/firecracker/FirecrackerDriver.js";
import type { VmLogs } from "../vmm/logger/vmLogs.js";
import { QemuDriver } from "../vmm/qemu/QemuDriver.js";
import type { VmmIdentity } from "../vmm/qemu/spawn.js";
import { selectVmm } from "../vmm/select.js";

/**
 * The real drivers, chosen per boot by the VMM selection (vmm = auto |
 * firecracker | qemu). Existing VMs keep talking to the driver of their handle.
 */
export class RealDriverProvider implements DriverProvider {
  private readonly cache = new Map<string, VmmDriver>();

  constructor(
    private readonly config: ResolvedConfig,
    private readonly probe: HostProbe,
    /** Who VMMs run as (null: the daemon's user); throws PREFLIGHT_FAILED when the VMM user is missing. */
    private readonly vmmIdentity: () => VmmIdentity | null = () => null,
    /** The VMs' log writers (default: plain files, uncapped). */
    private readonly logs?: VmLogs,
  ) {}

  async select(): Promise<{ driver: VmmDriver; reason: string }> {
    const { config, probe } = this;
    const s = selectVmm(config.vmm.value, {
      kvmUsable: (await kvmStatus(probe)).usable,
      firecrackerPath: await probe.which(config.firecracker_bin.value ?? "firecracker"),
      qemuPath: await probe.which(config.qemu_bin.value ?? "qemu-system-x86_64"),
    });
    if (!s.ok) throw new BangerError(ErrorCodes.PREFLIGHT_FAILED, s.reason, { hint: s.fix });
    return { driver: this.make(s.driver, s.binary, s.acceleration), reason: s.reason };
  }

  forName(name: DriverName): VmmDriver {
    return this.cache.get(name) ?? this.make(name, null, "tcg");
  }

  private make(name: DriverName, binary: string | null, accel: "kvm" | "tcg"): VmmDriver {
    const key = `${name}:${binary ?? ""}:${accel}`;
    let d = this.cache.get(key);
    if (!d) {
      d =
        name === "firecracker"
          ? new FirecrackerDriver({
              firecrackerBin: binary ?? this.config.firecracker_bin.value ?? "firecracker",
              ...(this.logs ? { logs: this.logs } : {}),
              // used when a jailer sits beside the firecracker binary
              jail: { uidRange: this.config.firecracker.jailer_uid_range.value },
            })
          : new QemuDriver({
              qemuBin: binary ?? this.config.qemu_bin.value ?? "qemu-system-x86_64",
              identity: this.vmmIdentity,
              accelDetect: () => accel,
              ...(this.logs ? { logs: this.logs } : {}),
            });
      this.cache.set(key, d);
      // stop() and isAlive() only need the handle; any instance of the kind serves.
      if (!this.cache.has(name)) this.cache.set(name, d);
    }
    return d;
  }
}
