/**
 * QemuDriver against the real QEMU: a real guest boots under TCG inside a
 * network namespace this test creates and deletes; QEMU that cannot start
 * fails in the "spawn" step with its own words.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it, type TestContext } from "node:test";
import { isBangerError } from "../../src/errors/index.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import type { BootSpec, VmmHandle } from "../../src/vmm/driver.js";
import { findExecutable } from "../../src/vmm/qemu/accel.js";
import { QemuDriver } from "../../src/vmm/qemu/QemuDriver.js";
import { QmpClient } from "../../src/vmm/qemu/Qmp.js";
import { ensureTestGuest } from "../guest/testGuest.js";
import { createTestNetns, type NetnsRunner, type TestNetns, testGuestSpec } from "../helpers/netnsRunner.js";

const QEMU = "qemu-system-x86_64";
const qemuPath = await findExecutable(QEMU);
const isRoot = process.getuid?.() === 0;
const hasIp = (await findExecutable("ip")) !== null;
const noQemu = qemuPath ? false : `${QEMU} not found (apt-get install qemu-system-x86)`;
const bootSkip =
  noQemu ||
  (!isRoot ? "needs root (network namespace, bridge, TAP)" : !hasIp ? "needs iproute2 (ip)" : false);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function poll<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(250);
  }
}

/** The SSH banner of HOST:22 read from inside the namespace, or undefined. */
async function sshBanner(runner: NetnsRunner, host: string): Promise<string | undefined> {
  const script = `const s = require("net").connect(22, ${JSON.stringify(host)});
s.setTimeout(2000, () => process.exit(2));
s.on("error", () => process.exit(1));
s.once("data", (d) => { process.stdout.write(d.toString().split("\\n")[0]); s.destroy(); process.exit(0); });`;
  const r = await runner.run([process.execPath, "-e", script], { allowFailure: true, timeoutMs: 5000 });
  return r.code === 0 && r.stdout.startsWith("SSH-") ? r.stdout.trim() : undefined;
}

function qemuProcessGone(pid: number): boolean {
  try {
    return !readFileSync(`/proc/${pid}/cmdline`, "latin1").includes(QEMU);
  } catch {
    return true;
  }
}

async function bootAndCheck(
  t: TestContext,
  driver: QemuDriver,
  spec: BootSpec,
  ns: TestNetns,
): Promise<VmmHandle> {
  const t0 = performance.now();
  const { handle, timings } = await driver.boot(spec);
  const bootMs = performance.now() - t0;
  t.diagnostic(`boot() ${bootMs.toFixed(0)} ms: ${timings.map((s) => `${s.name} ${s.ms} ms`).join(", ")}`);
  assert.equal(handle.driver, "qemu");
  assert.equal(handle.acceleration, "tcg");
  assert.ok(driver.isAlive(handle));
  assert.ok(existsSync(handle.controlSocket) && existsSync(handle.agentSocket));

  const up = await poll("the guest init to finish (console log)", 180_000, async () => {
    const text = await readFile(spec.consoleLog, "utf8").catch(() => "");
    return /banger-guest: up after (\S+)s/.exec(text)?.[1];
  });
  const banner = await poll("SSH on the guest", 120_000, () => sshBanner(ns.runner, ns.guestIp));
  t.diagnostic(
    `guest init done at ${up}s guest uptime; SSH answered ${((performance.now() - t0) / 1000).toFixed(1)} s after boot() began: ${banner}`,
  );
  assert.match(banner, /^SSH-2\.0-dropbear/);

  const qmp = await QmpClient.connect(handle.controlSocket);
  try {
    assert.equal((await qmp.execute<{ status: string }>("query-status")).status, "running");
  } finally {
    qmp.close();
  }
  return handle;
}

describe("QemuDriver with the real QEMU", () => {
  it("boots the test guest under TCG in a private netns, answers SSH, stops cleanly", {
    skip: bootSkip,
    timeout: 20 * 60_000,
  }, async (t) => {
    const runner = new NodeCommandRunner();
    const guest = await ensureTestGuest({ onStage: (s) => t.diagnostic(`test guest: ${s}`) });
    const dir = await mkdtemp(path.join(os.tmpdir(), "banger-qemu-it-"));
    const ns = await createTestNetns({ prefix: "bgt-qemu", runner });
    const driver = new QemuDriver({
      commandPrefix: ["ip", "netns", "exec", ns.name],
      accelDetect: () => "tcg",
    });
    let handle: VmmHandle | undefined;
    try {
      const spec = testGuestSpec(dir, guest, ns, { id: "0123abcd", name: "qemu-it" });
      await mkdir(spec.vmDir, { recursive: true });
      await runner.run(["cp", "--sparse=always", guest.workSeed, path.join(dir, "work.ext4")]);
      await runner.run(["mkfs.ext4", "-F", "-q", path.join(dir, "cow.ext4"), "256M"]);
      handle = await bootAndCheck(t, driver, spec, ns);

      const t0 = performance.now();
      await driver.stop(handle, { timeoutMs: 3000 });
      t.diagnostic(`stop() took ${(performance.now() - t0).toFixed(0)} ms`);
      assert.equal(driver.isAlive(handle), false);
      assert.ok(qemuProcessGone(handle.pid), `QEMU pid ${handle.pid} is still running`);
      for (const f of [handle.controlSocket, handle.agentSocket, path.join(spec.vmDir, "qemu.pid")]) {
        assert.ok(!existsSync(f), `${f} was not removed`);
      }
      await driver.stop(handle); // a dead VM stops fine
    } finally {
      if (handle && driver.isAlive(handle))
        await driver.stop(handle, { timeoutMs: 1000 }).catch(() => undefined);
      await ns.cleanup();
      await rm(dir, { recursive: true, force: true });
    }
    const left = await runner.run(["ip", "netns", "list"]);
    assert.ok(!left.stdout.includes(ns.name), `netns ${ns.name} was left behind`);
  });

  it("a kernel QEMU cannot load fails before QMP answers, with QEMU's own message", {
    skip: noQemu,
  }, async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "banger-qemu-bad-"));
    try {
      const kernel = path.join(dir, "not-a-kernel");
      await writeFile(kernel, "this is not a kernel\n");
      const vmDir = path.join(dir, "vm");
      const spec: BootSpec = {
        id: "bad0",
        name: "bad",
        vcpu: 1,
        memoryMib: 128,
        kernelPath: kernel,
        initrdPath: null,
        kernelArgs: "",
        drives: [],
        net: null,
        cid: 3,
        vmDir,
        consoleLog: path.join(vmDir, "console.log"),
        vmmLog: path.join(vmDir, "vmm.log"),
        memoryFile: path.join(vmDir, "memory.raw"),
      };
      const driver = new QemuDriver({ accelDetect: () => "tcg" });
      await assert.rejects(driver.boot(spec), (e: unknown) => {
        assert.ok(isBangerError(e));
        assert.match(
          e.message,
          /^step "qmp-connect" failed: QEMU \(pid \d+\) failed to start \(exit code 1\)/,
        );
        assert.match(e.message, /kernel/i, "QEMU's complaint about the kernel is in the message");
        assert.match(e.hint ?? "", /vmm log: .*vmm\.log/);
        return true;
      });
      assert.match(await readFile(spec.vmmLog, "utf8"), /kernel/i);
      for (const f of ["qmp.sock", "agent.sock", "qemu.pid"]) assert.ok(!existsSync(path.join(vmDir, f)));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
