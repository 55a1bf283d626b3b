import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type ApiSchema, FIRECRACKER_API } from "./apiSpec.js";
import { bodyParameter, matchRoute, resolveRef, validate } from "./apiValidate.js";
import {
  bootSourceBody,
  driveBody,
  loggerBody,
  machineConfigBody,
  metricsBody,
  networkBody,
  snapshotCreateBody,
  snapshotLoadBody,
  vmStateBody,
  vsockBody,
} from "./bodies.js";

describe("API validator (against banger's Firecracker API description)", () => {
  const spec = FIRECRACKER_API;
  const ref = (name: string): ApiSchema => ({ $ref: `#/definitions/${name}` });
  const check = (name: string, v: unknown) => validate(spec, ref(name), v);

  test("the description is of v1.16.1", () => {
    assert.equal(spec.info.version, "1.16.1");
  });

  test("every body the driver builds is valid", () => {
    const drive = { id: "work", path: "/w", readOnly: false, isRoot: false };
    assert.deepEqual(check("Logger", loggerBody("/l")), []);
    assert.deepEqual(check("Metrics", metricsBody("/m")), []);
    assert.deepEqual(check("MachineConfiguration", machineConfigBody({ vcpu: 2, memoryMib: 512 })), []);
    const boot = { kernelPath: "/k", initrdPath: "/i", kernelArgs: "ip=1" };
    assert.deepEqual(check("BootSource", bootSourceBody(boot)), []);
    assert.deepEqual(check("Drive", driveBody(drive)), []);
    assert.deepEqual(check("Drive", driveBody({ ...drive, id: "rootfs", readOnly: true, isRoot: true })), []);
    assert.deepEqual(check("NetworkInterface", networkBody({ tap: "t", mac: "06:00:00:00:00:01" })), []);
    assert.deepEqual(check("Vsock", vsockBody(3, "/v")), []);
    assert.deepEqual(check("Vm", vmStateBody("Paused")), []);
    assert.deepEqual(check("SnapshotCreateParams", snapshotCreateBody("/s", "/m")), []);
    const load = { statePath: "/s", memoryPath: "/m", tap: "t", vsockPath: "/v" };
    assert.deepEqual(check("SnapshotLoadParams", snapshotLoadBody(load)), []);
    assert.deepEqual(check("SnapshotLoadParams", snapshotLoadBody({ ...load, tap: null })), []);
  });

  test("snapshot bodies: enums, nested definitions, deprecated fields refused", () => {
    assert.deepEqual(check("Vm", { state: "Stopped" }), [
      'body.state: "Stopped" is not one of "Paused", "Resumed"',
    ]);
    assert.deepEqual(
      check("SnapshotLoadParams", {
        snapshot_path: "/s",
        mem_backend: { backend_type: "Disk", backend_path: "/m" },
        network_overrides: [{ iface_id: "eth0" }],
        vsock_override: {},
        mem_file_path: "/m",
      }),
      [
        'body.mem_backend.backend_type: "Disk" is not one of "File", "Uffd"',
        'body.network_overrides[0]: missing required field "host_dev_name"',
        'body.vsock_override: missing required field "uds_path"',
        'body: unknown field "mem_file_path" (Firecracker rejects unknown fields; known: track_dirty_pages, mem_backend, snapshot_path, resume_vm, network_overrides, vsock_override, clock_realtime)',
      ],
    );
    assert.deepEqual(check("SnapshotCreateParams", { snapshot_path: "/s" }), [
      'body: missing required field "mem_file_path"',
    ]);
  });

  test("a valid body passes", () => {
    assert.deepEqual(check("MachineConfiguration", { vcpu_count: 2, mem_size_mib: 256, smt: false }), []);
    assert.deepEqual(
      check("Drive", {
        drive_id: "rootfs",
        is_root_device: true,
        is_read_only: false,
        path_on_host: "/x",
        cache_type: "Unsafe",
        rate_limiter: { bandwidth: { size: 1, refill_time: 100 } },
      }),
      [],
    );
  });

  test("missing required field", () => {
    assert.deepEqual(check("MachineConfiguration", { vcpu_count: 2 }), [
      'body: missing required field "mem_size_mib"',
    ]);
  });

  test("wrong type, integer is not number", () => {
    assert.deepEqual(check("MachineConfiguration", { vcpu_count: 1.5, mem_size_mib: 128 }), [
      "body.vcpu_count: expected integer, got number 1.5",
    ]);
    assert.deepEqual(check("MachineConfiguration", { vcpu_count: "2", mem_size_mib: 128 }), [
      'body.vcpu_count: expected integer, got string "2"',
    ]);
    assert.deepEqual(check("BootSource", { kernel_image_path: "/k", initrd_path: null }), [
      "body.initrd_path: expected string, got null null",
    ]);
    assert.deepEqual(check("Metrics", []), ["body: expected object, got array []"]);
  });

  test("bad enum", () => {
    assert.deepEqual(check("Logger", { level: "Verbose" }), [
      'body.level: "Verbose" is not one of "Error", "Warning", "Info", "Debug", "Trace", "Off"',
    ]);
    assert.deepEqual(check("InstanceActionInfo", { action_type: "Reboot" }).length, 1);
  });

  test("minimum and maximum", () => {
    assert.deepEqual(check("MachineConfiguration", { vcpu_count: 33, mem_size_mib: 128 }), [
      "body.vcpu_count: 33 is above the maximum 32",
    ]);
    assert.deepEqual(check("Vsock", { guest_cid: 2, uds_path: "/v" }), [
      "body.guest_cid: 2 is below the minimum 3",
    ]);
  });

  test("unknown field, also nested behind a $ref", () => {
    assert.match(
      check("Metrics", { metrics_path: "/m", format: "json" })[0] ?? "",
      /^body: unknown field "format"/,
    );
    assert.deepEqual(
      check("Drive", {
        drive_id: "a",
        is_root_device: false,
        rate_limiter: { ops: { size: 1, refill_time: 1, x: 1 } },
      }),
      [
        'body.rate_limiter.ops: unknown field "x" (Firecracker rejects unknown fields; known: one_time_burst, refill_time, size)',
      ],
    );
  });

  test("additionalProperties: true allows anything (like MMDS contents)", () => {
    const open: ApiSchema = { type: "object", additionalProperties: true };
    assert.deepEqual(validate(spec, open, { anything: { at: ["all"] } }), []);
  });

  test("arrays are checked item by item", () => {
    const list: ApiSchema = { type: "array", items: { type: "string" } };
    assert.deepEqual(validate(spec, list, ["eth0", 5]), ["body[1]: expected string, got integer 5"]);
  });

  test("every $ref in the description resolves", () => {
    const refs = JSON.stringify(spec).match(/#\/definitions\/[A-Za-z]+/g) ?? [];
    assert.ok(refs.length > 10);
    for (const r of refs) assert.ok(resolveRef(spec, { $ref: r }));
    assert.throws(() => resolveRef(spec, { $ref: "#/definitions/Nope" }), /cannot resolve/);
  });

  test("routes: templates, path params, methods", () => {
    const m = matchRoute(spec, "PUT", "/drives/rootfs");
    assert.equal(m?.template, "/drives/{drive_id}");
    assert.deepEqual(m?.params, { drive_id: "rootfs" });
    assert.equal(bodyParameter(m?.operation ?? {})?.required, true);
    assert.equal(matchRoute(spec, "DELETE", "/drives/rootfs")?.operation, undefined, "not used by banger");
    assert.equal(matchRoute(spec, "PUT", "/nope"), null);
    assert.equal(matchRoute(spec, "GET", "/?x=1")?.template, "/");
  });
});
