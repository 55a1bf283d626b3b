/**
 * Port: host networking for VMs. This user's bridge holding the subnet's
 * first address; TAPs owned by the VMM's uid, attached to the bridge and
 * port-isolated; a pool of idle TAPs kept warm so creating a VM does not wait
 * for TAP setup. NAT and forwarding belong to the firewall service, which
 * takes the bridge, subnet and gateway from here. Real implementation:
 * IpNetworkManager (through the privileged helper); test double:
 * FakeNetworkManager.
 */
export interface SubnetInfo {
  /** e.g. 172.30.0.0/24 */
  cidr: string;
  /** The bridge's (host's) address: the first host address, e.g. 172.30.0.1. */
  gateway: string;
  /** Dotted netmask, e.g. 255.255.255.0. */
  netmask: string;
  prefix: number;
  /** Every address a VM may lease, in order (gateway, network and broadcast excluded). */
  guestAddresses(): Iterable<string>;
}

export interface NetworkStatus {
  bridge: string;
  bridgeUp: boolean;
  subnet: string;
  gateway: string;
  /** Idle pool TAPs. */
  pool: string[];
  nat: boolean;
}

export interface NetworkManager {
  readonly subnet: SubnetInfo;
  /** Create the bridge if missing (checking the subnet against the host's routes); idempotent. Then keep the pool warm. */
  ensureReady(): Promise<void>;
  /** A TAP attached to the bridge, owned by the daemon's user: from the pool, or created now when the pool is empty. */
  acquireTap(): Promise<string>;
  /** Return a TAP: back to the pool when it is below size, else deleted. Idempotent; unknown TAPs are ignored. */
  releaseTap(tap: string): Promise<void>;
  /**
   * Reconcile after a daemon restart: `inUse` are TAPs of VMs still running.
   * This user's TAPs (naming scheme, marker and owner) that are not in use go back to the pool
   * (or are deleted beyond its size). Returns the names it reclaimed.
   */
  reconcile(inUse: ReadonlySet<string>): Promise<string[]>;
  status(): Promise<NetworkStatus>;
  /** Stop refilling the pool; leave the bridge and TAPs (VMs may run). */
  close(): Promise<void>;
}

/** A stable, locally administered unicast MAC derived from a VM id (16 hex chars). */
export function macFromId(id: string): string {
  const hex = id.padEnd(10, "0").slice(0, 10);
  const bytes = ["06", hex.slice(0, 2), hex.slice(2, 4), hex.slice(4, 6), hex.slice(6, 8), hex.slice(8, 10)];
  return bytes.join(":");
}
