import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, beforeEach, describe, it } from "node:test";
import type { ProgressEvent } from "../../api/protocol.js";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import { FakeHelper } from "../../host/helper/FakeHelper.js";
import { makeImage } from "../../store/fake/fixtures.js";
import { MemoryStore } from "../../store/fake/MemoryStore.js";
import { FakeDriver } from "../../vmm/fake/FakeDriver.js";
import { FakeDiskManager } from "../disks/FakeDiskManager.js";
import { FakeNetworkManager } from "../network/FakeNetworkManager.js";
import { SshFiles } from "../ssh/SshFiles.js";
import type { VmServiceDeps } from "./deps.js";
import { VmService } from "./VmService.js";

const quiet = { info() {}, warn() {}, error() {} };
const dir = mkdtempSync(path.join(tmpdir(), "banger-vmsvc-"));
after(() => rmSync(dir, { recursive: true, force: true }));

interface World {
  svc: VmService;
  store: MemoryStore;
  net: FakeNetworkManager;
  disks: FakeDiskManager;
  driver: FakeDriver;
  preflights: string[][];
  deps: VmServiceDeps;
}

function world(over: Partial<VmServiceDeps> = {}): World {
  const store = new MemoryStore();
  store.images.insert(makeImage("tiny", { kernelPath: "/k/vmlinux", initrdPath: "/k/initrd" }));
  const net = new FakeNetworkManager();
  const disks = new FakeDiskManager();
  const driver = new FakeDriver();
  const preflights: string[][] = [];
  const deps: VmServiceDeps = {
    store,
    network: net,
    disks,
    drivers: { select: async () => ({ driver, reason: "test" }), forName: () => driver },
    sshKey: { get: async () => ({ privateKey: "/k/id", publicKey: "ssh-ed25519 AAAA test" }) },
    hostKeys: {
      generate: async (vmDir, name) => {
        await mkdir(vmDir, { recursive: true });
        await writeFile(path.join(vmDir, "ssh_host_ed25519_key.pub"), `ssh-ed25519 HOSTKEY root@${name}\n`);
        return { privateKey: Buffer.from("PRIVATE"), publicKey: `ssh-ed25519 HOSTKEY root@${name}` };
      },
    },
    sshFiles: new SshFiles(path.join(dir, `ssh-${Math.random().toString(16).slice(2)}`)),
    vmsDir: path.join(dir, `vms-${Math.random().toString(16).slice(2)}`),
    defaults: () => ({ vcpu: 2, memoryMib: 1024, diskSizeBytes: 4 * 1024 ** 3 }),
    defaultImage: "tiny",
    preflight: async (ids) => {
      preflights.push([...ids]);
    },
    log: quiet,
    ...over,
  };
  return { svc: new VmService(deps), store, net, disks, driver, preflights, deps };
}

describe("VmService", () => {
  let w: World;
  beforeEach(() => {
    w = world();
  });

  it("create records, leases, prepares disks, writes the key and boots with the right spec", async () => {
    const events: ProgressEvent[] = [];
    const v = await w.svc.create({ name: "dev" }, (e) => e.kind === "progress" && events.push(e));
    assert.equal(v.state, "running");
    assert.equal(v.ip, "172.30.0.2");
    assert.equal(v.tap, "banger0t0");
    assert.deepEqual(v.spec, { vcpu: 2, memoryMib: 1024, diskSizeBytes: 4 * 1024 ** 3 });
    const boot = w.driver.boots[0]!;
    assert.equal(boot.kernelPath, "/k/vmlinux");
    assert.match(
      boot.kernelArgs,
      /^ip=172\.30\.0\.2::172\.30\.0\.1:255\.255\.255\.0:dev:eth0:off banger\.root=\/dev\/vda banger\.work=\/dev\/vdb banger\.cow=\/dev\/vdc$/,
    );
    assert.deepEqual(
      boot.drives.map((d) => [d.id, d.readOnly]),
      [
        ["root", true],
        ["work", false],
        ["cow", false],
      ],
    );
    assert.equal(boot.net?.mac, v.mac);
    const key = w.disks.workFiles.get(v.paths.workDisk)?.get("/.ssh/authorized_keys");
    assert.equal(key?.mode, 0o600);
    assert.equal(String(key?.content), "ssh-ed25519 AAAA test\n");
    assert.deepEqual(w.preflights, [["vmm", "tun", "ip", "debugfs"]]);
    assert.ok(events.some((e) => e.stage === "create:disks" && e.phase === "done"));
    assert.ok(events.some((e) => e.stage === "boot:spawn"));
    assert.deepEqual(
      v.bootTimings?.map((t) => t.name),
      [
        "create:record",
        "create:lease",
        "create:disks",
        "create:ssh-key",
        "create:file-sync",
        "create:host-key",
        "start:ssh-key",
        "start:network",
        "start:firewall",
        "start:cgroup",
        "boot:spawn",
      ],
    );
  });

  it("bad input is refused before anything is touched", async () => {
    await assert.rejects(w.svc.create({ name: "Bad_Name" }), /invalid VM name/);
    await assert.rejects(
      w.svc.create({ image: "nope" }),
      (e: BangerError) => e.code === ErrorCodes.NOT_FOUND && /available images: tiny/.test(e.hint ?? ""),
    );
    await w.svc.create({ name: "dup", start: false });
    await assert.rejects(
      w.svc.create({ name: "dup" }),
      (e: BangerError) => e.code === ErrorCodes.ALREADY_EXISTS,
    );
    assert.deepEqual(
      w.store.vms.list().map((v) => v.name),
      ["dup"],
    );
    assert.equal(w.disks.callsOf("prepare").length, 1);
  });

  it("a failed disk step leaves no row, no lease and no directory", async () => {
    w.disks.failOn("prepare", new BangerError(ErrorCodes.COMMAND_FAILED, "No space left on device"));
    await assert.rejects(w.svc.create({ name: "full" }), (e: BangerError) => {
      assert.match(e.message, /step "disks" failed: No space left on device/);
      return true;
    });
    assert.deepEqual(w.store.vms.list(), []);
    assert.deepEqual(w.store.listLeases(), []);
  });

  it("a cleanup that fails is logged with the step and resource, and kept as the VM's last error", async () => {
    const logged: unknown[] = [];
    w = world({ log: { ...quiet, error: (o: unknown) => logged.push(o) } });
    w.driver.failNextBoot();
    w.net.failNext("releaseTap", new BangerError(ErrorCodes.COMMAND_FAILED, "cannot delete TAP banger0t0"));
    await assert.rejects(w.svc.create({ name: "leaky" }), /step "boot" failed/);
    const vm = w.store.vms.get("leaky");
    assert.equal(vm.state, "error");
    assert.match(vm.lastError ?? "", /undoing step "network" failed: cannot delete TAP banger0t0/);
    assert.deepEqual(logged[0], {
      vm: "leaky",
      id: vm.id,
      step: "network",
      err: "cannot delete TAP banger0t0",
    });
    // A failed create whose undo fails keeps its row (reconcile retries; vm show says what was left).
    w.disks.failOn("writeWorkFiles", new BangerError(ErrorCodes.COMMAND_FAILED, "disk full"));
    w.disks.failOn("remove", new BangerError(ErrorCodes.COMMAND_FAILED, "cannot remove /x/work.ext4"));
    await assert.rejects(w.svc.create({ name: "half" }), /step "ssh-key" failed: disk full/);
    const half = w.store.vms.get("half");
    assert.equal(half.state, "creating");
    assert.match(half.lastError ?? "", /left things behind: undoing step "disks" failed: cannot remove/);
    await w.svc.lifecycle.reconcile();
    assert.equal(w.store.vms.find("half"), undefined, "reconcile removes what an interrupted create left");
  });

  it("a failed boot keeps the VM (state error, reason kept) and gives the TAP back", async () => {
    w.driver.failNextBoot();
    await assert.rejects(w.svc.create({ name: "oops" }), /step "boot" failed/);
    const vm = w.store.vms.get("oops");
    assert.equal(vm.state, "error");
    assert.match(vm.lastError ?? "", /spawn/);
    assert.equal(vm.network?.tap, null);
    assert.ok(w.net.pool.includes("banger0t0") || w.net.deleted.includes("banger0t0"), "TAP released");
    const again = await w.svc.lifecycle.start("oops");
    assert.equal(again.state, "running");
  });

  it("stop is graceful with the timeout, releases the TAP, keeps the address; stop twice is fine", async () => {
    const v = await w.svc.create({ name: "s" });
    const stopped = await w.svc.lifecycle.stop("s", 5000);
    assert.equal(stopped.state, "stopped");
    assert.equal(w.driver.stops[0]?.timeoutMs, 5000);
    assert.equal(stopped.network?.ip, v.ip);
    assert.equal(stopped.network?.tap, null);
    assert.equal((await w.svc.lifecycle.stop("s")).state, "stopped");
    assert.equal(w.driver.stops.length, 1);
  });

  it("delete refuses a running VM without force, and removes everything with it", async () => {
    const v = await w.svc.create({ name: "d" });
    await assert.rejects(
      w.svc.delete("d", false),
      (e: BangerError) => e.code === ErrorCodes.CONFLICT && /--force/.test(e.hint ?? ""),
    );
    await w.svc.delete("d", true);
    assert.equal(w.store.vms.find("d"), undefined);
    assert.deepEqual(w.store.listLeases(), []);
    assert.equal(w.disks.callsOf("remove").length, 1);
    assert.ok(!w.net.leased.has(v.tap!));
  });

  it("a VMM that dies becomes crashed; a daemon restart adopts live VMs and stops dead ones", async () => {
    const a = await w.svc.create({ name: "a" });
    const b = await w.svc.create({ name: "b" });
    w.driver.kill(a.pid!);
    assert.deepEqual(await w.svc.lifecycle.checkCrashes(), ["a"]);
    assert.equal(w.store.vms.get("a").state, "crashed");
    assert.match(w.store.vms.get("a").lastError ?? "", /exited unexpectedly/);
    // a new service over the same store: as after a daemon restart
    const w2 = { ...w, svc: new VmService(w.deps) };
    w.driver.kill(b.pid!);
    const r = await w2.svc.lifecycle.reconcile();
    assert.deepEqual(r.stopped, ["b"]);
    const c = await w.svc.create({ name: "c" });
    const r2 = await w2.svc.lifecycle.reconcile();
    assert.deepEqual(r2.adopted, ["c"]);
    assert.equal(w.store.vms.get("c").state, "running");
    assert.equal(c.state, "running");
  });

  it("a missing image is pulled from the catalog with a visible stage; a name in no catalog lists what exists", async () => {
    const pulled: string[] = [];
    const w2 = world({
      images: {
        available: async () => ["debian-bookworm", "void"],
        ensure: async (name, progress) => {
          pulled.push(name);
          progress({ kind: "progress", stage: "pull:download", phase: "info", message: "downloading" });
          return w2.store.images.insert(makeImage(name, { kernelPath: "/k/vmlinux" }));
        },
      },
    });
    const events: string[] = [];
    const v = await w2.svc.create(
      { image: "debian-bookworm", start: false },
      (e) => e.kind === "progress" && events.push(e.message),
    );
    assert.equal(v.image.name, "debian-bookworm");
    assert.deepEqual(pulled, ["debian-bookworm"]);
    assert.ok(events.includes("pulling debian-bookworm from the image catalog"));
    await assert.rejects(w2.svc.create({ image: "arch" }), (e: BangerError) => {
      assert.equal(e.code, ErrorCodes.NOT_FOUND);
      assert.equal(e.hint, "available images: debian-bookworm, tiny, void");
      return true;
    });
  });

  it("concurrent creates get distinct names, addresses, TAPs, MACs and CIDs", async () => {
    const vms = await Promise.all(Array.from({ length: 8 }, () => w.svc.create({})));
    for (const k of ["name", "ip", "tap", "mac", "cid"] as const) {
      assert.equal(new Set(vms.map((v) => v[k])).size, 8, k);
    }
  });

  it("each VM gets its own host key, in its root and pinned in banger's known_hosts and ssh_config", async () => {
    const v = await w.svc.create({ name: "k", start: false });
    const written = w.disks.workFiles.get(v.paths.cowDisk!);
    assert.equal(written?.get("/upper/etc/ssh/ssh_host_ed25519_key")?.mode, 0o600);
    assert.equal(
      String(written?.get("/upper/etc/ssh/ssh_host_ed25519_key.pub")?.content),
      "ssh-ed25519 HOSTKEY root@k\n",
    );
    await assert.rejects(w.svc.sshInfo("k"), /is stopped/);
    await w.svc.lifecycle.start("k");
    const i = await w.svc.sshInfo("k");
    assert.equal(i.user, "root");
    assert.equal(i.hostKeyAlias, "k.vm");
    assert.equal(readFileSync(i.knownHostsFile, "utf8"), "k.vm ssh-ed25519 HOSTKEY\n");
    const cfg = readFileSync(i.sshConfig, "utf8");
    assert.match(cfg, /Host k\.vm\n {2}HostName 172\.30\.0\.2\n {2}HostKeyAlias k\.vm/);
    assert.match(cfg, /StrictHostKeyChecking yes/);
    await w.svc.delete("k", true);
    assert.equal(readFileSync(i.knownHostsFile, "utf8"), "", "a deleted VM's key is unpinned");
  });

  it("a cgroup per VM: created with limits before boot, the paused VMM attached, removed on stop, crash and failure", async () => {
    const helper = new FakeHelper();
    const c = world({ helper });
    c.driver.vmmOverheadMib = () => 100;
    const v = await c.svc.create({ name: "cg", vcpu: 2, memoryMib: 512 });
    assert.deepEqual(helper.calls.slice(0, 2), [
      {
        verb: "cgroup.create",
        args: { vm: v.id, limits: { memoryBytes: 612 * 1024 ** 2, pids: 132, cpus: 2 } },
      },
      { verb: "cgroup.attach", args: { vm: v.id, pid: v.pid } },
    ]);
    await c.svc.lifecycle.stop("cg");
    assert.deepEqual(helper.calls[2], { verb: "cgroup.remove", args: { vm: v.id } });
    const again = await c.svc.lifecycle.start("cg");
    c.driver.kill(again.vmm!.pid);
    await c.svc.lifecycle.checkCrashes();
    assert.deepEqual(helper.verbs().slice(-1), ["cgroup.remove"], "a crashed VM's cgroup goes");
    helper.failNext.set("cgroup.attach", new BangerError(ErrorCodes.PREFLIGHT_FAILED, "not a VMM"));
    await assert.rejects(c.svc.lifecycle.start("cg"), /not a VMM/);
    assert.deepEqual(helper.verbs().slice(-3), ["cgroup.create", "cgroup.attach", "cgroup.remove"]);
    assert.equal(c.store.vms.get("cg").state, "error");
    assert.equal(c.driver.alive.size, 0, "the VMM that could not be confined does not run");
    const up = await c.svc.lifecycle.start("cg");
    const n = helper.calls.length;
    await c.svc.lifecycle.reconcile();
    assert.deepEqual(
      helper.calls.slice(n).map((x) => x.verb),
      ["cgroup.create", "cgroup.attach"],
      "adopted VMMs are (re)attached",
    );
    assert.deepEqual(helper.calls.at(-1)?.args, { vm: up.id, pid: up.vmm!.pid });
    // A driver that never hands over a paused VMM leaves no empty cgroup behind.
    await c.svc.lifecycle.stop("cg");
    const boot = c.driver.boot.bind(c.driver);
    c.driver.boot = (spec) => boot(spec, {});
    const m = helper.calls.length;
    await c.svc.lifecycle.start("cg");
    assert.deepEqual(
      helper.calls.slice(m).map((x) => x.verb),
      ["cgroup.create", "cgroup.remove"],
    );
  });
});
