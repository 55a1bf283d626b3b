/**
 * The guest agent in a real guest: the test guest boots under QEMU (TCG)
 * inside a network namespace this test creates and deletes, and AgentClient
 * talks to its agent over the virtio-serial channel (a Unix socket on the
 * host; no network is used to reach the agent).
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it, type TestContext } from "node:test";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { AgentClient } from "../../src/services/agent/AgentClient.js";
import type { VmmHandle } from "../../src/vmm/driver.js";
import { findExecutable } from "../../src/vmm/qemu/accel.js";
import { QemuDriver } from "../../src/vmm/qemu/QemuDriver.js";
import { ensureTestGuest, type TestGuest } from "../guest/testGuest.js";
import { createTestNetns, testGuestSpec } from "../helpers/netnsRunner.js";

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

describe("the guest agent in a real guest (QEMU, virtio-serial)", () => {
  it("answers ping, health, exec and ports; a second client is served after the first closes", {
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

      c.close();
      client = await AgentClient.connect(h, { requestTimeoutMs: 5000 });
      assert.equal(await client.ping(), "2", "QEMU serves the next client once the first closed");
      const console = await readFile(spec.consoleLog, "utf8");
      assert.match(console, /banger-agent: version 2 serving on \/dev\/virtio-ports\/banger\.agent/);

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
