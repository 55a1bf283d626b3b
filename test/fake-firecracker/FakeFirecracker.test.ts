/** The fake's rules, in-process (no HTTP): what it accepts must be what Firecracker accepts. */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, beforeEach, describe, test } from "node:test";
import { FIRECRACKER_API } from "../../src/vmm/firecracker/apiSpec.js";
import { FakeFirecracker, type FakeReply } from "./FakeFirecracker.js";

describe("fake firecracker rules (banger's API description)", () => {
  const spec = FIRECRACKER_API;
  const dir = mkdtempSync(path.join(os.tmpdir(), "bfk-"));
  const kernel = path.join(dir, "vmlinux");
  const disk = path.join(dir, "disk");
  writeFileSync(kernel, "\x7fELF");
  writeFileSync(disk, "");
  let fake: FakeFirecracker;
  let shutdowns = 0;
  let consoleLines: string[] = [];
  const fakes: FakeFirecracker[] = [];

  beforeEach(() => {
    consoleLines = [];
    fake = new FakeFirecracker({
      id: "t1",
      spec,
      console: (l) => consoleLines.push(l),
      onShutdown: () => shutdowns++,
      failOn: new Set(["PUT /entropy"]),
    });
    fakes.push(fake);
  });
  after(() => {
    for (const f of fakes) f.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const req = (method: string, url: string, body?: unknown): Promise<FakeReply> =>
    fake.handle(method, url, body === undefined ? "" : JSON.stringify(body));
  const fault = (r: FakeReply) => (r.body as { fault_message?: string } | undefined)?.fault_message ?? "";
  const start = async () => {
    assert.equal((await req("PUT", "/boot-source", { kernel_image_path: kernel })).status, 204);
    assert.equal((await req("PUT", "/actions", { action_type: "InstanceStart" })).status, 204);
  };

  test("GET / describes the instance", async () => {
    assert.deepEqual(await req("GET", "/"), {
      status: 200,
      body: { id: "t1", state: "Not started", vmm_version: "1.16.1", app_name: "Firecracker" },
    });
  });

  test("unknown routes and methods are 400", async () => {
    assert.match(fault(await req("PUT", "/nope", {})), /Invalid request method and\/or path: PUT \/nope/);
    assert.match(fault(await req("DELETE", "/drives/a")), /Invalid request method/);
    assert.match(fault(await req("GET", "/", { x: 1 })), /does not take a body/);
    assert.match(fault(await req("PUT", "/logger")), /Empty PUT request/);
    assert.match(fault(await fake.handle("PUT", "/logger", "{nope")), /Invalid body/);
  });

  test("bodies are validated against the description", async () => {
    const r = await req("PUT", "/machine-config", { vcpu_count: 1, mem_size_mib: 128, vcpus: 1 });
    assert.equal(r.status, 400);
    assert.match(fault(r), /unknown field "vcpus"/);
    const d = { drive_id: "a", is_root_device: false, is_read_only: false, path_on_host: disk };
    assert.match(fault(await req("PUT", "/drives/a", { ...d, cache_type: "None" })), /is not one of/);
    assert.equal((await req("PUT", "/drives/a", { ...d, cache_type: "Writeback" })).status, 204);
  });

  test("path ids: charset and equal to the body id", async () => {
    const d = { is_root_device: true, is_read_only: false, path_on_host: disk };
    assert.match(
      fault(await req("PUT", "/drives/root-fs", { drive_id: "root-fs", ...d })),
      /Invalid drive_id "root-fs"/,
    );
    assert.match(
      fault(await req("PUT", "/drives/a", { drive_id: "b", ...d })),
      /does not match the id from the body/,
    );
    assert.equal((await req("PUT", "/drives/a", { drive_id: "a", ...d })).status, 204);
    assert.match(
      fault(await req("PUT", "/drives/b", { drive_id: "b", ...d })),
      /root block device already exists/,
    );
  });

  test("files must exist; vsock uds_path must not", async () => {
    assert.match(
      fault(await req("PUT", "/logger", { log_path: path.join(dir, "missing.log") })),
      /No such file/,
    );
    assert.match(
      fault(await req("PUT", "/boot-source", { kernel_image_path: path.join(dir, "nokernel") })),
      /kernel/,
    );
    const uds = path.join(dir, "v.sock");
    writeFileSync(uds, "");
    assert.match(fault(await req("PUT", "/vsock", { guest_cid: 3, uds_path: uds })), /Address in use/);
    rmSync(uds);
    assert.equal((await req("PUT", "/vsock", { guest_cid: 3, uds_path: uds })).status, 204);
    assert.ok(existsSync(uds), "bound like the real one");
  });

  test("logger and metrics only once", async () => {
    writeFileSync(path.join(dir, "m.json"), "");
    assert.equal((await req("PUT", "/metrics", { metrics_path: path.join(dir, "m.json") })).status, 204);
    assert.match(fault(await req("PUT", "/metrics", { metrics_path: path.join(dir, "m.json") })), /already/);
  });

  test("pre-boot and post-boot only requests", async () => {
    assert.match(
      fault(await req("PUT", "/actions", { action_type: "SendCtrlAltDel" })),
      /before starting the microVM/,
    );
    assert.match(
      fault(await req("PUT", "/actions", { action_type: "InstanceStart" })),
      /without kernel configuration/,
    );
    assert.match(fault(await req("PATCH", "/vm", { state: "Paused" })), /before starting the microVM/);
    assert.match(
      fault(await req("PUT", "/snapshot/create", { snapshot_path: "/s", mem_file_path: "/m" })),
      /before starting the microVM/,
    );
    await start();
    assert.equal(((await req("GET", "/")).body as { state: string }).state, "Running");
    assert.match(
      fault(await req("PUT", "/boot-source", { kernel_image_path: kernel })),
      /after starting the microVM/,
    );
    assert.match(
      fault(await req("PUT", "/machine-config", { vcpu_count: 1, mem_size_mib: 64 })),
      /after starting/,
    );
    assert.match(fault(await req("PUT", "/actions", { action_type: "InstanceStart" })), /after starting/);
    assert.match(
      fault(await req("PUT", "/drives/x", { drive_id: "x", is_root_device: false })),
      /enable-pci/,
    );
    assert.ok(consoleLines.some((l) => l.includes("Linux version")));
    assert.equal((await req("PUT", "/actions", { action_type: "SendCtrlAltDel" })).status, 204);
    assert.equal(shutdowns, 1);
  });

  test("machine-config: smt needs 1 or an even count", async () => {
    assert.match(
      fault(await req("PUT", "/machine-config", { vcpu_count: 3, mem_size_mib: 64, smt: true })),
      /vCPU/,
    );
    assert.equal((await req("PUT", "/machine-config", { vcpu_count: 3, mem_size_mib: 64 })).status, 204);
    assert.deepEqual((await req("GET", "/machine-config")).body, {
      smt: false,
      track_dirty_pages: false,
      vcpu_count: 3,
      mem_size_mib: 64,
    });
  });

  test("network: MAC format and uniqueness", async () => {
    assert.match(
      fault(
        await req("PUT", "/network-interfaces/eth0", {
          iface_id: "eth0",
          host_dev_name: "t0",
          guest_mac: "zz",
        }),
      ),
      /Invalid MAC/,
    );
    const mac = "06:00:00:00:00:01";
    assert.equal(
      (
        await req("PUT", "/network-interfaces/eth0", {
          iface_id: "eth0",
          host_dev_name: "t0",
          guest_mac: mac,
        })
      ).status,
      204,
    );
    assert.match(
      fault(
        await req("PUT", "/network-interfaces/eth1", {
          iface_id: "eth1",
          host_dev_name: "t1",
          guest_mac: mac,
        }),
      ),
      /already in use/,
    );
  });

  test("fault injection", async () => {
    assert.match(fault(await req("PUT", "/entropy", {})), /fault injected by FAKE_FC_FAIL_ON: PUT \/entropy/);
  });

  test("oversized payloads are refused", async () => {
    assert.match(
      fault(await req("PUT", "/mmds", { big: "x".repeat(60_000) })),
      /larger than the limit of 51200/,
    );
  });
});
