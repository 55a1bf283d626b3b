import { BangerError, ErrorCodes } from "../../errors/index.js";
import {
  checkIfName,
  type IpLink,
  netArgv,
  netCommandError,
  nftArgv,
  nftNatLoadScript,
  nftNatRemoveScript,
  parseIpLinks,
  parseTuntapOwners,
  sysctlArgv,
  TAP_MAX_INDEX,
  tapIndex,
  tapName,
} from "../../host/net.js";
import type { CommandRunner, RunOptions, RunResult } from "../../host/runner.js";
import type { Sudo } from "../../host/sudo.js";
import type { NetworkManager, NetworkStatus, SubnetInfo } from "./NetworkManager.js";
import { parseSubnet } from "./subnet.js";

export interface NetworkLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface IpNetworkManagerOptions {
  bridge: string;
  /** IPv4 CIDR; the bridge takes its first host address. */
  subnet: string;
  /** Load banger's own nft NAT table and enable IPv4 forwarding. */
  nat: boolean;
  /** Idle TAPs kept warm (0 disables the pool). */
  poolSize: number;
  /** Runs every privileged command. */
  sudo: Sudo;
  /** Runs unprivileged reads (`ip -j ... show`). */
  runner: CommandRunner;
  /** Owner of the TAPs (default: this process's uid/gid). */
  uid?: number;
  gid?: number;
  log?: NetworkLog;
}

const NO_LOG: NetworkLog = { info: () => undefined, warn: () => undefined };

/**
 * NetworkManager over iproute2 (and nft for NAT). Privileged commands go
 * through the Sudo wrapper, reads through the plain runner. Its TAPs are
 * recognised by name (see `tapName` in host/net.ts) and kind tun.
 */
export class IpNetworkManager implements NetworkManager {
  readonly subnet: SubnetInfo;
  private readonly bridge: string;
  private readonly nat: boolean;
  private readonly poolSize: number;
  private readonly sudo: Sudo;
  private readonly runner: CommandRunner;
  private readonly uid: number;
  private readonly gid: number;
  private readonly log: NetworkLog;

  /** Idle TAPs, attached and up. */
  private readonly pool: string[] = [];
  /** Handed out by acquireTap, or in use by running VMs (reconcile). */
  private readonly leased = new Set<string>();
  /** TAPs being released right now (a second release of one is a no-op). */
  private readonly releasing = new Set<string>();
  /** Names reserved for a TAP being created. */
  private readonly creating = new Set<string>();
  /** Our TAP names seen in the last link listing (some may belong to VMs we do not know yet). */
  private observed = new Set<string>();
  /** TAPs on their way into the pool (being created or repaired). */
  private poolPending = 0;
  private natLoaded = false;
  private closed = false;
  private readying: Promise<void> | null = null;
  private refilling: Promise<void> | null = null;
  private refillAgain = false;
  private refillHolds = 0;
  private refillError: unknown;

  constructor(opts: IpNetworkManagerOptions) {
    try {
      this.bridge = checkIfName(opts.bridge);
      tapName(opts.bridge, TAP_MAX_INDEX);
    } catch (e) {
      throw new BangerError(ErrorCodes.INVALID_ARGUMENT, (e as Error).message, {
        hint: "set [network] bridge to a valid interface name",
      });
    }
    if (!Number.isInteger(opts.poolSize) || opts.poolSize < 0) {
      throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `TAP pool size ${opts.poolSize} is not a count`);
    }
    this.subnet = parseSubnet(opts.subnet);
    this.nat = opts.nat;
    this.poolSize = opts.poolSize;
    this.sudo = opts.sudo;
    this.runner = opts.runner;
    this.uid = opts.uid ?? process.getuid?.() ?? 0;
    this.gid = opts.gid ?? process.getgid?.() ?? 0;
    this.log = opts.log ?? NO_LOG;
  }

  ensureReady(): Promise<void> {
    if (this.closed) {
      return Promise.reject(new BangerError(ErrorCodes.INTERNAL, "the network manager is closed"));
    }
    this.readying ??= this.setUp().finally(() => {
      this.readying = null;
    });
    return this.readying;
  }

  async acquireTap(): Promise<string> {
    await this.ensureReady();
    let tap = this.pool.shift();
    if (tap === undefined) {
      tap = this.reserveName();
      try {
        await this.createTap(tap);
      } finally {
        this.creating.delete(tap);
      }
    }
    this.leased.add(tap);
    this.triggerRefill();
    return tap;
  }

  async releaseTap(tap: string): Promise<void> {
    if (tapIndex(this.bridge, tap) === null || this.isBusy(tap) || this.pool.includes(tap)) return;
    this.releasing.add(tap);
    try {
      this.leased.delete(tap);
      const link = await this.readLink(tap);
      if (link === undefined) this.observed.delete(tap);
      else if (!this.isOurTap(link)) return;
      else if (this.hasPoolRoom()) await this.adopt(link);
      else await this.deleteTap(tap);
    } finally {
      this.releasing.delete(tap);
    }
  }

  async reconcile(inUse: ReadonlySet<string>): Promise<string[]> {
    this.refillHolds++;
    let ready = false;
    try {
      await this.ensureReady();
      ready = true;
      const links = await this.readLinks();
      const owners = await this.readOwners();
      const reclaimed: string[] = [];
      for (const link of links.values()) {
        const tap = link.name;
        if (!this.isOurTap(link)) continue;
        if (inUse.has(tap)) this.markInUse(tap);
        if (this.leased.has(tap) || this.isBusy(tap) || this.pool.includes(tap)) continue;
        reclaimed.push(tap);
        const ownerOk = owners === null || owners.get(tap) === this.uid;
        if (ownerOk && this.hasPoolRoom()) await this.adopt(link);
        else await this.deleteTap(tap);
      }
      if (reclaimed.length > 0) this.log.info({ reclaimed, pool: [...this.pool] }, "reclaimed orphan TAPs");
      return reclaimed;
    } finally {
      this.refillHolds--;
      if (ready) this.triggerRefill();
    }
  }

  async status(): Promise<NetworkStatus> {
    const br = (await this.readLinks()).get(this.bridge);
    return {
      bridge: this.bridge,
      bridgeUp: br?.kind === "bridge" && br.up,
      subnet: this.subnet.cidr,
      gateway: this.subnet.gateway,
      pool: [...this.pool],
      nat: this.nat,
    };
  }

  /** Stop refilling, wait for work in flight, remove the NAT table if this instance loaded it. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    await this.readying?.catch(() => undefined);
    while (this.refilling) await this.refilling;
    if (!this.natLoaded) return;
    await this.priv(nftArgv.load(), "remove banger's NAT rules", { input: nftNatRemoveScript() });
    this.natLoaded = false;
    this.log.info({ table: "banger_nat" }, "NAT rules removed");
  }

  /** Resolves once the background pool refill in flight (if any) is done; rejects with its error. */
  async whenPoolWarm(): Promise<void> {
    await this.readying?.catch(() => undefined);
    while (this.refilling) await this.refilling;
    if (this.refillError !== undefined) throw this.refillError;
  }

  // --- set-up ---------------------------------------------------------------

  private async setUp(): Promise<void> {
    const poolBefore = new Set(this.pool);
    const links = await this.readLinks();
    await this.setUpBridge(links.get(this.bridge));
    await this.checkPool(links, poolBefore);
    if (this.nat && !this.natLoaded) await this.loadNat();
    this.triggerRefill();
  }

  private async setUpBridge(link: IpLink | undefined): Promise<void> {
    const br = this.bridge;
    if (link !== undefined && link.kind !== "bridge") {
      throw new BangerError(
        ErrorCodes.CONFLICT,
        `${br} exists and is not a bridge (its kind is "${link.kind || "none"}")`,
        { hint: "set [network] bridge to another name, or delete that link" },
      );
    }
    if (link === undefined) {
      await this.priv(netArgv.bridgeAdd(br), `create bridge ${br}`);
      this.log.info({ bridge: br }, "bridge created");
    }
    const addr = `${this.subnet.gateway}/${this.subnet.prefix}`;
    if (!link?.ipv4.includes(addr))
      await this.priv(netArgv.addrAdd(br, addr), `set address ${addr} on ${br}`);
    if (!link?.up) await this.priv(netArgv.linkUp(br), `bring bridge ${br} up`);
  }

  /** Drop pool TAPs that vanished; re-attach the ones that came loose (for example after the bridge was recreated). */
  private async checkPool(links: Map<string, IpLink>, poolBefore: ReadonlySet<string>): Promise<void> {
    for (const tap of [...this.pool]) {
      const link = links.get(tap);
      if (link === undefined) {
        if (poolBefore.has(tap)) this.pool.splice(this.pool.indexOf(tap), 1);
        continue;
      }
      await this.attach(link);
    }
  }

  private async loadNat(): Promise<void> {
    const input = nftNatLoadScript(this.bridge, this.subnet.cidr);
    await this.priv(nftArgv.load(), "load banger's NAT rules", { input });
    this.natLoaded = true;
    await this.priv(sysctlArgv.ipForward(true), "enable IPv4 forwarding");
    this.log.info({ table: "banger_nat", subnet: this.subnet.cidr }, "NAT rules loaded");
  }

  // --- pool -----------------------------------------------------------------

  /** A running VM holds this TAP: it is leased, never idle. */
  private markInUse(tap: string): void {
    const i = this.pool.indexOf(tap);
    if (i >= 0) this.pool.splice(i, 1);
    this.leased.add(tap);
  }

  private hasPoolRoom(): boolean {
    return !this.closed && this.pool.length + this.poolPending < this.poolSize;
  }

  private triggerRefill(): void {
    if (this.closed) return;
    if (this.refilling !== null || this.refillHolds > 0) {
      this.refillAgain = true;
      return;
    }
    this.refilling = this.refillLoop().finally(() => {
      this.refilling = null;
      if (this.refillAgain && this.refillHolds === 0) this.triggerRefill();
    });
  }

  /** Never rejects: a failure is logged and kept for whenPoolWarm(). */
  private async refillLoop(): Promise<void> {
    this.refillAgain = false;
    try {
      while (this.hasPoolRoom()) {
        const tap = this.reserveName();
        this.poolPending++;
        try {
          await this.createTap(tap);
        } finally {
          this.poolPending--;
          this.creating.delete(tap);
        }
        this.pool.push(tap);
      }
      this.refillError = undefined;
    } catch (e) {
      this.refillAgain = false;
      this.refillError = e;
      this.log.warn({ err: e, bridge: this.bridge }, "could not refill the TAP pool");
    }
  }

  /** Put one of our existing TAPs into the pool, attached and up; deletes it when that fails. */
  private async adopt(link: IpLink): Promise<void> {
    this.poolPending++;
    try {
      await this.attach(link);
    } catch (e) {
      this.log.warn({ err: e, tap: link.name }, "could not re-attach TAP: deleting it");
      await this.deleteTap(link.name);
      return;
    } finally {
      this.poolPending--;
    }
    if (!this.pool.includes(link.name)) this.pool.push(link.name);
  }

  private async attach(link: IpLink): Promise<void> {
    if (link.master !== this.bridge) {
      await this.priv(netArgv.setMaster(link.name, this.bridge), `attach ${link.name} to ${this.bridge}`);
    }
    if (!link.up) await this.priv(netArgv.linkUp(link.name), `bring ${link.name} up`);
  }

  // --- TAPs -----------------------------------------------------------------

  /** Synchronously reserve the lowest free name, so concurrent creations never collide. */
  private reserveName(): string {
    for (let i = 0; i <= TAP_MAX_INDEX; i++) {
      const tap = tapName(this.bridge, i);
      if (this.observed.has(tap) || this.isBusy(tap) || this.leased.has(tap) || this.pool.includes(tap))
        continue;
      this.creating.add(tap);
      return tap;
    }
    throw new BangerError(ErrorCodes.CONFLICT, `no free TAP name left for bridge ${this.bridge}`);
  }

  private async createTap(tap: string): Promise<void> {
    await this.priv(netArgv.tapAdd(tap, this.uid, this.gid), `create TAP ${tap}`);
    this.observed.add(tap);
    try {
      await this.priv(netArgv.setMaster(tap, this.bridge), `attach TAP ${tap} to ${this.bridge}`);
      await this.priv(netArgv.linkUp(tap), `bring TAP ${tap} up`);
    } catch (e) {
      await this.deleteTap(tap).catch(() => undefined);
      throw e;
    }
  }

  /** Delete a TAP; succeeds when it is already gone. */
  private async deleteTap(tap: string): Promise<void> {
    const argv = netArgv.linkDelete(tap);
    const r = await this.priv(argv, `delete TAP ${tap}`, { allowFailure: true });
    if (r.code !== 0 && (await this.readLink(tap)) !== undefined) {
      throw netCommandError(`delete TAP ${tap}`, this.sudo.wrap(argv), r);
    }
    this.observed.delete(tap);
  }

  /** Being created or released right now. */
  private isBusy(tap: string): boolean {
    return this.creating.has(tap) || this.releasing.has(tap);
  }

  private isOurTap(link: IpLink): boolean {
    return (
      tapIndex(this.bridge, link.name) !== null &&
      link.kind === "tun" &&
      (link.tunType === undefined || link.tunType === "tap")
    );
  }

  // --- commands -------------------------------------------------------------

  /** Privileged, through the Sudo wrapper. */
  private priv(argv: string[], what: string, opts?: RunOptions): Promise<RunResult> {
    const wrapped = this.sudo.wrap(argv);
    return this.sudo.run(argv, opts).catch((e: unknown) => Promise.reject(netCommandError(what, wrapped, e)));
  }

  /** Unprivileged read. */
  private read(argv: string[], what: string, opts?: RunOptions): Promise<RunResult> {
    return this.runner.run(argv, opts).catch((e: unknown) => Promise.reject(netCommandError(what, argv, e)));
  }

  /** Every link by name; refreshes the names of our TAPs that exist. */
  private async readLinks(): Promise<Map<string, IpLink>> {
    const argv = netArgv.linksDetailed();
    const r = await this.read(argv, "list network links");
    let links: IpLink[];
    try {
      links = parseIpLinks(r.stdout);
    } catch (e) {
      throw netCommandError("list network links", argv, e);
    }
    const byName = new Map(links.map((l) => [l.name, l]));
    this.observed = new Set(links.filter((l) => tapIndex(this.bridge, l.name) !== null).map((l) => l.name));
    return byName;
  }

  private async readLink(dev: string): Promise<IpLink | undefined> {
    const r = await this.read(netArgv.linkShowDetailed(dev), `read link ${dev}`, { allowFailure: true });
    if (r.code !== 0) return undefined;
    return parseIpLinks(r.stdout).find((l) => l.name === dev);
  }

  /** TAP owners (uid), or null when they cannot be read (then owners are not checked). */
  private async readOwners(): Promise<Map<string, number | undefined> | null> {
    const r = await this.read(netArgv.tuntapShow(), "list TAP owners", { allowFailure: true });
    try {
      if (r.code === 0) return parseTuntapOwners(r.stdout);
    } catch {
      /* fall through */
    }
    this.log.warn({ stderr: r.stderr.trim() }, "could not read TAP owners: not checking them");
    return null;
  }
}
