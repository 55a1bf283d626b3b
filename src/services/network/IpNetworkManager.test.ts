import assert from "node:assert/strict";
import { test } from "node:test";
import { BangerError } from "../../errors/index.js";
import { FakeCommandRunner } from "../../host/fake/FakeCommandRunner.js";
import type { RunOptions, RunResult } from "../../host/runner.js";
import { Sudo } from "../../host/sudo.js";
import { IpNetworkManager, type IpNetworkManagerOptions } from "./IpNetworkManager.js";

interface Link {
  kind: string;
  up: boolean;
  master?: string;
  ipv4: string[];
  user?: number;
}

/** A tiny model of a host's links behind a FakeCommandRunner: `ip` and `nft` change it, reads report it. */
class FakeIpHost {
  readonly runner = new FakeCommandRunner();
  readonly links = new Map<string, Link>();
  readonly tables = new Set<string>();
  readonly inputs: Array<string | undefined> = [];
  private readonly injected: Array<[string[], () => Partial<RunResult> | undefined]> = [];

  /** Answer commands starting with `prefix` before the model does (undefined: let the model answer). */
  fail(prefix: string[], answer: () => Partial<RunResult> | undefined): void {
    this.injected.push([prefix, answer]);
  }

  constructor() {
    const missing = (dev: string) => ({ code: 1, stderr: `Cannot find device "${dev}"` });
    const json = (entries: Array<[string, Link]>) =>
      JSON.stringify(
        entries.map(([ifname, l]) => ({
          ifname,
          flags: l.up ? ["BROADCAST", "UP"] : ["BROADCAST"],
          ...(l.master ? { master: l.master } : {}),
          linkinfo: { info_kind: l.kind, info_data: l.kind === "tun" ? { type: "tap" } : {} },
          addr_info: l.ipv4.map((a) => ({
            family: "inet",
            local: a.split("/")[0],
            prefixlen: +a.split("/")[1]!,
          })),
        })),
      );
    const r = this.runner;
    r.on([], (a) => {
      for (const [prefix, answer] of this.injected) if (prefix.every((p, i) => a[i] === p)) return answer();
      return undefined;
    });
    r.on(["ip", "-j", "-d", "addr", "show"], () => ({ stdout: json([...this.links]) }));
    r.on(["ip", "-j", "-d", "link", "show", "dev"], (a) => {
      const l = this.links.get(a[6]!);
      return l ? { stdout: json([[a[6]!, l]]) } : missing(a[6]!);
    });
    r.on(["ip", "-j", "tuntap", "show"], () => ({
      stdout: JSON.stringify(
        [...this.links].filter(([, l]) => l.kind === "tun").map(([n, l]) => ({ ifname: n, user: l.user })),
      ),
    }));
    r.on(
      ["ip", "link", "add", "name"],
      (a) => void this.links.set(a[4]!, { kind: a[6]!, up: false, ipv4: [] }),
    );
    r.on(["ip", "addr", "replace"], (a) => void this.links.get(a[5]!)?.ipv4.push(a[3]!));
    r.on(["ip", "link", "set", "dev"], (a) => {
      const l = this.links.get(a[4]!);
      if (!l) return missing(a[4]!);
      if (a[5] === "up") l.up = true;
      else l.master = a[6]!;
      return {};
    });
    r.on(["ip", "tuntap", "add", "dev"], (a) => {
      if (this.links.has(a[4]!)) return { code: 1, stderr: "ioctl(TUNSETIFF): Device or resource busy" };
      this.links.set(a[4]!, { kind: "tun", up: false, ipv4: [], user: +a[8]! });
      return {};
    });
    r.on(["ip", "link", "delete", "dev"], (a) => (this.links.delete(a[4]!) ? {} : missing(a[4]!)));
    r.on(["nft", "-f", "-"], (_a, o: RunOptions) => this.nft(String(o.input)));
  }

  /** Enough of nft's transaction semantics for banger's scripts. */
  private nft(input: string) {
    this.inputs.push(input);
    const next = new Set(this.tables);
    for (const line of input.split("\n")) {
      const m = /^(add |delete )?table ip (\w+)/.exec(line);
      if (m?.[1] === "delete ") {
        if (!next.delete(m[2]!)) return { code: 1, stderr: "Error: No such file or directory" };
      } else if (m) next.add(m[2]!);
    }
    this.tables.clear();
    for (const t of next) this.tables.add(t);
    return {};
  }

  addTap(name: string, l: Partial<Link> = {}): void {
    this.links.set(name, { kind: "tun", up: true, master: "banger0", ipv4: [], user: 1000, ...l });
  }

  addBridge(): void {
    this.links.set("banger0", { kind: "bridge", up: true, ipv4: ["172.30.0.1/24"] });
  }

  /** Calls as strings, without the reads. */
  writes(): string[] {
    return this.runner.calls.filter((c) => !c.includes("-j")).map((c) => c.join(" "));
  }

  clear(): void {
    this.runner.calls.length = 0;
  }

  taps(): string[] {
    return [...this.links].filter(([, l]) => l.kind === "tun").map(([n]) => n);
  }
}

function manager(host: FakeIpHost, opts: Partial<IpNetworkManagerOptions> = {}) {
  return new IpNetworkManager({
    bridge: "banger0",
    subnet: "172.30.0.0/24",
    nat: false,
    poolSize: 2,
    sudo: new Sudo(host.runner, 0),
    runner: host.runner,
    uid: 1000,
    gid: 1000,
    ...opts,
  });
}

const tapAdd = (n: string) => [
  `ip tuntap add dev ${n} mode tap user 1000 group 1000`,
  `ip link set dev ${n} master banger0`,
  `ip link set dev ${n} up`,
];

test("ensureReady creates the bridge, its address and brings it up, then fills the pool", async () => {
  const host = new FakeIpHost();
  const net = manager(host);
  await net.ensureReady();
  assert.deepEqual(host.runner.calls.slice(0, 4), [
    ["ip", "-j", "-d", "addr", "show"],
    ["ip", "link", "add", "name", "banger0", "type", "bridge"],
    ["ip", "addr", "replace", "172.30.0.1/24", "dev", "banger0"],
    ["ip", "link", "set", "dev", "banger0", "up"],
  ]);
  await net.whenPoolWarm();
  assert.deepEqual(host.writes().slice(3), [...tapAdd("banger0t0"), ...tapAdd("banger0t1")]);
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

test("an existing bridge that is down and has no address is fixed, not recreated", async () => {
  const host = new FakeIpHost();
  host.links.set("banger0", { kind: "bridge", up: false, ipv4: ["10.9.9.9/8"] });
  await manager(host, { poolSize: 0 }).ensureReady();
  assert.deepEqual(host.writes(), [
    "ip addr replace 172.30.0.1/24 dev banger0",
    "ip link set dev banger0 up",
  ]);
});

test("a link with the bridge's name that is not a bridge is a conflict", async () => {
  const host = new FakeIpHost();
  host.links.set("banger0", { kind: "dummy", up: true, ipv4: [] });
  await assert.rejects(manager(host).ensureReady(), (e: unknown) => {
    assert.ok(e instanceof BangerError);
    assert.equal(e.code, "CONFLICT");
    assert.match(e.message, /banger0 exists and is not a bridge.*dummy/);
    return true;
  });
});

test("without root, privileged commands go through sudo -n and reads do not", async () => {
  const host = new FakeIpHost();
  await manager(host, { poolSize: 0, sudo: new Sudo(host.runner, 1000) }).ensureReady();
  assert.deepEqual(host.runner.calls[0], ["ip", "-j", "-d", "addr", "show"]);
  assert.deepEqual(host.runner.calls[1], [
    "sudo",
    "-n",
    "--",
    "ip",
    "link",
    "add",
    "name",
    "banger0",
    "type",
    "bridge",
  ]);
});

test("TAPs of unknown VMs are not reused for new names before reconcile", async () => {
  const host = new FakeIpHost();
  host.addBridge();
  host.addTap("banger0t0");
  host.addTap("banger0t2");
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
    assert.deepEqual(host.links.get(t), { kind: "tun", up: true, master: "banger0", ipv4: [], user: 1000 });
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
  assert.deepEqual(host.writes().slice(3), tapAdd("banger0t0"));
  host.clear();
  await net.releaseTap(tap);
  assert.deepEqual(host.writes(), ["ip link delete dev banger0t0"]);
  assert.deepEqual(host.taps(), []);
});

/** Bridge ready, TAPs t0 and t1 in use by VMs, pool empty (its refill fails) with room for one. */
async function withInUseTaps(host: FakeIpHost) {
  host.addBridge();
  host.addTap("banger0t0");
  host.addTap("banger0t1");
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
  host.links.set("banger0t0", { kind: "tun", up: false, ipv4: [], user: 1000 });
  await net.releaseTap("banger0t0");
  assert.deepEqual(host.writes(), [
    "ip link set dev banger0t0 master banger0",
    "ip link set dev banger0t0 up",
  ]);
  assert.deepEqual((await net.status()).pool, ["banger0t0"]);
});

test("reconcile reclaims orphans into the pool, deletes beyond its size and wrong owners, keeps in-use", async () => {
  const host = new FakeIpHost();
  host.addBridge();
  for (const t of ["banger0t0", "banger0t1", "banger0t2", "banger0t3", "banger0t4"]) host.addTap(t);
  host.addTap("banger0t5", { user: 0 });
  host.addTap("othert0");
  const net = manager(host);
  const reclaimed = await net.reconcile(new Set(["banger0t1"]));
  assert.deepEqual(reclaimed, ["banger0t0", "banger0t2", "banger0t3", "banger0t4", "banger0t5"]);
  await net.whenPoolWarm();
  assert.deepEqual((await net.status()).pool, ["banger0t0", "banger0t2"]);
  assert.deepEqual(host.writes(), [
    "ip link delete dev banger0t3",
    "ip link delete dev banger0t4",
    "ip link delete dev banger0t5",
  ]);
  assert.deepEqual(host.taps(), ["banger0t0", "banger0t1", "banger0t2", "othert0"]);
  host.clear();
  await net.releaseTap("banger0t1");
  assert.deepEqual(host.writes(), ["ip link delete dev banger0t1"], "in-use TAPs are ours to release");
});

test("nat=true loads banger's table through nft -f - and enables forwarding; close removes it once", async () => {
  const host = new FakeIpHost();
  const net = manager(host, { nat: true, poolSize: 0 });
  await net.ensureReady();
  await net.ensureReady();
  assert.deepEqual(host.writes().slice(3), ["nft -f -", "sysctl -q -w net.ipv4.ip_forward=1"]);
  const load = host.inputs[0] ?? "";
  assert.ok(load.startsWith("add table ip banger_nat\ndelete table ip banger_nat\ntable ip banger_nat {"));
  assert.match(load, /ip saddr 172\.30\.0\.0\/24 oifname != "banger0" masquerade/);
  assert.deepEqual([...host.tables], ["banger_nat"]);
  host.clear();
  await net.close();
  await net.close();
  assert.deepEqual(host.writes(), ["nft -f -"]);
  assert.equal(host.inputs[1], "add table ip banger_nat\ndelete table ip banger_nat\n");
  assert.deepEqual([...host.tables], []);
});

test("NAT load replaces a table already present; removal succeeds when the table is absent", async () => {
  const host = new FakeIpHost();
  host.tables.add("banger_nat");
  const net = manager(host, { nat: true, poolSize: 0 });
  await net.ensureReady();
  assert.deepEqual([...host.tables], ["banger_nat"]);
  host.tables.clear();
  await net.close();
  assert.deepEqual([...host.tables], []);
});

test("nat=false never touches nft or sysctl, also on close", async () => {
  const host = new FakeIpHost();
  const net = manager(host);
  await net.ensureReady();
  await net.close();
  assert.ok(!host.runner.calls.some((c) => c[0] === "nft" || c[0] === "sysctl"));
});

test("a failed ip command is a BangerError naming the command, its stderr and a hint", async () => {
  const host = new FakeIpHost();
  host.fail(["sudo", "-n", "--", "ip", "link", "add"], () => ({
    code: 2,
    stderr: "RTNETLINK answers: Operation not permitted",
  }));
  const net = manager(host, { sudo: new Sudo(host.runner, 1000) });
  await assert.rejects(net.ensureReady(), (e: unknown) => {
    assert.ok(e instanceof BangerError);
    assert.equal(e.code, "COMMAND_FAILED");
    assert.match(
      e.message,
      /could not create bridge banger0: `sudo -n -- ip link add name banger0 type bridge`/,
    );
    assert.match(e.message, /Operation not permitted/);
    assert.match(e.hint ?? "", /root or passwordless sudo for ip.*banger doctor/);
    return true;
  });
});

test("a TAP that cannot be attached is deleted, its name freed, and the error surfaces", async () => {
  const host = new FakeIpHost();
  const net = manager(host, { poolSize: 0 });
  await net.ensureReady();
  host.fail(["ip", "link", "set", "dev", "banger0t0", "master"], () => ({ code: 1, stderr: "boom" }));
  await assert.rejects(net.acquireTap(), /could not attach TAP banger0t0 to banger0: .*boom/);
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
    assert.match(e.hint ?? "", /root or passwordless sudo/);
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
