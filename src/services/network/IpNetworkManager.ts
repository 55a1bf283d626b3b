import { BangerError, ErrorCodes } from "../../errors/index.js";
import {
  type HelperVerb,
  type HelperVerbs,
  linkMarker,
  type PrivilegedHelper,
} from "../../helper/protocol.js";
import { checkBridgeName } from "../../helper/validate.js";
import {
  checkIfName,
  type IpLink,
  netArgv,
  netCommandError,
  parseIpLinks,
  parseTuntapOwners,
  TAP_MAX_INDEX,
  tapIndex,
  tapName,
} from "../../host/net.js";
import type { CommandRunner, RunOptions, RunResult } from "../../host/runner.js";
import type { NetworkManager, NetworkStatus, SubnetInfo } from "./NetworkManager.js";
import { assertSubnetFree, helperCall } from "./privileged.js";
import { parseSubnet } from "./subnet.js";

export interface NetworkLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface IpNetworkManagerOptions {
  bridge: string;
  /** IPv4 CIDR; the bridge takes its first host address. */
  subnet: string;
  /** Reported by status(); NAT and forwarding themselves belong to the firewall service. */
  nat: boolean;
  /** Idle TAPs kept warm (0 disables the pool). */
  poolSize: number;
  /** Does every privileged action (bridge.ensure, tap.create, tap.delete). */
  helper: PrivilegedHelper;
  /** Runs unprivileged reads (`ip -j ... show`). */
  runner: CommandRunner;
  log?: NetworkLog;
}

const NO_LOG: NetworkLog = { info: () => undefined, warn: () => undefined };

/**
 * NetworkManager over iproute2. Privileged actions go through the privileged
 * helper's verbs, reads through the plain runner. Its TAPs are recognised by
 * name (see `tapName` in host/net.ts), kind tun, this user's banger marker
 * and the VMM uid as tun owner: a link without all of them is never touched.
 */
export class IpNetworkManager implements NetworkManager {
  readonly subnet: SubnetInfo;
  private readonly bridge: string;
  private readonly nat: boolean;
  private readonly poolSize: number;
  private readonly helper: PrivilegedHelper;
  private readonly runner: CommandRunner;
  private readonly log: NetworkLog;
  /** The helper's view of the caller (uid for the marker, vmmUid as TAP owner), asked once. */
  private ids: { uid: number; vmmUid: number } | null = null;

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
  private closed = false;
  private readying: Promise<void> | null = null;
  private refilling: Promise<void> | null = null;
  private refillAgain = false;
  private refillHolds = 0;
  private refillError: unknown;

  constructor(opts: IpNetworkManagerOptions) {
    try {
      this.bridge = checkBridgeName(checkIfName(opts.bridge));
      tapName(opts.bridge, TAP_MAX_INDEX);
    } catch (e) {
      throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `[network] ${(e as Error).message}`, {
        hint: 'set [network] bridge to a name that starts with "bgr" or "banger" (or unset it: the default is bgr<uid>)',
      });
    }
    if (!Number.isInteger(opts.poolSize) || opts.poolSize < 0) {
      throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `TAP pool size ${opts.poolSize} is not a count`);
    }
    this.subnet = parseSubnet(opts.subnet);
    this.nat = opts.nat;
    this.poolSize = opts.poolSize;
    this.helper = opts.helper;
    this.runner = opts.runner;
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
      this.ids ??= await this.priv("hello", {}, "start the privileged helper");
      const link = await this.readLink(tap);
      if (link === undefined) this.observed.delete(tap);
      else if (!this.isOurTap(link) || (await this.readOwners())?.get(tap) !== this.ids?.vmmUid) return;
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
        if (inUse.has(tap) && tapIndex(this.bridge, tap) !== null) this.markInUse(tap);
        if (!this.isOurTap(link) || owners?.get(tap) !== this.ids?.vmmUid) continue;
        if (this.leased.has(tap) || this.isBusy(tap) || this.pool.includes(tap)) continue;
        reclaimed.push(tap);
        if (this.hasPoolRoom()) await this.adopt(link);
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

  /** Stop refilling and wait for work in flight. Idempotent; leaves the bridge and idle TAPs. */
  async close(): Promise<void> {
    this.closed = true;
    await this.readying?.catch(() => undefined);
    while (this.refilling) await this.refilling;
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
    this.ids ??= await this.priv("hello", {}, "start the privileged helper");
    const links = await this.readLinks();
    await this.setUpBridge(links.get(this.bridge));
    await this.checkPool(links, poolBefore);
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
    const marker = linkMarker(this.ids?.uid ?? -1);
    if (link !== undefined && link.alias !== marker) {
      throw new BangerError(
        ErrorCodes.CONFLICT,
        `${br} exists but was not made by banger for uid ${this.ids?.uid} (its alias is "${link.alias ?? ""}")`,
        { hint: "set [network] bridge to another name (the default is bgr<uid>), or delete that link" },
      );
    }
    const addr = `${this.subnet.gateway}/${this.subnet.prefix}`;
    if (link?.up && link.ipv4.length === 1 && link.ipv4[0] === addr) return;
    await assertSubnetFree(this.runner, this.subnet.cidr, link === undefined ? null : br);
    await this.priv("bridge.ensure", { bridge: br, cidr: this.subnet.cidr }, `set up bridge ${br}`);
    this.log.info({ bridge: br, subnet: this.subnet.cidr }, "bridge ready");
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

  /** tap.create on an existing TAP of ours re-attaches it, brings it up and isolates its port. */
  private async attach(link: IpLink): Promise<void> {
    if (link.master === this.bridge && link.up) return;
    const what = `attach ${link.name} to ${this.bridge}`;
    await this.priv("tap.create", { tap: link.name, bridge: this.bridge }, what);
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

  /** The helper creates, marks, attaches, brings up and isolates it (and deletes it again on failure). */
  private async createTap(tap: string): Promise<void> {
    await this.priv("tap.create", { tap, bridge: this.bridge }, `create TAP ${tap}`);
    this.observed.add(tap);
  }

  /** Delete a TAP; succeeds when it is already gone. */
  private async deleteTap(tap: string): Promise<void> {
    await this.priv("tap.delete", { tap }, `delete TAP ${tap}`);
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
      (link.tunType === undefined || link.tunType === "tap") &&
      this.ids !== null &&
      link.alias === linkMarker(this.ids.uid)
    );
  }

  // --- commands -------------------------------------------------------------

  /** Privileged, through the helper; a refusal names what banger was doing. */
  private priv<V extends HelperVerb>(verb: V, args: HelperVerbs[V]["args"], what: string) {
    return helperCall(this.helper, verb, args, what);
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

  /** TAP owners (uid), or null when they cannot be read (then no TAP is reclaimed). */
  private async readOwners(): Promise<Map<string, number | undefined> | null> {
    const r = await this.read(netArgv.tuntapShow(), "list TAP owners", { allowFailure: true });
    try {
      if (r.code === 0) return parseTuntapOwners(r.stdout);
    } catch {
      /* fall through */
    }
    this.log.warn({ stderr: r.stderr.trim() }, "could not read TAP owners: reclaiming none");
    return null;
  }
}
