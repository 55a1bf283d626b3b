/**
 * The guest agent in a real guest: the test guest boots under QEMU (TCG)
 * inside a network namespace this test creates and deletes, and AgentClient
 * talks to its agent over the virtio-serial channel (a Unix socket on the
 * host; no network is used to reach the agent).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it, type TestContext } from "node:test";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { AgentClient } from "../../src/services/agent/AgentClient.js";
import { generateHostKey } from "../../src/services/ssh/SshFiles.js";
import type { VmmHandle } from "../../src/vmm/driver.js";
import { findExecutable } from "../../src/vmm/qemu/accel.js";
import { QemuDriver } from "../../src/vmm/qemu/QemuDriver.js";
import { ensureTestGuest, type TestGuest } from "../guest/testGuest.js";
import { createTestNetns, type TestNetns, testGuestSpec } from "../helpers/netnsRunner.js";

const QEMU = "qemu-system-x86_64";
const isRoot = process.getuid?.() === 0;
const skip = !(await findExecutable(QEMU))
  ? `${QEMU} not found (apt-get install qemu-system-x86)`
  : !isRoot
    ? "needs root (network namespace, TAP for the driver)"
    : !(await findExecutable("gcc"))
      ? "gcc not found (apt-get install gcc libc6-dev): the test guest's agent is compiled on the host"
      : false;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function poll<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(250);
  }
}

async function execText(client: AgentClient, argv: string[]) {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const code = await client.exec(argv, { onStdout: (b) => out.push(b), onStderr: (b) => err.push(b) });
  return { code, out: Buffer.concat(out).toString(), err: Buffer.concat(err).toString() };
}

async function checkAgent(t: TestContext, client: AgentClient, guest: TestGuest): Promise<void> {
  const h = await client.health();
  t.diagnostic(`health: ${JSON.stringify(h)}`);
  assert.ok(h.uptimeSec > 0);
  assert.ok(h.memory.totalBytes > 256 * 1024 * 1024 && h.memory.availableBytes > 0);
  for (const mount of ["/", "/root"] as const) {
    const d = h.disks.find((x) => x.mount === mount);
    assert.ok(d && d.totalBytes > 0 && d.usedBytes >= 0 && d.usedBytes <= d.totalBytes, `disk ${mount}`);
  }
  assert.deepEqual(await execText(client, ["uname", "-r"]), {
    code: 0,
    out: `${guest.kernelVersion}\n`,
    err: "",
  });
  assert.equal(await client.exec(["sh", "-c", "echo bye >&2; exit 7"]), 7);
  assert.equal((await execText(client, ["pwd"])).out, "/root\n");
  const ports = await poll("dropbear on port 22 in the agent's ports", 60_000, async () => {
    const ps = await client.ports();
    return ps.some((p) => p.port === 22) ? ps : undefined;
  });
  t.diagnostic(`ports: ${JSON.stringify(ports)}`);

  const pings: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    await client.ping();
    pings.push(performance.now() - t0);
  }
  const execs: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    assert.equal(await client.exec(["true"]), 0);
    execs.push(performance.now() - t0);
  }
  t.diagnostic(
    `TCG guest: ping median ${median(pings).toFixed(2)} ms, exec true median ${median(execs).toFixed(1)} ms`,
  );
}

/** The ed25519 key (type and base64, no comment) dropbear shows at ADDR, seen from the test's netns. */
async function scanKey(ns: TestNetns, addr: string, port = 22): Promise<string> {
  const argv = ["ssh-keyscan", "-t", "ed25519", "-T", "10", "-p", String(port), addr];
  const r = await ns.runner.run(argv, { allowFailure: true });
  const host = port === 22 ? addr : `[${addr}]:${port}`;
  const line = r.stdout.split("\n").find((l) => l.startsWith(`${host} ssh-ed25519 `));
  assert.ok(line, `ssh-keyscan ${addr}: ${r.stderr}`);
  return line.split(" ").slice(1, 3).join(" ");
}

async function guestText(client: AgentClient, argv: string[]): Promise<string> {
  const r = await execText(client, argv);
  assert.equal(r.code, 0, `${argv.join(" ")}: ${r.err}`);
  return r.out;
}

/** A fork's new identity: every part is seen from inside the guest, the host key from outside. */
async function checkIdentity(t: TestContext, c: AgentClient, ns: TestNetns, dir: string): Promise<void> {
  const oldKey = await scanKey(ns, ns.guestIp);
  await guestText(c, ["date", "-s", "2020-09-13 12:26:40"]); // a clock far off, as after a long suspend
  const key = await generateHostKey(new NodeCommandRunner(), dir, "agent-fork");
  const ip = ns.guestIp.replace(/\.2$/, ".7");
  const gateway = ns.hostIp.replace(/\.1$/, ".254"); // another gateway: resolv.conf follows it
  const machineId = randomBytes(16).toString("hex");
  const mac = "06:00:ac:1e:62:07";
  const t0 = performance.now();
  await c.setIdentity({
    hostname: "agent-fork",
    machineId,
    network: { ip, prefixLen: ns.prefixLen, gateway, mac },
    sshHostKey: { privateKey: key.privateKey.toString("utf8"), publicKey: key.publicKey },
  });
  t.diagnostic(`identity took ${(performance.now() - t0).toFixed(0)} ms (TCG; dropbear restarted by init)`);
  assert.equal(await guestText(c, ["hostname"]), "agent-fork\n");
  assert.equal(await guestText(c, ["cat", "/etc/hostname"]), "agent-fork\n");
  assert.equal(await guestText(c, ["cat", "/etc/machine-id"]), `${machineId}\n`);
  assert.equal(await guestText(c, ["cat", "/sys/class/net/eth0/address"]), `${mac}\n`);
  const addrs = await guestText(c, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"]);
  assert.deepEqual(
    [...addrs.matchAll(/inet (\S+)/g)].map((m) => m[1]),
    [`${ip}/${ns.prefixLen}`],
  );
  assert.match(await guestText(c, ["ip", "route"]), new RegExp(`^default via ${gateway} dev eth0`, "m"));
  assert.equal(await guestText(c, ["cat", "/etc/resolv.conf"]), `nameserver ${gateway}\n`);
  const skew = Number(await guestText(c, ["date", "+%s"])) - Date.now() / 1000;
  assert.ok(Math.abs(skew) < 5, `the guest's clock is ${skew.toFixed(1)} s off the host's`);
  const pub = key.publicKey.split(" ").slice(0, 2).join(" ");
  assert.equal((await guestText(c, ["cat", "/etc/ssh/ssh_host_ed25519_key.pub"])).trim(), key.publicKey);
  const newKey = await scanKey(ns, ip); // at once: ok means dropbear listens again
  assert.equal(newKey, pub, "dropbear serves the pinned key at the new address");
  assert.notEqual(newKey, oldKey);
  const entropy = (await guestText(c, ["cat", "/proc/sys/kernel/random/entropy_avail"])).trim();
  t.diagnostic(`entropy_avail after identity: ${entropy}; skew ${skew.toFixed(2)} s`);
  await c.sync();
  await checkIdentityAgain(t, c, ns, dir, { ip, gateway, mac });
}

/**
 * Again on the same guest (a fork of a fork): without a host key it is quick; then with a
 * second dropbear on port 2222 that no init restarts, which the agent starts again itself.
 */
async function checkIdentityAgain(
  t: TestContext,
  c: AgentClient,
  ns: TestNetns,
  dir: string,
  net: { ip: string; gateway: string; mac: string },
): Promise<void> {
  const mac = "06:00:ac:1e:62:08"; // a new MAC at the same address: the host's neighbour entry is stale
  const base = {
    machineId: randomBytes(16).toString("hex"),
    network: { ...net, mac, prefixLen: ns.prefixLen },
  };
  const neigh = async () => (await ns.runner.run(["ip", "neigh", "show", net.ip, "dev", ns.bridge])).stdout;
  assert.match(await neigh(), new RegExp(`lladdr ${net.mac} `));
  let t0 = performance.now();
  await c.setIdentity({ ...base, hostname: "agent-fork2" });
  t.diagnostic(`identity without a host key took ${(performance.now() - t0).toFixed(0)} ms`);
  // No traffic since: only the gratuitous ARP can have told the host (a REACHABLE entry lasts 15-45 s).
  await poll("the host's neighbour entry to take the new MAC", 2000, async () =>
    (await neigh()).includes(`lladdr ${mac} `) ? true : undefined,
  );
  assert.equal(await guestText(c, ["hostname"]), "agent-fork2\n");
  assert.equal(await guestText(c, ["cat", "/sys/class/net/eth0/address"]), `${mac}\n`);
  const addrs = await guestText(c, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"]);
  assert.deepEqual(
    [...addrs.matchAll(/inet (\S+)/g)].map((m) => m[1]),
    [`${net.ip}/${ns.prefixLen}`],
  );

  await guestText(c, ["dropbear", "-p", "2222", "-r", "/etc/dropbear/dropbear_ed25519_host_key"]);
  const other = await scanKey(ns, net.ip, 2222);
  await mkdir(path.join(dir, "k2"));
  const key = await generateHostKey(new NodeCommandRunner(), path.join(dir, "k2"), "agent-fork3");
  t0 = performance.now();
  await c.setIdentity({
    ...base,
    hostname: "agent-fork3",
    sshHostKey: { privateKey: key.privateKey.toString("utf8"), publicKey: key.publicKey },
  });
  t.diagnostic(`identity with a dropbear nobody restarts took ${(performance.now() - t0).toFixed(0)} ms`);
  const pub = key.publicKey.split(" ").slice(0, 2).join(" ");
  assert.notEqual(other, pub);
  assert.equal(await scanKey(ns, net.ip, 2222), pub, "the agent started the orphan dropbear again");
  assert.equal(await scanKey(ns, net.ip), pub);
}

describe("the guest agent in a real guest (QEMU, virtio-serial)", () => {
  it("answers ping, health, exec and ports; sets a fork's identity and syncs; a second client is served after the first closes", {
    skip,
    timeout: 20 * 60_000,
  }, async (t) => {
    const runner = new NodeCommandRunner();
    const guest = await ensureTestGuest({ onStage: (s) => t.diagnostic(`test guest: ${s}`) });
    const dir = await mkdtemp(path.join(os.tmpdir(), "banger-agent-it-"));
    const ns = await createTestNetns({ prefix: "bgt-agent", subnet: 98, runner });
    const driver = new QemuDriver({
      commandPrefix: ["ip", "netns", "exec", ns.name],
      accelDetect: () => "tcg",
    });
    let handle: VmmHandle | undefined;
    let client: AgentClient | undefined;
    try {
      const spec = testGuestSpec(dir, guest, ns, { id: "0a9e0001", name: "agent-it" });
      await mkdir(spec.vmDir, { recursive: true });
      await runner.run(["cp", "--sparse=always", guest.workSeed, path.join(dir, "work.ext4")]);
      await runner.run(["mkfs.ext4", "-F", "-q", path.join(dir, "cow.ext4"), "256M"]);
      const t0 = performance.now();
      handle = (await driver.boot(spec)).handle;
      const h = handle;
      client = await AgentClient.connect(h);
      const c = client;
      await poll("the guest agent's pong", 180_000, () => c.ping({ timeoutMs: 2000 }));
      t.diagnostic(`agent answered ${((performance.now() - t0) / 1000).toFixed(1)} s after boot() began`);
      await checkAgent(t, c, guest);
      await checkIdentity(t, c, ns, dir);

      c.close();
      client = await AgentClient.connect(h, { requestTimeoutMs: 5000 });
      assert.equal(await client.ping(), "3", "QEMU serves the next client once the first closed");
      const console = await readFile(spec.consoleLog, "utf8");
      assert.match(console, /banger-agent: version 3 serving on \/dev\/virtio-ports\/banger\.agent/);

      client.close();
      await driver.stop(h, { timeoutMs: 3000 });
      assert.equal(driver.isAlive(h), false);
      assert.ok(!existsSync(h.agentSocket));
    } finally {
      client?.close();
      if (handle && driver.isAlive(handle))
        await driver.stop(handle, { timeoutMs: 1000 }).catch(() => undefined);
      await ns.cleanup();
      await rm(dir, { recursive: true, force: true });
    }
    const left = await runner.run(["ip", "netns", "list"]);
    assert.ok(!left.stdout.includes(ns.name), `netns ${ns.name} was left behind`);
  });
});
