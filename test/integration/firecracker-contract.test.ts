/**
 * The Firecracker driver against a fake Firecracker that validates every
 * request against banger's description of the Firecracker API (v1.16.1,
 * src/vmm/firecracker/apiSpec.ts). Runs on any clone.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { after, describe, test } from "node:test";
import { BangerError } from "../../src/errors/index.js";
import type { VmmHandle } from "../../src/vmm/driver.js";
import { FirecrackerDriver } from "../../src/vmm/firecracker/FirecrackerDriver.js";
import { isPidAlive } from "../../src/vmm/process.js";
import { FakeVmDir } from "../fake-firecracker/harness.js";

const dirs: FakeVmDir[] = [];
after(async () => {
  for (const d of dirs) await d.cleanup();
});

function vmDir(opts: { net?: boolean } = {}): FakeVmDir {
  const d = new FakeVmDir(opts);
  dirs.push(d);
  return d;
}

const STEPS = [
  "spawn",
  "wait-api",
  "logger",
  "metrics",
  "machine-config",
  "boot-source",
  "drives",
  "network",
  "vsock",
  "start",
];

async function bootError(driver: FirecrackerDriver, d: FakeVmDir): Promise<BangerError> {
  try {
    await driver.boot(d.spec);
  } catch (e) {
    assert.ok(e instanceof BangerError, `expected a BangerError, got ${String(e)}`);
    return e;
  }
  assert.fail("boot should have failed");
}

function assertUndone(d: FakeVmDir): void {
  assert.deepEqual(d.alive(), [], "no fake firecracker may be left running");
  assert.equal(existsSync(path.join(d.spec.vmDir, "fc.sock")), false, "API socket removed");
  assert.equal(existsSync(path.join(d.spec.vmDir, "vsock.sock")), false, "vsock socket removed");
  assert.equal(existsSync(path.join(d.spec.vmDir, "fc-drives")), false, "drive links removed");
}

/** The recorded requests of a full boot: order, every one accepted, and the bodies. */
function assertBootRequests(d: FakeVmDir, handle: VmmHandle): void {
  assert.deepEqual(d.sequence(), [
    "GET /",
    "PUT /logger",
    "PUT /metrics",
    "PUT /machine-config",
    "PUT /boot-source",
    "PUT /drives/rootfs",
    "PUT /drives/work",
    "PUT /network-interfaces/eth0",
    "PUT /vsock",
    "PUT /actions",
  ]);
  for (const r of d.requests()) assert.ok(r.status < 300, `${r.method} ${r.path} -> ${r.status} ${r.fault}`);
  const body = (p: string) => d.requests().find((r) => `${r.method} ${r.path}` === p)?.body;
  assert.deepEqual(body("PUT /machine-config"), { vcpu_count: 2, mem_size_mib: 256, smt: false });
  assert.deepEqual(body("PUT /boot-source"), {
    kernel_image_path: d.spec.kernelPath,
    boot_args: `console=ttyS0 reboot=k panic=1 pci=off ${d.spec.kernelArgs}`,
  });
  assert.deepEqual(body("PUT /drives/work"), {
    drive_id: "work",
    is_root_device: false,
    is_read_only: false,
    path_on_host: "fc-drives/work", // relative to the VM directory: a link to the drive (direct.ts)
    cache_type: "Writeback",
  });
  assert.equal(readlinkSync(path.join(d.spec.vmDir, "fc-drives/work")), d.spec.drives[1]?.path);
  assert.deepEqual(body("PUT /network-interfaces/eth0"), {
    iface_id: "eth0",
    host_dev_name: "tap-bg0",
    guest_mac: "06:00:ac:1e:00:02",
  });
  assert.deepEqual(body("PUT /vsock"), { guest_cid: 3, uds_path: handle.agentSocket });
  assert.deepEqual(body("PUT /actions"), { action_type: "InstanceStart" });
}

describe("Firecracker driver contract (fake firecracker validating against banger's API description)", () => {
  test("boots, every request is accepted, and stops gracefully", async () => {
    const d = vmDir();
    await mkdir(d.spec.vmDir, { recursive: true });
    writeFileSync(path.join(d.spec.vmDir, "fc.sock"), "stale"); // stale sockets from a crash
    writeFileSync(path.join(d.spec.vmDir, "vsock.sock"), "stale");
    const driver = new FirecrackerDriver({ firecrackerBin: d.bin() });
    const started: string[] = [];
    const { handle, timings } = await driver.boot(d.spec, { onStepStart: (n) => started.push(n) });

    assert.deepEqual(started, STEPS);
    assert.deepEqual(
      timings.map((t) => t.name),
      STEPS,
    );
    assert.deepEqual(handle, {
      driver: "firecracker",
      pid: d.pids()[0],
      controlSocket: path.join(d.spec.vmDir, "fc.sock"),
      agentSocket: path.join(d.spec.vmDir, "vsock.sock"),
      acceleration: "kvm",
    });
    assert.equal(driver.isAlive(handle), true);
    assertBootRequests(d, handle);
    assert.ok(existsSync(d.spec.vmmLog) && existsSync(path.join(d.spec.vmDir, "metrics.json")));
    assert.match(readFileSync(d.spec.consoleLog, "utf8"), /Linux version .*fake/);

    const t0 = Date.now();
    await driver.stop(handle);
    assert.ok(Date.now() - t0 < 5000, "a graceful stop does not wait for the timeout");
    assert.equal(driver.isAlive(handle), false);
    const last = d.requests().at(-1);
    assert.deepEqual(
      [last?.path, last?.body, last?.status],
      ["/actions", { action_type: "SendCtrlAltDel" }, 204],
    );
    assert.match(readFileSync(d.spec.consoleLog, "utf8"), /reboot: Restarting system/);
    assertUndone(d);
    await driver.stop(handle); // idempotent
  });

  test("stop kills a VMM that ignores Ctrl+Alt+Del; the API socket is chowned to SUDO_UID", async () => {
    const d = vmDir({ net: false });
    const chowned: unknown[] = [];
    const driver = new FirecrackerDriver({
      firecrackerBin: d.bin({ FAKE_FC_IGNORE_CTRL_ALT_DEL: "1" }),
      getuid: () => 0, // as if the daemon ran under sudo: the API socket goes to the sudo user
      env: { SUDO_UID: "1234", SUDO_GID: "5678" },
      chown: (...args) => chowned.push(args),
    });
    const { handle, timings } = await driver.boot(d.spec);
    assert.deepEqual(chowned, [[handle.controlSocket, 1234, 5678]]);
    assert.equal(
      timings.some((t) => t.name === "network"),
      false,
      "no network step without a NIC",
    );
    const t0 = Date.now();
    await driver.stop(handle, { timeoutMs: 300 });
    assert.ok(Date.now() - t0 >= 300, "waited for the graceful timeout first");
    assert.equal(driver.isAlive(handle), false);
    assert.equal(d.requests().at(-1)?.status, 204, "SendCtrlAltDel was accepted, then ignored");
    assertUndone(d);
  });

  test("a non-ELF kernel is refused before anything is spawned", async () => {
    const d = vmDir();
    const bz = Buffer.alloc(0x300);
    bz.write("MZ", 0, "latin1");
    bz.write("HdrS", 0x202, "latin1");
    writeFileSync(d.spec.kernelPath, bz);
    const err = await bootError(new FirecrackerDriver({ firecrackerBin: d.bin() }), d);
    assert.equal(err.code, "INVALID_ARGUMENT");
    assert.ok(err.message.includes(d.spec.kernelPath), err.message);
    assert.match(err.message, /compressed bzImage; Firecracker needs an uncompressed vmlinux/);
    assert.deepEqual(d.pids(), [], "nothing was spawned");
  });

  test("a Firecracker older than the minimum is refused in step spawn, before anything starts", async () => {
    const d = vmDir();
    const err = await bootError(
      new FirecrackerDriver({ firecrackerBin: d.bin({ FAKE_FC_VERSION: "1.7.0" }) }),
      d,
    );
    assert.equal((err.details as { step: string }).step, "spawn");
    assert.match(err.message, /is Firecracker 1\.7\.0; banger needs 1\.8\.0 or newer/);
    assert.deepEqual(d.pids(), [], "no VMM was started");
  });

  test("an invalid drive id fails the drives step before it is sent", async () => {
    const d = vmDir();
    d.spec.drives[1] = { ...(d.spec.drives[1] as (typeof d.spec.drives)[number]), id: "work-disk" };
    const err = await bootError(new FirecrackerDriver({ firecrackerBin: d.bin() }), d);
    assert.equal((err.details as { step: string }).step, "drives");
    assert.match(err.message, /"work-disk" is invalid/);
    assert.equal(
      d.sequence().some((s) => s.startsWith("PUT /drives")),
      false,
    );
    assertUndone(d);
  });

  test("wait-api fails fast when the binary exits at once, pointing at the VMM log (its stderr)", async () => {
    const d = vmDir();
    const bin = path.join(d.dir, "firecracker-dies");
    writeFileSync(
      bin,
      '#!/bin/sh\n[ "$1" = --version ] && { echo "Firecracker v1.16.1"; exit 0; }\necho "KVM: no such device" >&2\nexit 1\n',
      { mode: 0o755 },
    );
    const err = await bootError(new FirecrackerDriver({ firecrackerBin: bin, apiTimeoutMs: 10_000 }), d);
    assert.match(err.message, /step "wait-api" failed: firecracker \(pid \d+\) exited before its API socket/);
    assert.ok(err.message.includes(d.spec.vmmLog) && err.message.includes(d.spec.consoleLog));
    assert.match(readFileSync(d.spec.vmmLog, "utf8"), /KVM: no such device/);
  });

  describe("a failure in each step names the step and undoes the boot", () => {
    const apiFaults: Record<string, string> = {
      logger: "PUT /logger",
      metrics: "PUT /metrics",
      "machine-config": "PUT /machine-config",
      "boot-source": "PUT /boot-source",
      drives: "PUT /drives/work",
      network: "PUT /network-interfaces/eth0",
      vsock: "PUT /vsock",
      start: "PUT /actions",
    };
    for (const step of STEPS) {
      test(step, async () => {
        const d = vmDir();
        const opts =
          step === "spawn"
            ? { firecrackerBin: path.join(d.dir, "no-such-firecracker") }
            : step === "wait-api"
              ? { firecrackerBin: d.bin({ FAKE_FC_NO_SOCKET: "1" }), apiTimeoutMs: 1000 }
              : { firecrackerBin: d.bin({ FAKE_FC_FAIL_ON: apiFaults[step] as string }) };
        const err = await bootError(new FirecrackerDriver(opts), d);
        assert.equal((err.details as { step: string }).step, step);
        assert.ok(err.message.startsWith(`step "${step}" failed: `), err.message);
        assert.ok(err.hint?.includes(`console log: ${d.spec.consoleLog}`), err.hint);
        assert.ok(err.hint?.includes(`VMM log: ${d.spec.vmmLog}`), err.hint);
        if (step === "spawn") assert.match(err.message, /no-such-firecracker: not found/);
        if (apiFaults[step]) assert.match(err.message, /HTTP 400\): fault injected by FAKE_FC_FAIL_ON/);
        if (step === "wait-api") {
          // the fake may not have recorded its start yet under load: take the pid from the message
          const pid = Number(/never appeared .* pid (\d+)\); see the console log/.exec(err.message)?.[1]);
          assert.ok(pid > 0, err.message);
          assert.equal(isPidAlive(pid), false, "the hung VMM was killed");
        } else if (step !== "spawn") {
          assert.equal(d.pids().length, 1, "one fake was started");
        }
        assertUndone(d);
      });
    }
  });
});
