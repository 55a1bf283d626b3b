import assert from "node:assert/strict";
import { test } from "node:test";
import { selectVmm } from "./select.js";

const FC = "/usr/bin/firecracker";
const QEMU = "/usr/bin/qemu-system-x86_64";

test("auto picks firecracker with kvm and a binary", () => {
  const s = selectVmm("auto", { kvmUsable: true, firecrackerPath: FC, qemuPath: QEMU });
  assert.equal(s.ok && s.driver, "firecracker");
});

test("auto falls back to qemu/kvm without firecracker, qemu/tcg without kvm", () => {
  const a = selectVmm("auto", { kvmUsable: true, firecrackerPath: null, qemuPath: QEMU });
  assert.deepEqual(a.ok && [a.driver, a.acceleration], ["qemu", "kvm"]);
  const b = selectVmm("auto", { kvmUsable: false, firecrackerPath: FC, qemuPath: QEMU });
  assert.deepEqual(b.ok && [b.driver, b.acceleration], ["qemu", "tcg"]);
  assert.match(b.ok ? b.reason : "", /not usable/);
});

test("nothing usable gives a reason and a fix", () => {
  const s = selectVmm("auto", { kvmUsable: false, firecrackerPath: null, qemuPath: null });
  assert.equal(s.ok, false);
  assert.match(s.ok ? "" : s.fix, /apt-get install qemu-system-x86/);
});

test("vmm = firecracker refuses without kvm or binary", () => {
  const a = selectVmm("firecracker", { kvmUsable: false, firecrackerPath: FC, qemuPath: QEMU });
  assert.equal(a.ok, false);
  assert.match(a.ok ? "" : a.reason, /\/dev\/kvm/);
  const b = selectVmm("firecracker", { kvmUsable: true, firecrackerPath: null, qemuPath: QEMU });
  assert.match(b.ok ? "" : b.reason, /no firecracker binary/);
});

test("vmm = qemu uses qemu even when firecracker could run", () => {
  const s = selectVmm("qemu", { kvmUsable: true, firecrackerPath: FC, qemuPath: QEMU });
  assert.deepEqual(s.ok && [s.driver, s.acceleration], ["qemu", "kvm"]);
});
