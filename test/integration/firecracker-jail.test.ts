/**
 * The Firecracker driver with a jailer beside the binary: the fake jailer
 * checks its argv and the chroot layout from inside the jail's mount
 * namespace, drops to the jail uid for real, and starts the fake firecracker,
 * which resolves every path inside the chroot and opens the files as that uid.
 * Needs root (the jail is launched as root: unshare, mount, setuid).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import { FirecrackerDriver } from "../../src/vmm/firecracker/FirecrackerDriver.js";
import { cgroupVersionFromMounts, savedStateFileOf } from "../../src/vmm/firecracker/jail.js";
import { FakeVmDir } from "../fake-firecracker/harness.js";

const isRoot = process.getuid?.() === 0;
const RANGE = { first: 900100, last: 900199 };
const dirs: FakeVmDir[] = [];
after(async () => {
  for (const d of dirs) await d.cleanup();
});

/** A VM directory the jail uid can traverse, with a record file it can append to. */
function jailVmDir(): FakeVmDir {
  const d = new FakeVmDir();
  dirs.push(d);
  chmodSync(d.dir, 0o711);
  writeFileSync(d.record, "");
  chmodSync(d.record, 0o666);
  return d;
}

const aclOf = (file: string): string => execFileSync("getfacl", ["-p", "-c", file], { encoding: "utf8" });
const hostMountsUnder = (dir: string): string[] =>
  readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((mp) => mp.startsWith(dir));
const statusOf = (pid: number, key: string): string =>
  new RegExp(`^${key}:\\s+(.*)$`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? "";

/** A jailed VM booted, paused, saved to <dir>/saved/{state,memory} (outside its jail), then stopped. */
async function savedJailedVm() {
  const d = jailVmDir();
  const fc = d.bin();
  d.jailerBin();
  const driver = new FirecrackerDriver({ firecrackerBin: fc, jail: { uidRange: RANGE } });
  const { handle } = await driver.boot(d.spec);
  const uid = d.jails()[0]?.uid as number;
  const snaps = driver.snapshots as NonNullable<typeof driver.snapshots>;
  await snaps.pause(handle);
  const saved = {
    stateFile: path.join(d.dir, "saved", "state"),
    memoryFile: path.join(d.dir, "saved", "memory"),
  };
  const { bytes } = await snaps.saveState(handle, d.spec, saved);
  await driver.stop(handle);
  return { d, uid, saved, bytes };
}

describe("Firecracker through its jailer (fake jailer + fake firecracker)", {
  skip: !isRoot && "needs root",
}, () => {
  test("jailer argv, bind mounts seen only inside the jail, in-jail paths in the API, jail uid, teardown", async () => {
    const d = jailVmDir();
    const fc = d.bin();
    d.jailerBin();
    const work = d.spec.drives[1]?.path as string;
    writeFileSync(work, "user data that must survive");
    const driver = new FirecrackerDriver({ firecrackerBin: fc, jail: { uidRange: RANGE } });
    const { handle } = await driver.boot(d.spec);

    const [jail] = d.jails();
    assert.ok(jail, "the fake jailer ran");
    const uid = jail.uid;
    assert.ok(uid >= RANGE.first && uid <= RANGE.last, `uid ${uid} in the configured range`);
    const chrootBase = path.join(d.spec.vmDir, "jail");
    const cgroupVersion = String(cgroupVersionFromMounts(readFileSync("/proc/mounts", "utf8")));
    assert.deepEqual(jail.argv, [
      ...["--id", d.spec.id, "--exec-file", fc, "--uid", String(uid), "--gid", String(uid)],
      ...["--cgroup-version", cgroupVersion, "--chroot-base-dir", chrootBase, "--new-pid-ns"],
      ...["--", "--api-sock", "/run/fc.sock"],
    ]);
    assert.equal(jail.chrootDir, path.join(chrootBase, "firecracker", d.spec.id, "root"));
    assert.deepEqual(Object.keys(jail.mounts).sort(), [
      "/boot/vmlinux",
      "/drives/rootfs",
      "/drives/work",
      "/logs/firecracker.log",
      "/logs/metrics.json",
      "/snapshot/memory",
      "/snapshot/state",
    ]);
    assert.equal(
      jail.mounts["/drives/work"],
      "user data that must survive".length,
      "the user's file, not a copy",
    );
    assert.deepEqual(hostMountsUnder(d.dir), [], "no mount in the host's namespace");
    assert.equal(
      statSync(path.join(jail.chrootDir, "drives/work")).size,
      0,
      "on the host: an empty mount point",
    );

    const body = (p: string) => d.requests().find((r) => `${r.method} ${r.path}` === p)?.body;
    for (const r of d.requests())
      assert.ok(r.status < 300, `${r.method} ${r.path} -> ${r.status} ${r.fault}`);
    assert.deepEqual(body("PUT /logger"), {
      log_path: "/logs/firecracker.log",
      level: "Info",
      show_level: true,
      show_log_origin: false,
    });
    assert.deepEqual(body("PUT /metrics"), { metrics_path: "/logs/metrics.json" });
    assert.equal(
      (body("PUT /boot-source") as { kernel_image_path: string }).kernel_image_path,
      "/boot/vmlinux",
    );
    assert.deepEqual(body("PUT /drives/work"), {
      drive_id: "work",
      is_root_device: false,
      is_read_only: false,
      path_on_host: "/drives/work",
      cache_type: "Writeback",
    });
    assert.deepEqual(body("PUT /vsock"), { guest_cid: 3, uds_path: "/run/vsock.sock" });

    assert.equal(handle.controlSocket, path.join(jail.chrootDir, "run/fc.sock"));
    assert.equal(handle.agentSocket, path.join(jail.chrootDir, "run/vsock.sock"));
    assert.equal(driver.isAlive(handle), true);
    assert.equal(
      statusOf(handle.pid, "Uid").split(/\s+/)[0],
      String(uid),
      "firecracker runs as the jail uid",
    );
    assert.equal(statusOf(handle.pid, "Gid").split(/\s+/)[0], String(uid));
    assert.match(aclOf(work), new RegExp(`^user:${uid}:rw-$`, "m"), "access through an ACL entry");
    assert.equal(statSync(work).uid, 0, "the user's file keeps its owner");

    await driver.stop(handle);
    assert.equal(driver.isAlive(handle), false);
    assert.equal(existsSync(chrootBase), false, "the jail is removed");
    assert.doesNotMatch(aclOf(work), new RegExp(`user:${uid}:`), "the ACL entry is taken back");
    assert.doesNotMatch(aclOf(work), /^mask::/m, "and the file has its plain mode again (no leftover mask)");
    assert.equal(readFileSync(work, "utf8"), "user data that must survive");
    assert.deepEqual(d.alive(), []);
  });

  test("booting a VM whose jailed VMM still answers is refused, and the live jail is left alone", async () => {
    const d = jailVmDir();
    const fc = d.bin();
    d.jailerBin();
    const driver = new FirecrackerDriver({ firecrackerBin: fc, jail: { uidRange: RANGE } });
    const { handle } = await driver.boot(d.spec);
    await assert.rejects(driver.boot(d.spec), (e: Error & { code?: string }) => {
      assert.equal(e.code, "CONFLICT");
      assert.match(e.message, /a VMM already answers on .*\/root\/run\/fc\.sock/);
      return true;
    });
    assert.equal(driver.isAlive(handle), true, "the running VM was not touched");
    assert.ok(existsSync(handle.controlSocket));
    await driver.stop(handle);
    assert.equal(existsSync(path.join(d.spec.vmDir, "jail")), false);
  });

  test("a daemon that is not root runs Firecracker directly (as its user) even with a jailer beside it", async () => {
    const d = jailVmDir();
    const fc = d.bin();
    d.jailerBin();
    const driver = new FirecrackerDriver({
      firecrackerBin: fc,
      getuid: () => 1000,
      jail: { uidRange: RANGE },
    });
    const { handle } = await driver.boot(d.spec);
    try {
      assert.equal(driver.isAlive(handle), true);
      assert.deepEqual(d.jails(), [], "the jailer never ran");
      assert.equal(existsSync(path.join(d.spec.vmDir, "jail")), false);
      for (const drive of d.spec.drives) assert.doesNotMatch(aclOf(drive.path), /^user:\d+:/m);
    } finally {
      await driver.stop(handle);
    }
  });

  test("an explicitly configured jailer under a daemon that is not root: a clear error in step spawn, nothing left", async () => {
    const d = jailVmDir();
    const fc = d.bin();
    const jailer = d.jailerBin();
    const driver = new FirecrackerDriver({
      firecrackerBin: fc,
      getuid: () => 1000,
      jail: { uidRange: RANGE, jailerBin: jailer },
    });
    await assert.rejects(driver.boot(d.spec), (e: Error & { code?: string; hint?: string }) => {
      assert.equal(e.code, "PREFLIGHT_FAILED");
      assert.match(e.message, /running Firecracker through it needs root/);
      return true;
    });
    assert.deepEqual(d.jails(), [], "the jailer never ran");
    assert.equal(existsSync(path.join(d.spec.vmDir, "jail")), false);
  });

  test("snapshots: saved inside the jail and copied out; the jail uid's ACL is taken back", async () => {
    const { d, uid, saved, bytes } = await savedJailedVm();
    const create = d.requests().find((r) => r.path === "/snapshot/create");
    assert.deepEqual(create?.body, {
      snapshot_type: "Full",
      snapshot_path: "/snapshot/state",
      mem_file_path: "/snapshot/memory",
    });
    assert.equal(statSync(saved.memoryFile).size, 256 * 1024 * 1024);
    assert.equal(bytes, statSync(saved.stateFile).size + statSync(saved.memoryFile).size);
    assert.equal(statSync(saved.stateFile).mode & 0o777, 0o600);
    assert.deepEqual(readFileSync(saved.stateFile), readFileSync(savedStateFileOf(d.spec.vmDir)), "a copy");
    assert.equal(statSync(d.spec.memoryFile).size, 256 * 1024 * 1024, "written through the bind mount");
    assert.doesNotMatch(aclOf(d.spec.memoryFile), new RegExp(`user:${uid}:`), "ACL taken back");
  });

  test("snapshots: a clone restores them read-only in its own jail, with its TAP and vsock", async () => {
    const { saved } = await savedJailedVm();
    const c = jailVmDir();
    const spec = {
      ...c.spec,
      id: "fedcba9876543210",
      net: { tap: "tap-bg9", mac: "06:00:ac:1e:00:09" },
      restore: saved,
    };
    const cloneFc = c.bin();
    c.jailerBin();
    const clone = new FirecrackerDriver({ firecrackerBin: cloneFc, jail: { uidRange: RANGE } });
    const { handle: h } = await clone.boot(spec);
    const [jail] = c.jails();
    assert.deepEqual(Object.keys(jail?.mounts ?? {}).sort(), [
      ...["/drives/rootfs", "/drives/work", "/logs/firecracker.log", "/logs/metrics.json"],
      ...["/restore/memory", "/restore/state", "/snapshot/memory", "/snapshot/state"],
    ]);
    const load = c.requests().find((r) => r.path === "/snapshot/load");
    assert.equal(load?.status, 204, load?.fault);
    assert.deepEqual(load?.body, {
      snapshot_path: "/restore/state",
      mem_backend: { backend_type: "File", backend_path: "/restore/memory" },
      resume_vm: true,
      network_overrides: [{ iface_id: "eth0", host_dev_name: "tap-bg9" }],
      vsock_override: { uds_path: "/run/vsock.sock" },
    });
    const ro = new RegExp(`^user:${jail?.uid}:r--$`, "m");
    assert.match(aclOf(saved.memoryFile), ro, "read-only for the clone");
    assert.match(
      readFileSync(spec.consoleLog, "utf8"),
      /restored \(fake-guest-memory 0123456789abcdef\), running/,
    );
    assert.ok(existsSync(h.agentSocket));
    const snaps = clone.snapshots as NonNullable<typeof clone.snapshots>;
    await snaps.pause(h);
    await assert.rejects(snaps.saveState(h, spec, saved), {
      code: "CONFLICT",
      message: /the VM was restored from that file and runs on it/,
    });
    const own = { stateFile: savedStateFileOf(spec.vmDir), memoryFile: spec.memoryFile };
    await snaps.saveState(h, spec, own); // its own bound files: nothing to copy
    const head = Buffer.alloc(40);
    const fd = openSync(spec.memoryFile, "r");
    readSync(fd, head, 0, head.length, 0);
    closeSync(fd);
    assert.match(head.toString("utf8"), /^fake-guest-memory fedcba9876543210\n/, "the clone's memory, saved");
    await clone.stop(h);
    assert.doesNotMatch(aclOf(saved.memoryFile), /^user:\d+:/m);
    assert.deepEqual(c.alive(), []);
  });

  test("a failed boot of a jailed VM undoes the jail", async () => {
    const d = jailVmDir();
    const fc = d.bin({ FAKE_FC_FAIL_ON: "PUT /vsock" });
    d.jailerBin();
    const driver = new FirecrackerDriver({ firecrackerBin: fc, jail: { uidRange: RANGE } });
    await assert.rejects(driver.boot(d.spec), /step "vsock" failed/);
    assert.deepEqual(d.alive(), [], "the jailed firecracker was killed");
    assert.equal(existsSync(path.join(d.spec.vmDir, "jail")), false);
    assert.equal(existsSync(path.join(d.spec.vmDir, "jail.json")), false);
    for (const drive of d.spec.drives) assert.doesNotMatch(aclOf(drive.path), /^user:\d+:/m);
  });
});
