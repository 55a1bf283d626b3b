import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import type { VmmHandle } from "../driver.js";
import { sudoOwner } from "./bootSteps.js";
import { FirecrackerDriver } from "./FirecrackerDriver.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "banger-fcd-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const handle = (pid: number): VmmHandle => ({
  driver: "firecracker",
  pid,
  controlSocket: path.join(dir, "fc.sock"),
  agentSocket: path.join(dir, "vsock.sock"),
  acceleration: "kvm",
});

test("identity and features", () => {
  const d = new FirecrackerDriver();
  assert.equal(d.name, "firecracker");
  assert.equal(d.acceleration, "kvm");
  assert.deepEqual(d.features, { snapshots: true, agentChannel: "vsock" });
  assert.equal(typeof d.snapshots?.saveState, "function");
});

test("isAlive is false for a pid that is not this VM's firecracker", () => {
  const d = new FirecrackerDriver();
  assert.equal(d.isAlive(handle(process.pid)), false, "a live pid without the API socket in its argv");
  assert.equal(d.isAlive(handle(2 ** 22 + 1)), false);
});

test("stop on a VM that is gone removes the sockets and does not touch the pid", async () => {
  writeFileSync(path.join(dir, "fc.sock"), "");
  writeFileSync(path.join(dir, "vsock.sock"), "");
  await new FirecrackerDriver().stop(handle(process.pid), { timeoutMs: 50 });
  assert.equal(existsSync(path.join(dir, "fc.sock")), false);
  assert.equal(existsSync(path.join(dir, "vsock.sock")), false);
  await new FirecrackerDriver().stop(handle(process.pid)); // again: fine
});

test("sudoOwner: only as root, only with SUDO_UID and SUDO_GID", () => {
  assert.deepEqual(sudoOwner({ SUDO_UID: "1000", SUDO_GID: "1001" }, 0), { uid: 1000, gid: 1001 });
  assert.equal(sudoOwner({ SUDO_UID: "1000", SUDO_GID: "1001" }, 1000), null);
  assert.equal(sudoOwner({ SUDO_UID: "1000" }, 0), null);
  assert.equal(sudoOwner({ SUDO_UID: "x", SUDO_GID: "1" }, 0), null);
  assert.equal(sudoOwner({}, 0), null);
});
