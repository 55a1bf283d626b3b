import assert from "node:assert/strict";
import { test } from "node:test";
import {
  assertResourceId,
  BASE_BOOT_ARGS,
  bootArgs,
  bootSourceBody,
  driveBody,
  loggerBody,
  machineConfigBody,
  networkBody,
  snapshotCreateBody,
  snapshotLoadBody,
  vmStateBody,
  vsockBody,
} from "./bodies.js";

test("boot_args = banger's base + the spec's kernel args", () => {
  assert.equal(BASE_BOOT_ARGS, "console=ttyS0 reboot=k panic=1 pci=off");
  assert.equal(bootArgs(" ip=1.2.3.4 "), "console=ttyS0 reboot=k panic=1 pci=off ip=1.2.3.4");
  assert.equal(bootArgs(""), BASE_BOOT_ARGS);
});

test("boot_args longer than 2048 bytes are refused", () => {
  const room = 2048 - BASE_BOOT_ARGS.length - 1;
  assert.equal(Buffer.byteLength(bootArgs("x".repeat(room))), 2048);
  assert.throws(() => bootArgs("x".repeat(room + 1)), {
    code: "INVALID_ARGUMENT",
    message: /2049 bytes.*2048/,
  });
  assert.throws(() => bootArgs("é".repeat(room)), /bytes/, "counted in bytes, not characters");
});

test("boot-source carries initrd_path only when set", () => {
  const base = { kernelPath: "/k/vmlinux", kernelArgs: "a=b" };
  assert.deepEqual(bootSourceBody({ ...base, initrdPath: null }), {
    kernel_image_path: "/k/vmlinux",
    boot_args: `${BASE_BOOT_ARGS} a=b`,
  });
  assert.equal(bootSourceBody({ ...base, initrdPath: "/k/initrd" }).initrd_path, "/k/initrd");
});

test("machine-config: smt off, counts validated", () => {
  assert.deepEqual(machineConfigBody({ vcpu: 3, memoryMib: 512 }), {
    vcpu_count: 3,
    mem_size_mib: 512,
    smt: false,
  });
  assert.throws(() => machineConfigBody({ vcpu: 0, memoryMib: 512 }), /vcpu/);
  assert.throws(() => machineConfigBody({ vcpu: 33, memoryMib: 512 }), /vcpu/);
  assert.throws(() => machineConfigBody({ vcpu: 1.5, memoryMib: 512 }), /vcpu/);
  assert.throws(() => machineConfigBody({ vcpu: 1, memoryMib: 0 }), /memory/);
});

test("drive body from a DriveSpec", () => {
  assert.deepEqual(driveBody({ id: "rootfs", path: "/d/root.ext4", readOnly: true, isRoot: true }), {
    drive_id: "rootfs",
    is_root_device: true,
    is_read_only: true,
    path_on_host: "/d/root.ext4",
    cache_type: "Unsafe",
  });
});

test("writable drives honour guest flushes (Writeback); only read-only ones stay Unsafe", () => {
  for (const id of ["work", "cow"]) {
    assert.equal(
      driveBody({ id, path: `/d/${id}.ext4`, readOnly: false, isRoot: false }).cache_type,
      "Writeback",
    );
  }
  const rwRoot = driveBody({ id: "rootfs", path: "/d/root.ext4", readOnly: false, isRoot: true });
  assert.equal(rwRoot.cache_type, "Writeback");
});

test("resource ids: letters, digits and _ only", () => {
  assert.doesNotThrow(() => assertResourceId("drive", "work_1"));
  assert.throws(() => driveBody({ id: "work-1", path: "/x", readOnly: false, isRoot: false }), {
    code: "INVALID_ARGUMENT",
    message: /drive id "work-1" is invalid/,
  });
  assert.throws(() => assertResourceId("drive", ""), /invalid/);
  assert.throws(() => assertResourceId("drive", "a/b"), /invalid/);
});

test("network, vsock and logger bodies", () => {
  assert.deepEqual(networkBody({ tap: "tap0", mac: "06:00:00:00:00:01" }), {
    iface_id: "eth0",
    host_dev_name: "tap0",
    guest_mac: "06:00:00:00:00:01",
  });
  assert.deepEqual(vsockBody(7, "/v/vsock.sock"), { guest_cid: 7, uds_path: "/v/vsock.sock" });
  assert.throws(() => vsockBody(2, "/v"), /CID must be an integer >= 3/);
  assert.deepEqual(loggerBody("/v/fc.log"), {
    log_path: "/v/fc.log",
    level: "Info",
    show_level: true,
    show_log_origin: false,
  });
});

test("snapshot bodies: PATCH /vm, a full snapshot/create", () => {
  assert.deepEqual(vmStateBody("Paused"), { state: "Paused" });
  assert.deepEqual(vmStateBody("Resumed"), { state: "Resumed" });
  assert.deepEqual(snapshotCreateBody("/v/state", "/v/memory"), {
    snapshot_type: "Full",
    snapshot_path: "/v/state",
    mem_file_path: "/v/memory",
  });
  assert.throws(() => snapshotCreateBody("", "/v/memory"), {
    code: "INVALID_ARGUMENT",
    message: /snapshot_path must be a non-empty path/,
  });
  assert.throws(() => snapshotCreateBody("/v/state", " "), /mem_file_path must be a non-empty path/);
});

test("snapshot/load: File backend, this VM's TAP and vsock socket, resumed", () => {
  const input = {
    statePath: "/s/state",
    memoryPath: "/s/memory",
    tap: "tap-bg7",
    vsockPath: "/v/vsock.sock",
  };
  assert.deepEqual(snapshotLoadBody(input), {
    snapshot_path: "/s/state",
    mem_backend: { backend_type: "File", backend_path: "/s/memory" },
    resume_vm: true,
    network_overrides: [{ iface_id: "eth0", host_dev_name: "tap-bg7" }],
    vsock_override: { uds_path: "/v/vsock.sock" },
  });
  const noNic = snapshotLoadBody({ ...input, tap: null });
  assert.equal("network_overrides" in noNic, false, "no NIC: no override");
  assert.throws(() => snapshotLoadBody({ ...input, memoryPath: "" }), /mem_backend\.backend_path must be/);
  assert.throws(() => snapshotLoadBody({ ...input, vsockPath: "" }), /vsock_override\.uds_path must be/);
});
