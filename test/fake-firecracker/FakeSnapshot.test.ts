/** The fake's snapshot rules, in-process: pause/resume, create, load (files really written and read). */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { FIRECRACKER_API } from "../../src/vmm/firecracker/apiSpec.js";
import { FakeFirecracker, type FakeReply } from "./FakeFirecracker.js";
import { FAKE_STATE_FORMAT } from "./snapshot.js";

const MIB = 1024 * 1024;

describe("fake firecracker snapshots (rules of v1.16.1, real files)", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bfs-"));
  const f = (name: string) => path.join(dir, name);
  writeFileSync(f("vmlinux"), "\x7fELF");
  writeFileSync(f("disk"), "");
  const fakes: FakeFirecracker[] = [];
  after(() => {
    for (const x of fakes) x.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function fake(id = "vm1"): { fake: FakeFirecracker; fatal: () => number; console: string[] } {
    let fatal = 0;
    const lines: string[] = [];
    const x = new FakeFirecracker({
      id,
      spec: FIRECRACKER_API,
      console: (l) => lines.push(l),
      onShutdown: () => {},
      onFatal: () => fatal++,
    });
    fakes.push(x);
    return { fake: x, fatal: () => fatal, console: lines };
  }
  const req = (x: FakeFirecracker, method: string, url: string, body?: unknown): Promise<FakeReply> =>
    x.handle(method, url, body === undefined ? "" : JSON.stringify(body));
  const fault = (r: FakeReply) => (r.body as { fault_message?: string } | undefined)?.fault_message ?? "";
  const state = async (x: FakeFirecracker) => ((await req(x, "GET", "/")).body as { state: string }).state;
  const ok = async (x: FakeFirecracker, method: string, url: string, body?: unknown) => {
    const r = await req(x, method, url, body);
    assert.equal(r.status, 204, `${method} ${url}: ${fault(r)}`);
  };

  /** A booted fake: 16 MiB, one drive, a NIC, a vsock at `vsock`. */
  async function booted(vsock: string, id = "vm1") {
    const h = fake(id);
    await ok(h.fake, "PUT", "/machine-config", { vcpu_count: 1, mem_size_mib: 16 });
    await ok(h.fake, "PUT", "/boot-source", { kernel_image_path: f("vmlinux") });
    const drive = { drive_id: "rootfs", is_root_device: true, is_read_only: false, path_on_host: f("disk") };
    await ok(h.fake, "PUT", "/drives/rootfs", drive);
    await ok(h.fake, "PUT", "/network-interfaces/eth0", { iface_id: "eth0", host_dev_name: "tap-a" });
    await ok(h.fake, "PUT", "/vsock", { guest_cid: 3, uds_path: vsock });
    await ok(h.fake, "PUT", "/actions", { action_type: "InstanceStart" });
    return h;
  }

  const save = { snapshot_type: "Full", snapshot_path: f("state"), mem_file_path: f("memory") };
  const load = (over: Record<string, unknown> = {}) => ({
    snapshot_path: f("state"),
    mem_backend: { backend_type: "File", backend_path: f("memory") },
    resume_vm: true,
    network_overrides: [{ iface_id: "eth0", host_dev_name: "tap-b" }],
    vsock_override: { uds_path: f("v2.sock") },
    ...over,
  });

  test("pause and resume: after start only, idempotent, seen in GET /", async () => {
    const { fake: x } = fake();
    assert.match(fault(await req(x, "PATCH", "/vm", { state: "Paused" })), /before starting the microVM/);
    assert.match(
      fault(await req(x, "PATCH", "/vm", { state: "Frozen" })),
      /is not one of "Paused", "Resumed"/,
    );
    x.close();
    const { fake: y } = await booted(f("v0.sock"));
    await ok(y, "PATCH", "/vm", { state: "Paused" });
    await ok(y, "PATCH", "/vm", { state: "Paused" });
    assert.equal(await state(y), "Paused");
    await ok(y, "PATCH", "/vm", { state: "Resumed" });
    await ok(y, "PATCH", "/vm", { state: "Resumed" });
    assert.equal(await state(y), "Running");
    y.close();
  });

  test("create: refused while running; when paused, a JSON state and a sparse memory file of the memory size", async () => {
    const { fake: x } = await booted(f("v1.sock"));
    assert.match(fault(await req(x, "PUT", "/snapshot/create", save)), /unavailable while running/);
    assert.equal(existsSync(f("state")), false, "nothing written");
    await ok(x, "PATCH", "/vm", { state: "Paused" });
    await ok(x, "PUT", "/snapshot/create", save);
    const saved = JSON.parse(readFileSync(f("state"), "utf8"));
    assert.equal(saved.format, FAKE_STATE_FORMAT);
    assert.equal(saved.machine.mem_size_mib, 16);
    assert.deepEqual(
      saved.drives.map((d: { path_on_host: string }) => d.path_on_host),
      [f("disk")],
    );
    assert.equal(saved.vsock.uds_path, f("v1.sock"));
    const mem = statSync(f("memory"));
    assert.equal(mem.size, 16 * MIB);
    assert.ok(mem.blocks * 512 < mem.size, "sparse");
    assert.equal(await state(x), "Paused", "still paused after the snapshot");
    const bad = { ...save, mem_file_path: f("no-such-dir/memory") };
    assert.match(fault(await req(x, "PUT", "/snapshot/create", bad)), /memory backing file: No such file/);
    x.close();
  });

  test("load: only on a fresh process (logger and metrics allowed before it)", async () => {
    const { fake: x } = fake();
    await ok(x, "PUT", "/logger", {});
    writeFileSync(f("metrics"), "");
    await ok(x, "PUT", "/metrics", { metrics_path: f("metrics") });
    // a failed boot-specific request still counts, as in rpc_interface.rs
    assert.equal((await req(x, "PUT", "/boot-source", { kernel_image_path: f("nope") })).status, 400);
    assert.match(
      fault(await req(x, "PUT", "/snapshot/load", load())),
      /not allowed after configuring boot-specific/,
    );
    x.close();
  });

  test("load: restores paused or running, with this VM's TAP and vsock; then boot-time requests are refused", async () => {
    const { fake: x, console: lines } = fake("clone");
    await ok(x, "PUT", "/snapshot/load", load());
    assert.equal(await state(x), "Running");
    assert.equal(x.nets.get("eth0")?.host_dev_name, "tap-b");
    assert.ok(existsSync(f("v2.sock")), "the overridden vsock socket is bound");
    assert.ok(
      lines.some((l) => l.includes("restored (fake-guest-memory vm1)")),
      lines.join("\n"),
    );
    assert.match(fault(await req(x, "PUT", "/snapshot/load", load())), /after starting the microVM/);
    assert.match(fault(await req(x, "PUT", "/actions", { action_type: "InstanceStart" })), /after starting/);
    x.close();
    rmSync(f("v2.sock"), { force: true });
    const { fake: y } = fake("clone2");
    await ok(y, "PUT", "/snapshot/load", load({ resume_vm: false }));
    assert.equal(await state(y), "Paused");
    y.close();
    rmSync(f("v2.sock"), { force: true });
  });

  test("load failures are fatal, each with Firecracker's reason", async () => {
    writeFileSync(f("not-state"), "{}");
    writeFileSync(f("short-memory"), Buffer.alloc(MIB));
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ snapshot_path: f("none") }, /Failed to open snapshot file: No such file/],
      [{ snapshot_path: f("not-state") }, /not a snapshot state file/],
      [{ mem_backend: { backend_type: "File", backend_path: f("none") } }, /guest memory.*No such file/],
      [
        { mem_backend: { backend_type: "File", backend_path: f("short-memory") } },
        /exceeds largest possible/,
      ],
      [{ network_overrides: [{ iface_id: "eth1", host_dev_name: "t" }] }, /Unknown Network Device/],
      [{ vsock_override: { uds_path: f("v0.sock") } }, /Address in use|binding/],
    ];
    writeFileSync(f("v0.sock"), "occupied");
    for (const [over, reason] of cases) {
      const h = fake("c");
      assert.match(fault(await req(h.fake, "PUT", "/snapshot/load", load(over))), reason);
      await new Promise((r) => setImmediate(r));
      assert.equal(h.fatal(), 1, `fatal: ${reason}`);
      assert.equal(await state(h.fake), "Not started");
      h.fake.close();
    }
    rmSync(f("disk"));
    const h = fake("c");
    assert.match(
      fault(await req(h.fake, "PUT", "/snapshot/load", load())),
      /block device rootfs: .*No such file/,
    );
    writeFileSync(f("disk"), "");
    h.fake.close();
  });
});
