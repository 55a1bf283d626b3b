/**
 * Firecracker snapshots through the driver (pause, resume, saveState, restore
 * boot) against the fake Firecracker, which validates every request against
 * banger's API description and really writes and reads the saved files.
 * Firecracker runs directly here (no jailer); firecracker-jail.test.ts covers
 * the jailed path.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import { BangerError } from "../../src/errors/index.js";
import type { BootSpec, SavedState, VmmHandle } from "../../src/vmm/driver.js";
import { FirecrackerApiClient } from "../../src/vmm/firecracker/ApiClient.js";
import { FirecrackerDriver } from "../../src/vmm/firecracker/FirecrackerDriver.js";
import { FakeVmDir } from "../fake-firecracker/harness.js";

const MIB = 1024 * 1024;
const dirs: FakeVmDir[] = [];
after(async () => {
  for (const d of dirs) await d.cleanup();
});

function vmDir(): FakeVmDir {
  const d = new FakeVmDir();
  dirs.push(d);
  return d;
}

const stateOf = async (h: VmmHandle) =>
  (await new FirecrackerApiClient(h.controlSocket).describeInstance()).state;

/** A booted VM and a driver for it. */
async function booted(env: Record<string, string> = {}) {
  const d = vmDir();
  const driver = new FirecrackerDriver({ firecrackerBin: d.bin(env) });
  const { handle } = await driver.boot(d.spec);
  return { d, driver, handle, snaps: driver.snapshots as NonNullable<typeof driver.snapshots> };
}

/** A second VM directory whose spec restores `saved`: its own id, drives, TAP and vsock. */
function cloneOf(saved: SavedState): { c: FakeVmDir; spec: BootSpec } {
  const c = vmDir();
  const spec: BootSpec = {
    ...c.spec,
    id: "fedcba9876543210",
    name: "clone",
    net: { tap: "tap-bg9", mac: "06:00:ac:1e:00:09" },
    restore: saved,
  };
  return { c, spec };
}

async function rejects(p: Promise<unknown>): Promise<BangerError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof BangerError, `expected a BangerError, got ${String(e)}`);
    return e;
  }
  assert.fail("should have failed");
}

describe("Firecracker snapshots (driver against the fake firecracker)", () => {
  test("pause, resume, and saveState writes the state and the memory file", async () => {
    const { d, driver, handle, snaps } = await booted();
    await snaps.pause(handle);
    await snaps.pause(handle); // idempotent
    assert.equal(await stateOf(handle), "Paused");
    await snaps.resume(handle);
    assert.equal(await stateOf(handle), "Running");
    await snaps.pause(handle);
    const to = { stateFile: path.join(d.dir, "saved/state"), memoryFile: path.join(d.dir, "saved/memory") };
    const { bytes } = await snaps.saveState(handle, d.spec, to);
    const state = statSync(to.stateFile);
    const memory = statSync(to.memoryFile);
    assert.equal(memory.size, 256 * MIB, "all of guest memory");
    assert.equal(bytes, state.size + memory.size);
    assert.equal(state.mode & 0o777, 0o600, "saved state holds guest secrets");
    assert.equal(memory.mode & 0o777, 0o600);
    const saved = JSON.parse(readFileSync(to.stateFile, "utf8"));
    assert.deepEqual(
      saved.drives.map((x: { path_on_host: string }) => x.path_on_host),
      ["fc-drives/rootfs", "fc-drives/work"],
      "the saved drive paths are the VM-directory-relative links",
    );
    const create = d.requests().find((r) => r.path === "/snapshot/create");
    assert.deepEqual(create?.body, {
      snapshot_type: "Full",
      snapshot_path: to.stateFile,
      mem_file_path: to.memoryFile,
    });
    assert.deepEqual(
      d
        .requests()
        .filter((r) => r.path === "/vm")
        .map((r) => [r.body, r.status]),
      [
        [{ state: "Paused" }, 204],
        [{ state: "Paused" }, 204],
        [{ state: "Resumed" }, 204],
        [{ state: "Paused" }, 204],
      ],
    );
    assert.equal(await stateOf(handle), "Paused", "a save leaves the VM paused");

    await driver.stop(handle, { timeoutMs: 20_000 });
    assert.equal(driver.isAlive(handle), false);
    // the fake ignores Ctrl+Alt+Del while paused (a frozen guest cannot react): had the driver sent it,
    // it would be recorded here
    assert.equal(
      d.requests().some((r) => (r.body as { action_type?: string })?.action_type === "SendCtrlAltDel"),
      false,
      "never resumed or sent Ctrl+Alt+Del after its state was saved",
    );
    assert.deepEqual(d.alive(), []);
  });

  test("a restore boot loads the saved files into a fresh VMM, with this VM's TAP, vsock and drives", async () => {
    const { d, driver, handle, snaps } = await booted();
    await snaps.pause(handle);
    const saved = { stateFile: path.join(d.dir, "state"), memoryFile: path.join(d.dir, "memory") };
    await snaps.saveState(handle, d.spec, saved);
    await driver.stop(handle);
    for (const drive of d.spec.drives) rmSync(drive.path); // the clone must not need the original's drives

    const { c, spec } = cloneOf(saved);
    const cloneDriver = new FirecrackerDriver({ firecrackerBin: c.bin() });
    const started: string[] = [];
    const { handle: h, timings } = await cloneDriver.boot(spec, { onStepStart: (n) => started.push(n) });
    const steps = ["spawn", "wait-api", "logger", "metrics", "load-snapshot"];
    assert.deepEqual(started, steps);
    assert.deepEqual(
      timings.map((t) => t.name),
      steps,
    );
    assert.deepEqual(c.sequence(), ["GET /", "PUT /logger", "PUT /metrics", "PUT /snapshot/load"]);
    const load = c.requests().at(-1);
    assert.equal(load?.status, 204, load?.fault);
    assert.deepEqual(load?.body, {
      snapshot_path: saved.stateFile,
      mem_backend: { backend_type: "File", backend_path: saved.memoryFile },
      resume_vm: true,
      network_overrides: [{ iface_id: "eth0", host_dev_name: "tap-bg9" }],
      vsock_override: { uds_path: h.agentSocket },
    });
    assert.equal(h.agentSocket, path.join(spec.vmDir, "vsock.sock"));
    assert.ok(existsSync(h.agentSocket), "the clone's vsock socket is bound");
    assert.equal(
      readlinkSync(path.join(spec.vmDir, "fc-drives/work")),
      spec.drives[1]?.path,
      "its own drive",
    );
    assert.match(
      readFileSync(spec.consoleLog, "utf8"),
      /restored \(fake-guest-memory 0123456789abcdef\), running/,
    );
    assert.equal(await stateOf(h), "Running");
    assert.equal(cloneDriver.isAlive(h), true);
    await cloneDriver.stop(h);
    assert.deepEqual(c.alive(), []);
    assert.equal(existsSync(path.join(spec.vmDir, "fc-drives")), false);
  });

  test("saveState on a running VM is refused and writes nothing; pause on a gone VM names the socket", async () => {
    const { d, driver, handle, snaps } = await booted();
    const to = { stateFile: path.join(d.dir, "s"), memoryFile: path.join(d.dir, "m") };
    const err = await rejects(snaps.saveState(handle, d.spec, to));
    assert.equal(err.code, "CONFLICT");
    assert.match(err.message, /cannot save the state of VM contract: it is running; pause it first/);
    assert.equal(existsSync(to.stateFile) || existsSync(to.memoryFile), false);
    assert.equal(
      d.sequence().includes("PUT /snapshot/create"),
      false,
      "never asked Firecracker to snapshot a running VM",
    );
    const same = await rejects(
      snaps.saveState(handle, d.spec, { stateFile: to.stateFile, memoryFile: to.stateFile }),
    );
    assert.match(same.message, /stateFile and memoryFile are the same file/);
    await driver.stop(handle);
    const gone = await rejects(snaps.pause(handle));
    assert.match(gone.message, /cannot reach the Firecracker API at .*fc\.sock \(PATCH \/vm\)/);
  });

  test("a restore with a missing or mismatched file is refused before anything starts", async () => {
    const d = vmDir();
    const saved = { stateFile: path.join(d.dir, "state"), memoryFile: path.join(d.dir, "memory") };
    const driver = new FirecrackerDriver({ firecrackerBin: d.bin() });
    const boot = (s: Partial<BootSpec>) => rejects(driver.boot({ ...d.spec, restore: saved, ...s }));

    let err = await boot({});
    assert.equal(err.code, "NOT_FOUND");
    assert.match(err.message, /restore\.stateFile .*\/state does not exist: nothing to restore from/);
    writeFileSync(saved.stateFile, "{}");
    err = await boot({});
    assert.match(err.message, /restore\.memoryFile .*\/memory does not exist/);
    writeFileSync(saved.memoryFile, Buffer.alloc(MIB));
    err = await boot({});
    assert.equal(err.code, "INVALID_ARGUMENT");
    assert.match(err.message, /is 1048576 bytes, but the VM has 256 MiB \(268435456 bytes\)/);
    writeFileSync(saved.stateFile, "");
    err = await boot({ memoryMib: 1 });
    assert.match(err.message, /restore\.stateFile .* is empty/);
    assert.deepEqual(d.pids(), [], "nothing was spawned");
  });

  test("restoring needs Firecracker 1.16.0 (vsock_override): an older one is refused in spawn", async () => {
    const d = vmDir();
    const saved = { stateFile: path.join(d.dir, "state"), memoryFile: path.join(d.dir, "memory") };
    writeFileSync(saved.stateFile, "x");
    writeFileSync(saved.memoryFile, Buffer.alloc(MIB));
    const driver = new FirecrackerDriver({ firecrackerBin: d.bin({ FAKE_FC_VERSION: "1.15.1" }) });
    const err = await rejects(driver.boot({ ...d.spec, memoryMib: 1, restore: saved }));
    assert.equal((err.details as { step: string }).step, "spawn");
    assert.match(err.message, /is Firecracker 1\.15\.1; restoring a saved VM needs 1\.16\.0 or newer/);
    assert.deepEqual(d.pids(), []);
  });

  describe("a failed load names the step and leaves nothing running", () => {
    const cases: Record<string, (saved: SavedState) => Record<string, string>> = {
      "Firecracker exits (not a state file)": (saved) => {
        writeFileSync(saved.stateFile, "not a Firecracker snapshot");
        return {};
      },
      "Firecracker refuses and stays (fault injected)": () => ({ FAKE_FC_FAIL_ON: "PUT /snapshot/load" }),
    };
    for (const [name, setup] of Object.entries(cases)) {
      test(name, async () => {
        const { d, driver, handle, snaps } = await booted();
        await snaps.pause(handle);
        const saved = { stateFile: path.join(d.dir, "state"), memoryFile: path.join(d.dir, "memory") };
        await snaps.saveState(handle, d.spec, saved);
        await driver.stop(handle);
        const { c, spec } = cloneOf(saved);
        const err = await rejects(new FirecrackerDriver({ firecrackerBin: c.bin(setup(saved)) }).boot(spec));
        assert.equal((err.details as { step: string }).step, "load-snapshot");
        assert.match(err.message, /Firecracker rejected PUT \/snapshot\/load \(HTTP 400\)/);
        assert.equal(c.pids().length, 1, "one VMM was started");
        assert.deepEqual(c.alive(), [], "and it is gone");
        for (const f of ["fc.sock", "vsock.sock", "fc-drives"])
          assert.equal(existsSync(path.join(spec.vmDir, f)), false, `${f} removed`);
      });
    }
  });
});
