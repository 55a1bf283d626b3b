import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import type { BootSpec } from "../driver.js";
import {
  aclArgv,
  aclBinds,
  cgroupVersionFromMounts,
  getfaclArgv,
  jailedPaths,
  jailedSpec,
  jailerBeside,
  jailPlan,
  launchArgv,
  onlyBaseAcl,
  pickJailUid,
} from "./jail.js";
import { planProblems } from "./jailLaunch.js";

const spec: BootSpec = {
  id: "0123456789abcdef",
  name: "t",
  vcpu: 1,
  memoryMib: 128,
  kernelPath: "/img/vmlinux",
  initrdPath: "/img/initrd",
  kernelArgs: "",
  drives: [
    { id: "rootfs", path: "/img/root.ext4", readOnly: true, isRoot: true },
    { id: "work", path: "/vms/x/work.ext4", readOnly: false, isRoot: false },
  ],
  net: null,
  cid: 3,
  vmDir: "/vms/x",
  consoleLog: "/vms/x/console.log",
  vmmLog: "/vms/x/firecracker.log",
  memoryFile: "/vms/x/memory.raw",
};
const input = {
  jailerBin: "/opt/fc/jailer",
  firecrackerBin: "/opt/fc/firecracker",
  uid: 900123,
  cgroupVersion: 1 as const,
  chrootBase: "/vms/x/jail",
  metricsPath: "/vms/x/metrics.json",
};

describe("jail plan", () => {
  it("jailer argv: per-VM uid/gid, cgroup version, chroot base, new pid ns, API socket in the chroot, no --no-seccomp", () => {
    const plan = jailPlan(spec, input);
    assert.deepEqual(plan.jailerArgv, [
      ...["/opt/fc/jailer", "--id", spec.id, "--exec-file", "/opt/fc/firecracker"],
      ...["--uid", "900123", "--gid", "900123", "--cgroup-version", "1", "--chroot-base-dir", "/vms/x/jail"],
      ...["--new-pid-ns", "--", "--api-sock", "/run/fc.sock"],
    ]);
    assert.equal(plan.jailerArgv.includes("--no-seccomp"), false);
    assert.equal(plan.chrootDir, `/vms/x/jail/firecracker/${spec.id}/root`);
    assert.equal(plan.pidFile, `${plan.chrootDir}/firecracker.pid`);
    assert.equal(plan.apiSock, `${plan.chrootDir}/run/fc.sock`);
    assert.deepEqual(jailedPaths(spec, input.firecrackerBin, input.metricsPath).host.apiSock, plan.apiSock);
  });

  it("binds every file Firecracker opens; read-only ones stay read-only", () => {
    assert.deepEqual(jailPlan(spec, input).binds, [
      { source: "/img/vmlinux", target: "/boot/vmlinux", readOnly: true },
      { source: "/img/initrd", target: "/boot/initrd", readOnly: true },
      { source: "/img/root.ext4", target: "/drives/rootfs", readOnly: true },
      { source: "/vms/x/work.ext4", target: "/drives/work", readOnly: false },
      { source: "/vms/x/firecracker.log", target: "/logs/firecracker.log", readOnly: false },
      { source: "/vms/x/metrics.json", target: "/logs/metrics.json", readOnly: false },
      { source: "/vms/x/fc-state.snap", target: "/snapshot/state", readOnly: false },
      { source: "/vms/x/memory.raw", target: "/snapshot/memory", readOnly: false },
    ]);
    const j = jailedSpec(spec);
    assert.deepEqual(
      [j.kernelPath, j.initrdPath, j.vmmLog, j.memoryFile, ...j.drives.map((d) => d.path)],
      [
        ...["/boot/vmlinux", "/boot/initrd", "/logs/firecracker.log", "/snapshot/memory"],
        ...["/drives/rootfs", "/drives/work"],
      ],
    );
    assert.equal(j.restore, undefined);
  });

  it("a restore binds the saved files read-only at /restore, and no kernel or initrd", () => {
    const restore = { stateFile: "/snaps/a/state", memoryFile: "/snaps/a/memory" };
    const binds = jailPlan({ ...spec, restore }, input).binds;
    assert.deepEqual(
      binds.map((b) => b.target),
      [
        ...["/drives/rootfs", "/drives/work", "/logs/firecracker.log", "/logs/metrics.json"],
        ...["/snapshot/state", "/snapshot/memory", "/restore/state", "/restore/memory"],
      ],
    );
    assert.deepEqual(binds.slice(-2), [
      { source: "/snaps/a/state", target: "/restore/state", readOnly: true },
      { source: "/snaps/a/memory", target: "/restore/memory", readOnly: true },
    ]);
    assert.deepEqual(jailedSpec({ ...spec, restore }).restore, {
      stateFile: "/restore/state",
      memoryFile: "/restore/memory",
    });
  });

  it("ACL entries: one per host file, the widest access any of its binds needs", () => {
    const own = { stateFile: "/snaps/a/state", memoryFile: spec.memoryFile }; // restored from its own memory
    const acl = aclBinds(jailPlan({ ...spec, restore: own }, input).binds);
    const mem = acl.filter((b) => b.source === spec.memoryFile);
    assert.deepEqual(mem, [{ source: spec.memoryFile, target: "/snapshot/memory", readOnly: false }]);
    assert.equal(acl.length, 7, "eight binds (no kernel or initrd on a restore), seven files");
    assert.deepEqual(aclBinds([{ source: "/a", target: "/restore/state", readOnly: true }]), [
      { source: "/a", target: "/restore/state", readOnly: true },
    ]);
  });

  it("uids: stable per VM, inside the range, never one in use", () => {
    const range = { first: 900000, last: 900009 };
    const a = pickJailUid("vm-a", range, new Set());
    assert.equal(pickJailUid("vm-a", range, new Set()), a);
    assert.ok(a >= 900000 && a <= 900009);
    const b = pickJailUid("vm-a", range, new Set([a]));
    assert.notEqual(b, a);
    const all = new Set(Array.from({ length: 10 }, (_, i) => 900000 + i));
    assert.throws(
      () => pickJailUid("vm-a", range, all),
      /every uid of the jailer range 900000-900009 is in use/,
    );
  });

  it("cgroup version from /proc/mounts", () => {
    const v1 = "cgroup /sys/fs/cgroup/memory cgroup rw 0 0\ncgroup /sys/fs/cgroup/pids cgroup rw 0 0\n";
    const v2 = "cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n";
    const hybrid = `${v1}cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n`;
    assert.equal(cgroupVersionFromMounts(v1), 1);
    assert.equal(cgroupVersionFromMounts(v2), 2);
    assert.equal(cgroupVersionFromMounts(hybrid), 1);
    assert.equal(cgroupVersionFromMounts("proc /proc proc rw 0 0\n"), 1);
  });

  it("the jailer is used only when it sits beside an absolutely named firecracker", () => {
    const has = (p: string) => p === "/opt/fc/jailer";
    assert.equal(jailerBeside("/opt/fc/firecracker", has), "/opt/fc/jailer");
    assert.equal(jailerBeside("/usr/bin/firecracker", has), null);
    assert.equal(jailerBeside("firecracker", has), null);
  });

  it("a mask with no named entry left is banger's leftover; anyone else's entry is kept", () => {
    assert.equal(onlyBaseAcl("user::rw-\ngroup::r--\nmask::r--\nother::r--\n"), true);
    assert.equal(onlyBaseAcl("# file: x\nuser::rw-\ngroup::r--\nother::r--\n"), true);
    assert.equal(onlyBaseAcl("user::rw-\nuser:1001:r--\ngroup::r--\nmask::r--\nother::r--\n"), false);
    assert.equal(onlyBaseAcl("user::rw-\ngroup::r--\ngroup:staff:rw-\nmask::rw-\nother::---\n"), false);
    assert.deepEqual(getfaclArgv("/d/w"), ["getfacl", "-c", "-p", "--", "/d/w"]);
  });

  it("launch and ACL argv", () => {
    assert.deepEqual(launchArgv("/usr/bin/node", "/b/jailLaunch.js", "/vms/x/jail.json"), [
      ...["unshare", "--mount", "--propagation", "private", "--"],
      ...["/usr/bin/node", "/b/jailLaunch.js", "/vms/x/jail.json"],
    ]);
    const [, , , work] = jailPlan(spec, input).binds;
    assert.deepEqual(aclArgv(work as never, 900123), ["setfacl", "-m", "u:900123:rw", "/vms/x/work.ext4"]);
    assert.deepEqual(aclArgv(work as never, 900123, true), ["setfacl", "-x", "u:900123", "/vms/x/work.ext4"]);
  });
});

describe("the launcher refuses a bad plan before acting as root", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bjl-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "disk");
  writeFileSync(file, "");
  writeFileSync(path.join(dir, "fc-state.snap"), "");
  const good = () =>
    jailPlan(
      { ...spec, kernelPath: file, initrdPath: null, drives: [], vmmLog: file, vmDir: dir, memoryFile: file },
      { ...input, metricsPath: file },
    );

  it("a good plan passes", () => {
    assert.deepEqual(planProblems(good()), []);
  });

  it("escaping targets, missing or odd sources, a foreign chroot, --no-seccomp", () => {
    const p = good();
    p.binds.push({ source: file, target: "/boot/../etc/shadow", readOnly: false });
    p.binds.push({ source: "/nope", target: "/drives/x", readOnly: false });
    p.binds.push({ source: dir, target: "/drives/y", readOnly: false });
    p.binds.push({ source: file, target: "/etc/passwd", readOnly: false });
    p.chrootDir = "/";
    p.jailerArgv.push("--no-seccomp");
    assert.deepEqual(planProblems(p), [
      `chrootDir / is not <chrootBase>/firecracker/<id>/root`,
      "bind target /boot/../etc/shadow must be a plain path under /boot/, /drives/, /logs/, /snapshot/, /restore/",
      "bind source /nope does not exist",
      `bind source ${dir} is not a regular file`,
      "bind target /etc/passwd must be a plain path under /boot/, /drives/, /logs/, /snapshot/, /restore/",
      "jailerArgv must start with jailerBin and never pass --no-seccomp",
    ]);
  });
});
