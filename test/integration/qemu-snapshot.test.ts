/**
 * QemuDriver's saved state against the real QEMU (TCG): a marker written into
 * the guest's RAM (/dev/shm) survives pause + saveState + stop + a restore
 * boot; a fork (state saved to another VM's files while the source is paused)
 * boots as a second QEMU that has the marker but not what the source wrote
 * after the fork. The probes run inside the guests, through the agent.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it, type TestContext } from "node:test";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { AgentClient } from "../../src/services/agent/AgentClient.js";
import type { BootSpec, VmmHandle } from "../../src/vmm/driver.js";
import { findExecutable } from "../../src/vmm/qemu/accel.js";
import { QemuDriver } from "../../src/vmm/qemu/QemuDriver.js";
import { ensureTestGuest } from "../guest/testGuest.js";
import { createTestNetns, testGuestSpec } from "../helpers/netnsRunner.js";

const qemuPath = await findExecutable("qemu-system-x86_64");
const skip = !qemuPath
  ? "qemu-system-x86_64 not found"
  : process.getuid?.() !== 0
    ? "needs root (network namespace, TAP)"
    : false;

async function connectAgent(h: VmmHandle, timeoutMs: number): Promise<AgentClient> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = await AgentClient.connect(h, { requestTimeoutMs: 3000 });
    if (await c.ping({ timeoutMs: 2000 }).catch(() => undefined)) return c;
    c.close();
    if (Date.now() > deadline) throw new Error("the guest agent did not answer");
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function sh(c: AgentClient, script: string): Promise<{ code: number; out: string }> {
  const out: Buffer[] = [];
  const code = await c.exec(["sh", "-c", script], {
    onStdout: (b) => out.push(b),
    onStderr: (b) => out.push(b),
  });
  return { code, out: Buffer.concat(out).toString().trim() };
}

describe("QemuDriver saved state with the real QEMU", () => {
  it("suspends to files and restores with RAM intact; a fork sees the source's past, not its future", {
    skip,
    timeout: 15 * 60_000,
  }, async (t: TestContext) => {
    const runner = new NodeCommandRunner();
    const guest = await ensureTestGuest({ onStage: (s) => t.diagnostic(`test guest: ${s}`) });
    const dir = await mkdtemp(path.join(os.tmpdir(), "banger-qsnap-"));
    const ns = await createTestNetns({ prefix: "bgt-qsnap", subnet: 97, runner });
    await runner.run(["ip", "netns", "exec", ns.name, "ip", "tuntap", "add", "dev", "tap1", "mode", "tap"]);
    const driver = new QemuDriver({
      commandPrefix: ["ip", "netns", "exec", ns.name],
      accelDetect: () => "tcg",
    });
    const handles: VmmHandle[] = [];
    const clients: AgentClient[] = [];
    try {
      const spec = testGuestSpec(dir, guest, ns, { id: "5a5e0001", name: "qsnap" });
      await mkdir(spec.vmDir, { recursive: true });
      await runner.run(["cp", "--sparse=always", guest.workSeed, path.join(dir, "work.ext4")]);
      await runner.run(["mkfs.ext4", "-F", "-q", path.join(dir, "cow.ext4"), "256M"]);
      const first = (await driver.boot(spec)).handle;
      handles.push(first);
      const a = await connectAgent(first, 180_000);
      assert.deepEqual(await sh(a, "echo before-suspend > /dev/shm/marker && echo ok"), {
        code: 0,
        out: "ok",
      });
      a.close();
      assert.equal((await stat(spec.memoryFile)).mode & 0o777, 0o600, "the RAM file is private");

      const state = { stateFile: path.join(spec.vmDir, "state.bin"), memoryFile: spec.memoryFile };
      await driver.snapshots.pause(first);
      const t0 = performance.now();
      const { bytes } = await driver.snapshots.saveState(first, spec, state);
      t.diagnostic(`saveState: ${bytes} bytes in ${(performance.now() - t0).toFixed(0)} ms`);
      assert.ok(bytes > 1000 && bytes < 16 * 1024 * 1024, `state of ${bytes} bytes carries no RAM`);
      await driver.stop(first, { timeoutMs: 0, keepMemory: true });
      assert.ok(existsSync(spec.memoryFile), "suspend keeps the RAM file");
      assert.ok(!existsSync(path.join(spec.vmDir, "vmm.d")), "the migration directory is removed");

      const t1 = performance.now();
      const resumed = (await driver.boot({ ...spec, restore: state })).handle;
      handles.push(resumed);
      const b = await connectAgent(resumed, 30_000);
      clients.push(b);
      t.diagnostic(`restore to agent answer: ${(performance.now() - t1).toFixed(0)} ms`);
      assert.deepEqual(await sh(b, "cat /dev/shm/marker"), { code: 0, out: "before-suspend" });

      // Fork: the source is paused while its state and RAM are copied, then runs on.
      const cloneDir = path.join(dir, "clone");
      const cloneVm = path.join(cloneDir, "vm");
      await mkdir(cloneVm, { recursive: true });
      const saved = {
        stateFile: path.join(cloneVm, "state.bin"),
        memoryFile: path.join(cloneVm, "memory.raw"),
      };
      await driver.snapshots.pause(resumed);
      await driver.snapshots.saveState(resumed, spec, saved);
      for (const d of ["work.ext4", "cow.ext4"])
        await runner.run(["cp", "--sparse=always", path.join(dir, d), path.join(cloneDir, d)]);
      await driver.snapshots.resume(resumed);
      assert.deepEqual(await sh(b, "echo after-fork > /dev/shm/later && cat /dev/shm/marker"), {
        code: 0,
        out: "before-suspend",
      });

      const cloneSpec: BootSpec = {
        ...testGuestSpec(cloneDir, guest, ns, { id: "5a5e0002", name: "qsnap-clone" }),
        net: { tap: "tap1", mac: "06:00:ac:1e:61:03" },
        restore: saved,
      };
      const clone = (await driver.boot(cloneSpec)).handle;
      handles.push(clone);
      const c = await connectAgent(clone, 30_000);
      clients.push(c);
      assert.deepEqual(await sh(c, "cat /dev/shm/marker; test -e /dev/shm/later && echo LEAK || echo none"), {
        code: 0,
        out: "before-suspend\nnone",
      });
      assert.deepEqual(await sh(c, "echo clone-only > /dev/shm/mine && echo ok"), { code: 0, out: "ok" });
      assert.deepEqual(await sh(b, "test -e /dev/shm/mine && echo LEAK || echo none"), {
        code: 0,
        out: "none",
      });
      assert.ok(!existsSync(path.join(spec.vmDir, "state.bin.tmp")));

      for (const cl of clients) cl.close();
      await driver.stop(clone, { timeoutMs: 3000 });
      await driver.stop(resumed, { timeoutMs: 3000 });
      assert.ok(!existsSync(spec.memoryFile) && !existsSync(saved.memoryFile), "stop removes the RAM files");
    } finally {
      for (const cl of clients) cl.close();
      for (const h of handles)
        if (driver.isAlive(h)) await driver.stop(h, { timeoutMs: 0 }).catch(() => undefined);
      await ns.cleanup();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
