import { BangerError, ErrorCodes } from "../../errors/index.js";
import { tapName } from "../../host/net.js";
import type { NetworkManager, NetworkStatus, SubnetInfo } from "./NetworkManager.js";
import { parseSubnet } from "./subnet.js";

export type NetworkMethod = "ensureReady" | "acquireTap" | "releaseTap" | "reconcile" | "status" | "close";

export interface FakeNetworkCall {
  method: NetworkMethod;
  args: unknown[];
}

export interface FakeNetworkOptions {
  bridge?: string;
  subnet?: string;
  nat?: boolean;
  poolSize?: number;
}

/**
 * Test double: records every call, keeps a pool like the real manager (no
 * host commands), names TAPs deterministically with the real scheme
 * (banger0t0, banger0t1, ...) and fails on demand.
 */
export class FakeNetworkManager implements NetworkManager {
  readonly subnet: SubnetInfo;
  readonly bridge: string;
  readonly nat: boolean;
  readonly poolSize: number;
  readonly calls: FakeNetworkCall[] = [];
  /** Idle TAPs. */
  readonly pool: string[] = [];
  /** TAPs handed out (or marked in use by reconcile). */
  readonly leased = new Set<string>();
  /** TAPs "deleted from the host", in order. */
  readonly deleted: string[] = [];
  /** TAPs that exist on the "host" but are not tracked: what reconcile finds. Tests add to it. */
  readonly orphans = new Set<string>();
  ready = false;
  natActive = false;
  closed = false;
  private readonly failures = new Map<NetworkMethod, Error[]>();

  constructor(opts: FakeNetworkOptions = {}) {
    this.bridge = opts.bridge ?? "banger0";
    this.subnet = parseSubnet(opts.subnet ?? "172.30.0.0/24");
    this.nat = opts.nat ?? false;
    this.poolSize = opts.poolSize ?? 2;
  }

  /** The next call of `method` rejects with `error` (queue several for several calls). */
  failNext(method: NetworkMethod, error?: Error): this {
    const e = error ?? new BangerError(ErrorCodes.COMMAND_FAILED, `fake ${method} failure`);
    this.failures.set(method, [...(this.failures.get(method) ?? []), e]);
    return this;
  }

  /** The methods called, in order. */
  methods(): NetworkMethod[] {
    return this.calls.map((c) => c.method);
  }

  async ensureReady(): Promise<void> {
    this.record("ensureReady");
    this.setUp();
  }

  async acquireTap(): Promise<string> {
    this.record("acquireTap");
    this.setUp();
    const tap = this.pool.shift() ?? this.newName();
    this.leased.add(tap);
    this.topUp();
    return tap;
  }

  async releaseTap(tap: string): Promise<void> {
    this.record("releaseTap", tap);
    if (!this.leased.delete(tap)) return;
    this.putBack(tap);
  }

  async reconcile(inUse: ReadonlySet<string>): Promise<string[]> {
    this.record("reconcile", [...inUse]);
    this.setUp(false);
    const reclaimed: string[] = [];
    for (const tap of [...this.orphans]) {
      this.orphans.delete(tap);
      if (inUse.has(tap)) {
        this.leased.add(tap);
        continue;
      }
      reclaimed.push(tap);
      this.putBack(tap);
    }
    this.topUp();
    return reclaimed;
  }

  async status(): Promise<NetworkStatus> {
    this.record("status");
    return {
      bridge: this.bridge,
      bridgeUp: this.ready,
      subnet: this.subnet.cidr,
      gateway: this.subnet.gateway,
      pool: [...this.pool],
      nat: this.nat,
    };
  }

  async close(): Promise<void> {
    this.record("close");
    this.natActive = false;
    this.closed = true;
  }

  /** The pool is filled synchronously here: always warm. */
  async whenPoolWarm(): Promise<void> {}

  private record(method: NetworkMethod, ...args: unknown[]): void {
    this.calls.push({ method, args });
    const e = this.failures.get(method)?.shift();
    if (e !== undefined) throw e;
  }

  /** Like the real manager, reconcile tops the pool up only after reclaiming orphans. */
  private setUp(topUp = true): void {
    if (this.closed) throw new BangerError(ErrorCodes.INTERNAL, "the network manager is closed");
    this.ready = true;
    this.natActive = this.nat;
    if (topUp) this.topUp();
  }

  private topUp(): void {
    while (this.pool.length < this.poolSize) this.pool.push(this.newName());
  }

  private putBack(tap: string): void {
    if (this.pool.length < this.poolSize && !this.pool.includes(tap)) this.pool.push(tap);
    else if (!this.pool.includes(tap)) this.deleted.push(tap);
  }

  /** The lowest free name, like the real manager (deleted names are reused). */
  private newName(): string {
    const taken = (n: string) => this.pool.includes(n) || this.leased.has(n) || this.orphans.has(n);
    let i = 0;
    while (taken(tapName(this.bridge, i))) i++;
    return tapName(this.bridge, i);
  }
}
