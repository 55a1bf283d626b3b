/**
 * The real IpNetworkManager against the real kernel, inside a network
 * namespace created for this file and deleted afterwards, with the real
 * bundled helper (started in that namespace as root with SUDO_UID=65534, the
 * way sudo starts it for a normal user) doing every privileged action.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { BangerError, ErrorCodes } from "../../src/errors/index.js";
import type { HelperVerb, HelperVerbs, PrivilegedHelper } from "../../src/helper/protocol.js";
import { HelperClient } from "../../src/host/helper/HelperClient.js";
import { type IpLink, parseIpLinks, parseTuntapOwners, tapIndex, tapPrefix } from "../../src/host/net.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { IpNetworkManager } from "../../src/services/network/IpNetworkManager.js";
import { NetnsRunner } from "../helpers/netnsRunner.js";
import { repoRoot } from "../helpers/repoRoot.js";

const suffix = randomBytes(3).toString("hex");
const NS = `bgnet-${process.pid}-${suffix}`;
const BRIDGE = `bgr${suffix}`;
const SUBNET = "172.30.77.0/24";
const OWNER = 65534;

function skipReason(): string | false {
  if (process.platform !== "linux") return "needs Linux network namespaces";
  if (process.getuid?.() !== 0) return "needs root to create a network namespace (ip netns add)";
  if (spawnSync("ip", ["-V"]).status !== 0) return "needs iproute2 (`ip`) on PATH";
  if (!existsSync("/dev/net/tun")) return "needs /dev/net/tun for TAP devices";
  return false;
}
const skip = skipReason();

/** Refuses `tap.create` while `refuse` is set, to hold the pool below its size deterministically. */
class RefusingHelper implements PrivilegedHelper {
  refuse = false;
  constructor(private readonly inner: PrivilegedHelper) {}
  call<V extends HelperVerb>(verb: V, args: HelperVerbs[V]["args"]): Promise<HelperVerbs[V]["result"]> {
    if (this.refuse && verb === "tap.create") {
      return Promise.reject(new BangerError(ErrorCodes.COMMAND_FAILED, "refused by the test"));
    }
    return this.inner.call(verb, args);
  }
}

describe("IpNetworkManager in a network namespace", { skip }, () => {
  const host = new NodeCommandRunner();
  const nsRunner = new NetnsRunner(NS, host);
  const bundle = path.join(repoRoot(), "dist/helper/banger-helper.mjs");
  const client = new HelperClient({
    command: [
      "ip",
      "netns",
      "exec",
      NS,
      "env",
      "-i",
      `SUDO_UID=${OWNER}`,
      `SUDO_GID=${OWNER}`,
      process.execPath,
      bundle,
    ],
  });
  const helper = new RefusingHelper(client);
  const make = (poolSize: number) =>
    new IpNetworkManager({ bridge: BRIDGE, subnet: SUBNET, nat: false, poolSize, helper, runner: nsRunner });
  const net = make(2);
  let acquired: string[] = [];

  const nsLinks = async (): Promise<Map<string, IpLink & { index: number }>> => {
    const r = await host.run(["ip", "-n", NS, "-j", "-d", "addr", "show"]);
    const indexes = new Map<string, number>(
      (JSON.parse(r.stdout) as Array<{ ifname: string; ifindex: number }>).map((l) => [l.ifname, l.ifindex]),
    );
    return new Map(parseIpLinks(r.stdout).map((l) => [l.name, { ...l, index: indexes.get(l.name) ?? -1 }]));
  };
  const ourTaps = async () =>
    [...(await nsLinks()).values()].filter((l) => tapIndex(BRIDGE, l.name) !== null);
  const assertAttached = async (taps: string[]) => {
    const links = await nsLinks();
    const owners = parseTuntapOwners((await host.run(["ip", "-n", NS, "-j", "tuntap", "show"])).stdout);
    for (const t of taps) {
      const l = links.get(t);
      assert.ok(l, `${t} exists`);
      assert.equal(l.kind, "tun", `${t} is a tun device`);
      assert.equal(l.tunType, "tap", `${t} is in tap mode`);
      assert.equal(l.master, BRIDGE, `${t} is attached to the bridge`);
      assert.ok(l.up, `${t} is up`);
      assert.equal(owners.get(t), OWNER, `${t} is owned by uid ${OWNER}`);
      assert.equal(l.alias, `banger:uid=${OWNER}`, `${t} carries the marker`);
    }
  };

  before(async () => {
    await host.run(["ip", "netns", "add", NS]);
    await host.run(["ip", "-n", NS, "link", "set", "lo", "up"]);
  });

  after(async () => {
    await net.close().catch(() => undefined);
    client.close();
    const list = await host.run(["ip", "netns", "list"], { allowFailure: true });
    if (list.stdout.split("\n").some((l) => l.split(" ")[0] === NS))
      await host.run(["ip", "netns", "del", NS]);
    const left = await host.run(["ip", "netns", "list"]);
    assert.ok(!left.stdout.includes(NS), `namespace ${NS} is gone`);
    const rootLinks = JSON.parse((await host.run(["ip", "-j", "link", "show"])).stdout) as Array<{
      ifname: string;
    }>;
    const ours = rootLinks.filter((l) => l.ifname === BRIDGE || l.ifname.startsWith(tapPrefix(BRIDGE)));
    assert.deepEqual(ours, [], "nothing of this test in the root namespace");
  });

  it("ensureReady creates the bridge with the gateway address, up, and fills the pool", async () => {
    await net.ensureReady();
    const br = (await nsLinks()).get(BRIDGE);
    assert.ok(br, "bridge exists");
    assert.equal(br.kind, "bridge");
    assert.ok(br.up, "bridge is up");
    assert.deepEqual(br.ipv4, ["172.30.77.1/24"]);
    await net.whenPoolWarm();
    const taps = await ourTaps();
    assert.equal(taps.length, 2);
    await assertAttached(taps.map((t) => t.name));
    assert.deepEqual((await net.status()).pool.sort(), taps.map((t) => t.name).sort());
    assert.equal((await net.status()).bridgeUp, true);
  });

  it("ensureReady again (also from a second instance) changes nothing", async () => {
    const first = await nsLinks();
    await Promise.all([net.ensureReady(), net.ensureReady()]);
    await net.whenPoolWarm();
    const again = make(0);
    await again.ensureReady();
    await again.close();
    const second = await nsLinks();
    assert.deepEqual(
      [...second].map(([n, l]) => [n, l.index, l.master, l.up, l.ipv4]),
      [...first].map(([n, l]) => [n, l.index, l.master, l.up, l.ipv4]),
    );
  });

  it("8 concurrent acquires give 8 distinct attached TAPs, and the pool is refilled", async () => {
    acquired = await Promise.all(Array.from({ length: 8 }, () => net.acquireTap()));
    assert.equal(new Set(acquired).size, 8);
    await assertAttached(acquired);
    await net.whenPoolWarm();
    const pool = (await net.status()).pool;
    assert.equal(pool.length, 2);
    assert.ok(pool.every((t) => !acquired.includes(t)));
    await assertAttached(pool);
    assert.equal((await ourTaps()).length, 10);
  });

  it("release deletes a TAP when the pool is full", async () => {
    const tap = acquired.shift()!;
    await net.releaseTap(tap);
    assert.ok(!(await nsLinks()).has(tap));
    await net.releaseTap(tap);
    await net.releaseTap("lo");
    assert.equal((await ourTaps()).length, 9);
  });

  it("release returns a TAP to the pool when the pool is below size", async () => {
    helper.refuse = true;
    try {
      acquired.push(await net.acquireTap());
      await assert.rejects(net.whenPoolWarm(), /refused by the test/);
      assert.equal((await net.status()).pool.length, 1);
      const tap = acquired.shift()!;
      await net.releaseTap(tap);
      assert.ok((await net.status()).pool.includes(tap));
      await assertAttached([tap]);
    } finally {
      helper.refuse = false;
    }
    assert.equal((await ourTaps()).length, 9);
  });

  it("a new instance's reconcile reclaims orphans into its pool and deletes the rest", async () => {
    await net.close();
    const inUse = new Set(acquired.slice(0, 4));
    const orphans = (await ourTaps()).map((t) => t.name).filter((t) => !inUse.has(t));
    assert.equal(orphans.length, 5);
    const foreign = `${tapPrefix(BRIDGE)}99`;
    await host.run(["ip", "-n", NS, "tuntap", "add", "dev", foreign, "mode", "tap", "user", "1234"]);
    await host.run(["ip", "-n", NS, "link", "set", "dev", foreign, "alias", "banger:uid=1234"]);
    const next = make(3);
    const reclaimed = await next.reconcile(inUse);
    await next.whenPoolWarm();
    assert.deepEqual([...reclaimed].sort(), [...orphans].sort());
    const pool = (await next.status()).pool;
    assert.equal(pool.length, 3);
    assert.ok(pool.every((t) => orphans.includes(t)));
    assert.ok((await nsLinks()).has(foreign), "another uid's TAP of the same scheme is left alone");
    await host.run(["ip", "-n", NS, "link", "delete", "dev", foreign]);
    const left = (await ourTaps()).map((t) => t.name).sort();
    assert.deepEqual(left, [...inUse, ...pool].sort());
    await assertAttached(left);
    await next.releaseTap(acquired[0]!);
    assert.ok(!(await nsLinks()).has(acquired[0]!), "pool full: an in-use TAP released is deleted");
    await next.close();
  });
});
