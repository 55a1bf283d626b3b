import assert from "node:assert/strict";
import { test } from "node:test";
import { BangerError } from "../../errors/index.js";
import { FakeIpHost, type FakeLink } from "../../host/fake/FakeIpHost.js";
import { LocalHelper, runnerContext } from "../../host/helper/LocalHelper.js";
import { IpNetworkManager, type IpNetworkManagerOptions } from "./IpNetworkManager.js";

const MARK = "banger:uid=1000";

/** The real helper verbs over the FakeIpHost, as uid 1000 whose TAPs it owns. */
function manager(host: FakeIpHost, opts: Partial<IpNetworkManagerOptions> = {}) {
  const ctx = runnerContext(host.runner, { uid: 1000, gid: 1000, vmmUid: 1000, vmmGid: 1000 });
  return new IpNetworkManager({
    bridge: "banger0",
    subnet: "172.30.0.0/24",
    nat: false,
    poolSize: 2,
    helper: new LocalHelper(ctx),
    runner: host.runner,
    ...opts,
  });
}

function addTap(host: FakeIpHost, name: string, l: Partial<FakeLink> = {}): void {
  host.links.set(name, { kind: "tun", up: true, master: "banger0", ipv4: [], user: 1000, alias: MARK, ...l });
}

function addBridge(host: FakeIpHost): void {
  host.links.set("banger0", { kind: "bridge", up: true, ipv4: ["172.30.0.1/24"], alias: MARK });
}

const tapAdd = (n: string) => [
  `ip tuntap add dev ${n} mode tap user 1000 group 1000`,
  `ip link set dev ${n} alias ${MARK} master banger0 up`,
  `bridge link set dev ${n} isolated on`,
];

const BRIDGE_UP = [
  "ip link add name banger0 type bridge",
  `ip link set dev banger0 alias ${MARK}`,
  "ip addr replace 172.30.0.1/24 dev banger0",
  "ip link set dev banger0 up",
];

test("ensureReady creates the marked bridge, its address and brings it up, then fills the pool", async () => {
  const host = new FakeIpHost();
  const net = manager(host);
  await net.ensureReady();
  assert.deepEqual(host.writes().slice(0, 4), BRIDGE_UP);
  await net.whenPoolWarm();
  assert.deepEqual(host.writes().slice(4), [...tapAdd("banger0t0"), ...tapAdd("banger0t1")]);
  assert.deepEqual((await net.status()).pool, ["banger0t0", "banger0t1"]);
  assert.ok(!host.runner.calls.some((c) => c[0] === "nft" || c[0] === "sysctl"));
});

test("ensureReady is idempotent: a ready host gets reads only", async () => {
  const host = new FakeIpHost();
  const net = manager(host);
  await net.ensureReady();
  await net.whenPoolWarm();
  host.clear();
  await Promise.all([net.ensureReady(), net.ensureReady(), net.ensureReady()]);
  await net.ensureReady();
  await net.whenPoolWarm();
  assert.deepEqual(host.runner.calls, [
    ["ip", "-j", "-d", "addr", "show"],
    ["ip", "-j", "-d", "addr", "show"],
  ]);
});

test("our bridge that is down with a stale address is fixed, not recreated", async () => {
  const host = new FakeIpHost();
  host.links.set("banger0", { kind: "bridge", up: false, ipv4: ["10.9.9.9/8"], alias: MARK });
  await manager(host, { poolSize: 0 }).ensureReady();
  assert.deepEqual(host.writes(), [
    "ip addr del 10.9.9.9/8 dev banger0",
    "ip addr replace 172.30.0.1/24 dev banger0",
    "ip link set dev banger0 up",
  ]);
});

test("a link with the bridge's name that is not a bridge, or not this user's, is a conflict", async () => {
  for (const [link, re] of [
    [{ kind: "dummy", up: true, ipv4: [] }, /banger0 exists and is not a bridge.*dummy/],
    [{ kind: "bridge", up: true, ipv4: [], alias: "banger:uid=7" }, /not made by banger for uid 1000.*uid=7/],
    [{ kind: "bridge", up: true, ipv4: [] }, /not made by banger for uid 1000/],
  ] as const) {
    const host = new FakeIpHost();
    host.links.set("banger0", { ...link, ipv4: [] });
    await assert.rejects(manager(host).ensureReady(), (e: unknown) => {
      assert.ok(e instanceof BangerError);
      assert.equal(e.code, "CONFLICT");
      assert.match(e.message, re);
      assert.match(e.hint ?? "", /\[network\] bridge/);
      return true;
    });
    assert.deepEqual(host.writes(), []);
  }
});

test("a subnet that overlaps a host route is refused, naming the route and the config key", async () => {
  const host = new FakeIpHost();
  host.routes.push({ dst: "172.30.0.0/16", dev: "wg0" });
  await assert.rejects(manager(host).ensureReady(), (e: unknown) => {
    assert.ok(e instanceof BangerError);
    assert.equal(e.code, "CONFLICT");
    assert.match(e.message, /172\.30\.0\.0\/24 overlaps the host's route 172\.30\.0\.0\/16 dev wg0/);
    assert.match(e.hint ?? "", /\[network\] subnet/);
    return true;
  });
  assert.deepEqual(host.writes(), []);
});
test("TAPs of unknown VMs are not reused for new names before reconcile", async () => {
  const host = new FakeIpHost();
  addBridge(host);
  addTap(host, "banger0t0");
  addTap(host, "banger0t2");
  const net = manager(host);
  await net.ensureReady();
  await net.whenPoolWarm();
  assert.deepEqual((await net.status()).pool, ["banger0t1", "banger0t3"]);
});

test("8 concurrent acquires get 8 distinct TAPs, all attached and up; the pool is refilled", async () => {
  const host = new FakeIpHost();
  const net = manager(host);
  await net.ensureReady();
  await net.whenPoolWarm();
  const taps = await Promise.all(Array.from({ length: 8 }, () => net.acquireTap()));
  assert.equal(new Set(taps).size, 8);
  assert.deepEqual(taps.slice(0, 2), ["banger0t0", "banger0t1"]);
  for (const t of taps)
    assert.deepEqual(host.links.get(t), {
      kind: "tun",
      up: true,
      master: "banger0",
      ipv4: [],
      user: 1000,
      alias: MARK,
      isolated: true,
    });
  await net.whenPoolWarm();
  const pool = (await net.status()).pool;
  assert.equal(pool.length, 2);
  assert.ok(pool.every((t) => !taps.includes(t)));
  assert.equal(host.taps().length, 10);
});

test("acquire takes the pool's first TAP, then the pool is refilled", async () => {
  const host = new FakeIpHost();
  const net = manager(host, { poolSize: 1 });
  await net.ensureReady();
  await net.whenPoolWarm();
  host.clear();
  assert.equal(await net.acquireTap(), "banger0t0");
  await net.whenPoolWarm();
  assert.deepEqual(host.writes(), tapAdd("banger0t1"));
});

test("with an empty pool (size 0) acquire creates a TAP now and release deletes it", async () => {
  const host = new FakeIpHost();
  const net = manager(host, { poolSize: 0 });
  const tap = await net.acquireTap();
  assert.equal(tap, "banger0t0");
  assert.deepEqual(host.writes().slice(4), tapAdd("banger0t0"));
  host.clear();
  await net.releaseTap(tap);
  assert.deepEqual(host.writes(), ["ip link delete dev banger0t0"]);
  assert.deepEqual(host.taps(), []);
});

/** Bridge ready, TAPs t0 and t1 in use by VMs, pool empty (its refill fails) with room for one. */
async function withInUseTaps(host: FakeIpHost) {
  addBridge(host);
  addTap(host, "banger0t0");
  addTap(host, "banger0t1");
  host.fail(["ip", "tuntap", "add"], () => ({ code: 1, stderr: "no refill in this test" }));
  const net = manager(host, { poolSize: 1 });
  assert.deepEqual(await net.reconcile(new Set(["banger0t0", "banger0t1"])), []);
  await assert.rejects(net.whenPoolWarm(), /no refill in this test/);
  host.clear();
  return net;
}

test("release returns a TAP to the pool below size, deletes beyond it, ignores unknown and absent TAPs", async () => {
  const host = new FakeIpHost();
  const net = await withInUseTaps(host);
  await Promise.all([net.releaseTap("banger0t0"), net.releaseTap("banger0t0")]);
  assert.deepEqual(host.writes(), [], "pool below size: kept as it is");
  assert.deepEqual((await net.status()).pool, ["banger0t0"]);
  await net.releaseTap("banger0t1");
  assert.deepEqual(host.writes(), ["ip link delete dev banger0t1"], "pool full: deleted");
  host.clear();
  await net.releaseTap("banger0t1");
  await net.releaseTap("banger0t0");
  await net.releaseTap("eth0");
  await net.releaseTap("banger0t77");
  assert.deepEqual(host.writes(), []);
  assert.deepEqual(host.taps(), ["banger0t0"]);
});

test("a released TAP that came loose is re-attached and brought up before it is pooled", async () => {
  const host = new FakeIpHost();
  const net = await withInUseTaps(host);
  host.links.set("banger0t0", { kind: "tun", up: false, ipv4: [], user: 1000, alias: MARK });
  await net.releaseTap("banger0t0");
  assert.deepEqual(host.writes(), [
    `ip link set dev banger0t0 alias ${MARK} master banger0 up`,
    "bridge link set dev banger0t0 isolated on",
  ]);
  assert.deepEqual((await net.status()).pool, ["banger0t0"]);
});

test("reconcile reclaims our orphans into the pool, deletes beyond its size, keeps in-use", async () => {
  const host = new FakeIpHost();
  addBridge(host);
  for (const t of ["banger0t0", "banger0t1", "banger0t2", "banger0t3", "banger0t4"]) addTap(host, t);
  addTap(host, "othert0");
  const net = manager(host);
  const reclaimed = await net.reconcile(new Set(["banger0t1"]));
  assert.deepEqual(reclaimed, ["banger0t0", "banger0t2", "banger0t3", "banger0t4"]);
  await net.whenPoolWarm();
  assert.deepEqual((await net.status()).pool, ["banger0t0", "banger0t2"]);
  assert.deepEqual(host.writes(), ["ip link delete dev banger0t3", "ip link delete dev banger0t4"]);
  assert.deepEqual(host.taps(), ["banger0t0", "banger0t1", "banger0t2", "othert0"]);
  host.clear();
  await net.releaseTap("banger0t1");
  assert.deepEqual(host.writes(), ["ip link delete dev banger0t1"], "in-use TAPs are ours to release");
});

test("reconcile never adopts or deletes another user's TAP of the same name scheme", async () => {
  const host = new FakeIpHost();
  addBridge(host);
  addTap(host, "banger0t0", { alias: "banger:uid=7", user: 7 });
  addTap(host, "banger0t1", { alias: undefined });
  addTap(host, "banger0t2", { user: 7 });
  addTap(host, "banger0t3", { alias: "banger:uid=7" });
  const net = manager(host, { poolSize: 1 });
  assert.deepEqual(await net.reconcile(new Set()), []);
  await net.whenPoolWarm();
  assert.deepEqual(host.writes(), tapAdd("banger0t4"), "only a fresh TAP of its own, under a free name");
  assert.deepEqual((await net.status()).pool, ["banger0t4"]);
  for (const t of ["banger0t0", "banger0t1", "banger0t2", "banger0t3"]) {
    assert.ok(host.links.has(t), `${t} is left alone`);
    await net.releaseTap(t);
    assert.ok(host.links.has(t), `${t} is left alone by release too`);
  }
});

test("nat (reported by status) never makes it touch nft or sysctl: the firewall service owns NAT", async () => {
  const host = new FakeIpHost();
  const net = manager(host, { nat: true });
  await net.ensureReady();
  assert.equal((await net.status()).nat, true);
  await net.close();
  assert.ok(!host.runner.calls.some((c) => c[0] === "nft" || c[0] === "sysctl"));
});

test("a refused helper verb is a BangerError naming what failed, the command, its stderr and a hint", async () => {
  const host = new FakeIpHost();
  host.fail(["ip", "link", "add"], () => ({ code: 2, stderr: "RTNETLINK answers: Operation not permitted" }));
  const net = manager(host);
  await assert.rejects(net.ensureReady(), (e: unknown) => {
    assert.ok(e instanceof BangerError);
    assert.equal(e.code, "COMMAND_FAILED");
    assert.match(
      e.message,
      /could not set up bridge banger0: privileged helper, bridge.ensure: `ip link add name banger0 type bridge` failed/,
    );
    assert.match(e.message, /Operation not permitted/);
    assert.match(e.hint ?? "", /banger doctor/);
    return true;
  });
});

test("a TAP that cannot be attached is deleted, its name freed, and the error surfaces", async () => {
  const host = new FakeIpHost();
  const net = manager(host, { poolSize: 0 });
  await net.ensureReady();
  host.fail(["ip", "link", "set", "dev", "banger0t0", "alias"], () => ({ code: 1, stderr: "boom" }));
  await assert.rejects(net.acquireTap(), /could not create TAP banger0t0: .*boom/);
  assert.deepEqual(host.taps(), []);
  await assert.rejects(net.acquireTap(), /banger0t0/, "the name is reused, not leaked");
});

test("a failed refill is logged, reported by whenPoolWarm, and retried on the next acquire", async () => {
  const host = new FakeIpHost();
  const warnings: string[] = [];
  const log = { info: () => undefined, warn: (_o: object, m: string) => void warnings.push(m) };
  let fail = true;
  host.fail(["ip", "tuntap"], () =>
    fail ? { code: 1, stderr: "ioctl(TUNSETIFF): Operation not permitted" } : undefined,
  );
  const net = manager(host, { log });
  await net.ensureReady();
  await assert.rejects(net.whenPoolWarm(), (e: unknown) => {
    assert.ok(e instanceof BangerError);
    assert.match(e.message, /could not create TAP banger0t0: .*Operation not permitted/);
    assert.match(e.hint ?? "", /banger doctor/);
    return true;
  });
  assert.deepEqual(warnings, ["could not refill the TAP pool"]);
  fail = false;
  const tap = await net.acquireTap();
  await net.whenPoolWarm();
  const pool = (await net.status()).pool;
  assert.equal(pool.length, 2);
  assert.deepEqual([tap, ...pool].sort(), ["banger0t0", "banger0t1", "banger0t2"]);
});

test("status reports the bridge, its state and the idle pool; after close nothing is acquired", async () => {
  const host = new FakeIpHost();
  const net = manager(host, { poolSize: 1 });
  assert.deepEqual(await net.status(), {
    bridge: "banger0",
    bridgeUp: false,
    subnet: "172.30.0.0/24",
    gateway: "172.30.0.1",
    pool: [],
    nat: false,
  });
  await net.ensureReady();
  await net.close();
  const s = await net.status();
  assert.equal(s.bridgeUp, true);
  assert.deepEqual(
    s.pool,
    ["banger0t0"],
    "close waits for the refill and keeps idle TAPs for the next start",
  );
  await assert.rejects(net.acquireTap(), /closed/);
  assert.ok(host.links.has("banger0"), "close never deletes the bridge");
});

test("a bridge name outside banger's names is refused up front, naming the config key", () => {
  assert.throws(
    () => manager(new FakeIpHost(), { bridge: "docker0" }),
    (e: unknown) => {
      assert.ok(e instanceof BangerError);
      assert.equal(e.code, "INVALID_ARGUMENT");
      assert.match(e.message, /\[network\] bridge: "docker0" is not a banger bridge name/);
      assert.match(e.hint ?? "", /starts with "bgr" or "banger"/);
      return true;
    },
  );
});

test("release right after a restart (before ensureReady) still knows whose TAPs are whose", async () => {
  const host = new FakeIpHost();
  addBridge(host);
  addTap(host, "banger0t0");
  addTap(host, "banger0t1", { alias: "banger:uid=7", user: 7 });
  const net = manager(host, { poolSize: 0 });
  await net.releaseTap("banger0t0");
  await net.releaseTap("banger0t1");
  assert.deepEqual(host.writes(), ["ip link delete dev banger0t0"]);
  assert.deepEqual(host.taps(), ["banger0t1"]);
});
