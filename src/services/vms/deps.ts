import type { ProgressEvent } from "../../api/protocol.js";
import type { FileSyncEntry } from "../../config/types.js";
import type { PrivilegedHelper } from "../../helper/protocol.js";
import type { CommandRunner } from "../../host/runner.js";
import type { Image } from "../../model/image.js";
import type { Vm, VmEgress } from "../../model/vm.js";
import type { Store } from "../../store/Store.js";
import type { DriverName, VmmDriver } from "../../vmm/driver.js";
import type { DiskManager } from "../disks/DiskManager.js";
import type { NetworkManager } from "../network/NetworkManager.js";
import type { SshFiles } from "../ssh/SshFiles.js";

export interface ServiceLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Picks the VMM for a new boot, and finds the driver of an existing handle. */
export interface DriverProvider {
  /** The driver for the next boot, with the reason (from the VMM selection). Throws PREFLIGHT_FAILED when none can run. */
  select(): Promise<{ driver: VmmDriver; reason: string }>;
  forName(name: DriverName): VmmDriver;
}

export interface SshKeyProvider {
  /** The key VMs trust: path of the private key and the public key line. */
  get(): Promise<{ privateKey: string; publicKey: string }>;
}

export interface VmDefaultsProvider {
  vcpu: number;
  memoryMib: number;
  diskSizeBytes: number;
}

/** Makes a VM's own SSH host key (real: ssh-keygen; see services/ssh/SshFiles.ts). */
export interface HostKeyGenerator {
  generate(vmDir: string, name: string): Promise<{ privateKey: Buffer; publicKey: string }>;
}

/** Images not present locally: the catalog's names, and pull-or-build. Real: the catalog's PullService. */
export interface ImageProvider {
  available(): Promise<string[]>;
  ensure(name: string, progress: Progress): Promise<Image>;
}

/** The VM firewall as VM services use it (real: FirewallService). */
export interface VmFirewall {
  /** Re-apply from the store, leaving out `excludeId` (its TAP is going away). */
  sync(excludeId?: string): Promise<void>;
}

/** Egress defaults: the policy of VMs created without --egress, and whether NAT is on. */
export interface EgressDefaults {
  fallback: Pick<VmEgress, "mode" | "domains">;
  nat: boolean;
}

/** A clone's new identity, applied by the guest agent before the clone counts as ready. */
export interface GuestIdentity {
  hostname: string;
  machineId: string;
  /** A clone's own address and MAC (absent: eth0 is left as it is, as for a claimed pool VM). */
  network?: { ip: string; prefix: number; gateway: string; mac: string };
  /** A clone's own SSH host key, which banger pins (absent: the key stays). */
  hostKey?: { privateKey: Buffer; publicKey: string };
}

/** What VM services ask of a running guest's agent (real: services/vms/guestOps.ts). */
export interface GuestOps {
  /** Flush the guest's filesystems (before its state is saved), when its image has the agent. */
  sync(vm: Vm): Promise<void>;
  /** Right after a restore: the clock from the host and fresh entropy. */
  afterRestore(vm: Vm): Promise<void>;
  /** A clone's own identity (also sets the clock and reseeds the RNG). */
  setIdentity(vm: Vm, identity: GuestIdentity): Promise<void>;
}

export interface VmServiceDeps {
  store: Store;
  network: NetworkManager;
  disks: DiskManager;
  drivers: DriverProvider;
  sshKey: SshKeyProvider;
  hostKeys: HostKeyGenerator;
  /** banger's known_hosts and ssh_config. */
  sshFiles: SshFiles;
  vmsDir: string;
  defaults: () => VmDefaultsProvider;
  defaultImage: string;
  /** Auto-pull of missing images (absent: only registered images can be used). */
  images?: ImageProvider;
  /** [[file_sync]] entries copied into each new VM's work disk. */
  fileSync?: readonly FileSyncEntry[];
  /** Host checks a start needs (vmm, tun, ip, debugfs ...); throws PREFLIGHT_FAILED. */
  preflight: (ids: readonly string[]) => Promise<void>;
  log: ServiceLog;
  /** Isolation: applied before boot and after a TAP is released (absent: no firewall, unit tests). */
  firewall?: VmFirewall;
  egress?: EgressDefaults;
  now?: () => Date;
  newId?: () => string;
  /** Grace period for a stop before the VMM is killed. */
  stopTimeoutMs?: number;
  /** The privileged helper: a cgroup per VM (absent: VMs run without one). */
  helper?: PrivilegedHelper;
  /** Copies files (fork). Default: NodeCommandRunner. */
  runner?: CommandRunner;
  /** config auto_suspend_after (ms): VMs without their own timeout suspend themselves after this long idle. */
  autoSuspendMs?: number | null;
  /** The VMM's CPU use from the last stats sample, percent of one core (real: GuestService.stats). */
  cpuPercent?: (vm: Vm) => number | null;
  /** [pool] size: ready VMs of the default spec kept for create/run to claim (default 0). */
  poolSize?: number;
  /** Whether a VM's guest is ready (its agent answers) within the timeout (real: GuestService.waitReady). */
  ready?: (vm: Vm, timeoutMs: number) => Promise<boolean>;
  /** The guest agent's services for suspend, resume and fork (absent: unit tests without a guest). */
  guest?: GuestOps;
}

export type Progress = (e: ProgressEvent) => void;
