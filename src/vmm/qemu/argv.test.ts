import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isBangerError } from "../../errors/index.js";
import type { BootSpec } from "../driver.js";
import {
  buildQemuArgv,
  buildQemuLaunch,
  kernelCmdline,
  optValue,
  type QemuArgvOptions,
  qemuPaths,
  qmpMarkers,
  SANDBOX_OPTS,
  vmmOverheadMib,
  vmmUuid,
} from "./argv.js";

function spec(over: Partial<BootSpec> = {}): BootSpec {
  return {
    id: "0a1b2c",
    name: "dev",
    vcpu: 2,
    memoryMib: 1024,
    kernelPath: "/k/vmlinux",
    initrdPath: "/k/initrd.img",
    kernelArgs: "banger.root=/dev/vda ip=172.30.0.2::172.30.0.1:255.255.255.0:dev:eth0:off",
    drives: [
      { id: "rootfs", path: "/vm/root.img", readOnly: true, isRoot: true },
      { id: "work", path: "/vm/work.img", readOnly: false, isRoot: false },
    ],
    net: { tap: "tap0", mac: "06:00:ac:1e:00:02" },
    cid: 3,
    vmDir: "/vm",
    consoleLog: "/vm/console.log",
    vmmLog: "/vm/vmm.log",
    memoryFile: "/vm/memory.raw",
    ...over,
  };
}

const pcTcg: QemuArgvOptions = { qemuBin: "qemu-system-x86_64", machine: "pc", acceleration: "tcg" };

/** Assert `frag` appears in `argv` as consecutive elements. */
function hasFragment(argv: string[], frag: string[]): void {
  for (let i = 0; i + frag.length <= argv.length; i++) {
    if (frag.every((f, j) => argv[i + j] === f)) return;
  }
  assert.fail(`argv lacks ${JSON.stringify(frag)}:\n${JSON.stringify(argv)}`);
}

describe("buildQemuArgv", () => {
  it("pc + tcg: the whole command line, confined, every file by fd", () => {
    const { argv, fds } = buildQemuLaunch(spec(), pcTcg);
    assert.deepEqual(argv, [
      "qemu-system-x86_64",
      "-name",
      "banger-dev",
      "-uuid",
      vmmUuid("/vm/qmp.sock"),
      "-machine",
      "pc,memory-backend=mem0",
      "-accel",
      "tcg,tb-size=256",
      "-cpu",
      "max",
      "-smp",
      "2",
      "-m",
      "1024",
      "-nodefaults",
      "-no-user-config",
      "-display",
      "none",
      "-no-reboot",
      "-S",
      "-device",
      "vmgenid,guid=auto",
      "-sandbox",
      "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
      "-object",
      "memory-backend-file,id=mem0,size=1024M,mem-path=/proc/self/fd/5,share=on",
      "-kernel",
      "/proc/self/fd/6",
      "-initrd",
      "/proc/self/fd/7",
      "-append",
      "console=ttyS0 panic=-1 banger.root=/dev/vda ip=172.30.0.2::172.30.0.1:255.255.255.0:dev:eth0:off",
      "-add-fd",
      "fd=8,set=1",
      "-chardev",
      "file,id=con0,path=/dev/fdset/1,append=on",
      "-serial",
      "chardev:con0",
      "-add-fd",
      "fd=9,set=2",
      "-drive",
      "file=/dev/fdset/2,file.locking=off,if=none,id=rootfs,format=raw,readonly=on,cache=unsafe",
      "-device",
      "virtio-blk-pci,drive=rootfs",
      "-add-fd",
      "fd=10,set=3",
      "-add-fd",
      "fd=11,set=3",
      "-drive",
      "file=/dev/fdset/3,file.locking=off,if=none,id=work,format=raw,cache=writeback",
      "-device",
      "virtio-blk-pci,drive=work",
      "-netdev",
      "tap,id=n0,ifname=tap0,script=no,downscript=no",
      "-device",
      "virtio-net-pci,netdev=n0,mac=06:00:ac:1e:00:02",
      "-device",
      "virtio-serial-pci",
      "-chardev",
      "socket,id=agent0,fd=12,server=on,wait=off",
      "-device",
      "virtserialport,chardev=agent0,name=banger.agent",
      "-chardev",
      "socket,id=qmp0,fd=3,server=on,wait=off",
      "-mon",
      "chardev=qmp0,mode=control",
    ]);
    assert.deepEqual(fds, [
      { kind: "listen", path: "/vm/qmp.sock" },
      { kind: "dir", path: "/vm/vmm.d" },
      { kind: "file", path: "/vm/memory.raw", flags: "r+" },
      { kind: "file", path: "/k/vmlinux", flags: "r" },
      { kind: "file", path: "/k/initrd.img", flags: "r" },
      { kind: "console" },
      { kind: "file", path: "/vm/root.img", flags: "r" },
      { kind: "file", path: "/vm/work.img", flags: "r+" },
      { kind: "file", path: "/vm/work.img", flags: "r" },
      { kind: "listen", path: "/vm/agent.sock" },
    ]);
  });

  it("confinement: the sandbox is on; no -daemonize, -runas, -pidfile, -D or paths into the state dir", () => {
    for (const machine of ["pc", "microvm"] as const) {
      const argv = buildQemuArgv(spec(), { ...pcTcg, machine, hostMhz: 2000 });
      hasFragment(argv, ["-sandbox", SANDBOX_OPTS]);
      assert.match(SANDBOX_OPTS, /^on,.*elevateprivileges=deny.*spawn=deny/);
      for (const banned of ["-daemonize", "-runas", "-pidfile", "-D", "-qmp", "-chroot"]) {
        assert.ok(!argv.includes(banned), `${banned} in ${machine} argv`);
      }
      assert.ok(!argv.slice(1).some((a) => a.includes("/vm/") || a.includes("/k/")), "a path in argv");
      assert.ok(argv.includes("-S"), "QEMU must start paused");
    }
  });

  it("pc + kvm: accel=kvm and -cpu host", () => {
    const argv = buildQemuArgv(spec(), { ...pcTcg, acceleration: "kvm" });
    hasFragment(argv, ["-machine", "pc,memory-backend=mem0", "-accel", "kvm", "-cpu", "host"]);
  });

  it("microvm: mmio device variants and TSC settings from the host MHz", () => {
    const argv = buildQemuArgv(spec(), { ...pcTcg, machine: "microvm", hostMhz: 2600.004 });
    hasFragment(argv, [
      "-machine",
      "microvm,pit=on,pic=on,rtc=on,memory-backend=mem0",
      "-accel",
      "tcg,tb-size=256",
    ]);
    hasFragment(argv, ["-device", "virtio-blk-device,drive=rootfs"]);
    hasFragment(argv, ["-device", "virtio-blk-device,drive=work"]);
    hasFragment(argv, ["-device", "virtio-net-device,netdev=n0,mac=06:00:ac:1e:00:02"]);
    hasFragment(argv, ["-device", "virtio-serial-device", "-chardev"]);
    const append = argv[argv.indexOf("-append") + 1];
    assert.match(append ?? "", / tsc_early_khz=2600004 tsc=reliable$/);
    assert.ok(!argv.some((a) => a.includes("-pci")));
  });

  it("microvm without the host MHz is an INVALID_ARGUMENT error", () => {
    assert.throws(
      () => buildQemuArgv(spec(), { ...pcTcg, machine: "microvm" }),
      (e: unknown) => isBangerError(e) && e.code === "INVALID_ARGUMENT" && /MHz/.test(e.message),
    );
  });

  it("cache modes: unsafe only for read-only drives, writeback for writable ones", () => {
    const argv = buildQemuArgv(
      spec({
        drives: [
          { id: "rootfs", path: "/vm/root.img", readOnly: false, isRoot: true },
          { id: "seed", path: "/vm/seed.img", readOnly: true, isRoot: false },
        ],
      }),
      pcTcg,
    );
    hasFragment(argv, [
      "-drive",
      "file=/dev/fdset/2,file.locking=off,if=none,id=rootfs,format=raw,cache=writeback",
    ]);
    hasFragment(argv, [
      "-drive",
      "file=/dev/fdset/3,file.locking=off,if=none,id=seed,format=raw,readonly=on,cache=unsafe",
    ]);
    const drives = argv.filter((a) => a.startsWith("file=/dev/fdset/"));
    assert.equal(drives.filter((d) => d.includes("cache=unsafe")).length, 1);
    assert.ok(drives.every((d) => !d.includes("cache=unsafe") || d.includes("readonly=on")));
  });

  it("drives keep the spec's order (vda, vdb, vdc)", () => {
    const argv = buildQemuArgv(
      spec({
        drives: [
          { id: "rootfs", path: "/r", readOnly: true, isRoot: true },
          { id: "work", path: "/w", readOnly: false, isRoot: false },
          { id: "cow", path: "/c", readOnly: false, isRoot: false },
        ],
      }),
      pcTcg,
    );
    const ids = argv.filter((a) => a.startsWith("virtio-blk-pci,")).map((a) => a.split("=")[1]);
    assert.deepEqual(ids, ["rootfs", "work", "cow"]);
  });

  it("no net: no -netdev and no NIC", () => {
    const argv = buildQemuArgv(spec({ net: null }), pcTcg);
    assert.ok(!argv.includes("-netdev"));
    assert.ok(!argv.some((a) => a.startsWith("virtio-net")));
  });

  it("no initrd: no -initrd", () => {
    assert.ok(!buildQemuArgv(spec({ initrdPath: null }), pcTcg).includes("-initrd"));
  });

  it("commas in names are doubled inside option strings; paths travel as fds", () => {
    const { argv, fds } = buildQemuLaunch(
      spec({ name: "a,b", vmDir: "/v,m", kernelPath: "/v,m/k", drives: [] }),
      pcTcg,
    );
    hasFragment(argv, ["-name", "banger-a,,b"]);
    assert.ok(fds.some((f) => f.kind === "file" && f.path === "/v,m/k"));
    assert.equal(optValue("x,y,z"), "x,,y,,z");
  });

  it("the marker: a -uuid derived from the QMP socket (and the legacy socket-path marker)", () => {
    const u = vmmUuid("/v/qmp.sock");
    assert.match(u, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.notEqual(u, vmmUuid("/w/qmp.sock"));
    assert.deepEqual(qmpMarkers("/v,m/qmp.sock"), [
      `-uuid ${vmmUuid("/v,m/qmp.sock")}`,
      "unix:/v,,m/qmp.sock,",
    ]);
    const line = buildQemuArgv(spec({ vmDir: "/v" }), pcTcg).join(" ");
    assert.ok(line.includes(qmpMarkers("/v/qmp.sock")[0]!));
  });

  it("memory overhead: the bounded TCG buffer plus the measured rest; less under KVM", () => {
    assert.equal(vmmOverheadMib("tcg"), 256 + 160);
    assert.equal(vmmOverheadMib("kvm"), 160);
  });

  it("rejects a drive id QEMU cannot take", () => {
    assert.throws(
      () =>
        buildQemuArgv(spec({ drives: [{ id: "1-root", path: "/r", readOnly: true, isRoot: true }] }), pcTcg),
      (e: unknown) => isBangerError(e) && e.code === "INVALID_ARGUMENT",
    );
  });

  it("a custom QEMU binary comes first", () => {
    assert.equal(
      buildQemuArgv(spec(), { ...pcTcg, qemuBin: "/opt/qemu/bin/qemu-system-x86_64" })[0],
      "/opt/qemu/bin/qemu-system-x86_64",
    );
  });
});

describe("kernelCmdline", () => {
  it("adds console and panic settings and never root=", () => {
    const line = kernelCmdline(spec({ kernelArgs: "  banger.root=/dev/vda  " }), pcTcg);
    assert.equal(line, "console=ttyS0 panic=-1 banger.root=/dev/vda");
    assert.ok(!/(^| )root=/.test(line));
  });

  it("empty kernel args", () => {
    assert.equal(kernelCmdline(spec({ kernelArgs: "" }), pcTcg), "console=ttyS0 panic=-1");
  });
});

describe("saved state in the argv", () => {
  it("guest RAM is the spec's memory file, shared, by fd; a restore adds -incoming defer and the state's fd", () => {
    const cold = buildQemuLaunch(spec(), pcTcg);
    assert.equal(cold.incomingFd, null);
    assert.ok(!cold.argv.includes("-incoming"));
    const memFd = cold.fds.findIndex((f) => f.kind === "file" && f.path === "/vm/memory.raw") + 3;
    hasFragment(cold.argv, [
      "-object",
      `memory-backend-file,id=mem0,size=1024M,mem-path=/proc/self/fd/${memFd},share=on`,
    ]);
    assert.deepEqual(cold.fds[cold.vmmDirFd - 3], { kind: "dir", path: "/vm/vmm.d" });
    const warm = buildQemuLaunch(
      spec({ restore: { stateFile: "/vm/state.bin", memoryFile: "/vm/memory.raw" } }),
      pcTcg,
    );
    hasFragment(warm.argv, ["-incoming", "defer"]);
    assert.deepEqual(warm.fds[(warm.incomingFd ?? 0) - 3], {
      kind: "file",
      path: "/vm/state.bin",
      flags: "r",
    });
  });

  it("a restore from another VM's memory file is refused (QEMU maps only the VM's own)", () => {
    assert.throws(
      () => buildQemuLaunch(spec({ restore: { stateFile: "/t/s", memoryFile: "/t/m" } }), pcTcg),
      /own memory file/,
    );
  });
});

describe("qemuPaths", () => {
  it("puts sockets and the pid file in the VM directory", () => {
    assert.deepEqual(qemuPaths("/vm/x"), {
      qmpSocket: "/vm/x/qmp.sock",
      agentSocket: "/vm/x/agent.sock",
      pidFile: "/vm/x/qemu.pid",
      memoryFile: "/vm/x/memory.raw",
      vmmDir: "/vm/x/vmm.d",
    });
  });
});
