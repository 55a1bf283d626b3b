/**
 * QemuDriver without QEMU: the runner is a fake that starts a sleeping child
 * process (whose command line carries the QMP marker, like QEMU's would),
 * writes the pid file and serves a fake QMP socket.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { isBangerError } from "../../errors/index.js";
import { FakeCommandRunner } from "../../host/fake/FakeCommandRunner.js";
import type { BootSpec } from "../driver.js";
import { qemuPaths } from "./argv.js";
import { isPidAlive } from "./proc.js";
import { QemuDriver } from "./QemuDriver.js";

type QmpBehaviour = (cmd: string, child: ChildProcess) => unknown;

interface FakeVm {
  child?: ChildProcess;
  server?: net.Server;
  commands: string[];
}

/** Serve QMP on `socketPath`: greeting, capabilities, then `behaviour` answers each command. */
function serveQmp(socketPath: string, vm: FakeVm, behaviour: QmpBehaviour): Promise<net.Server> {
  const server = net.createServer((sock) => {
    sock.on("error", () => undefined);
    const send = (m: unknown) => sock.write(`${JSON.stringify(m)}\r\n`);
    send({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 } }, capabilities: [] } });
    let buf = "";
    sock.on("data", (d) => {
      buf += d.toString();
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const cmd = JSON.parse(buf.slice(0, nl)) as { execute: string; id: unknown };
        buf = buf.slice(nl + 1);
        vm.commands.push(cmd.execute);
        const ret = cmd.execute === "qmp_capabilities" ? {} : behaviour(cmd.execute, vm.child!);
        if (ret !== undefined) send({ return: ret, id: cmd.id });
      }
    });
  });
  return new Promise((r) => server.listen(socketPath, () => r(server)));
}

/** A runner whose `qemu` starts a fake VMM; `script` is the child's JS (it may ignore SIGTERM). */
function fakeQemuRunner(vm: FakeVm, behaviour: QmpBehaviour | null, script = "setInterval(() => {}, 1000)") {
  return new FakeCommandRunner().on(["/fake/qemu"], (argv) => {
    const qmpArg = argv[argv.indexOf("-qmp") + 1]!;
    const vmDir = path.dirname(qmpArg.slice("unix:".length).split(",")[0]!);
    const child = spawn(process.execPath, ["-e", script, "--", "-qmp", qmpArg], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    vm.child = child;
    // What the real QEMU has done by the time -daemonize returns: pid file written, QMP listening.
    const paths = qemuPaths(vmDir);
    pendingSetup = (async () => {
      await writeFile(paths.pidFile, `${child.pid}\n`);
      if (behaviour) vm.server = await serveQmp(paths.qmpSocket, vm, behaviour);
    })();
    return { code: 0 };
  });
}

let pendingSetup: Promise<void> = Promise.resolve();

/** Wrap the fake runner so `run` resolves only after the fake VMM is set up. */
function settled(runner: FakeCommandRunner): FakeCommandRunner {
  const run = runner.run.bind(runner);
  runner.run = async (argv, opts) => {
    const r = await run(argv, opts);
    await pendingSetup;
    return r;
  };
  return runner;
}

describe("QemuDriver (fake QEMU)", () => {
  let dir: string;
  let spec: BootSpec;
  let vm: FakeVm;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "banger-qemudrv-"));
    const vmDir = path.join(dir, "vm");
    await mkdir(vmDir);
    for (const f of ["vmlinux", "initrd.img", "root.img", "work.img"]) await writeFile(path.join(dir, f), "");
    spec = {
      id: "00ff",
      name: "t",
      vcpu: 1,
      memoryMib: 256,
      kernelPath: path.join(dir, "vmlinux"),
      initrdPath: path.join(dir, "initrd.img"),
      kernelArgs: "banger.root=/dev/vda",
      drives: [
        { id: "rootfs", path: path.join(dir, "root.img"), readOnly: true, isRoot: true },
        { id: "work", path: path.join(dir, "work.img"), readOnly: false, isRoot: false },
      ],
      net: null,
      cid: 3,
      vmDir,
      consoleLog: path.join(vmDir, "console.log"),
      vmmLog: path.join(vmDir, "vmm.log"),
    };
    vm = { commands: [] };
  });

  afterEach(async () => {
    vm.child?.kill("SIGKILL");
    await new Promise<void>((r) => (vm.server ? vm.server.close(() => r()) : r()));
    await rm(dir, { recursive: true, force: true });
  });

  const driver = (runner: FakeCommandRunner) =>
    new QemuDriver({
      qemuBin: "/fake/qemu",
      runner: settled(runner),
      accelDetect: () => "tcg",
      which: async (b) => b,
      quitGraceMs: 500,
    });

  it("boots: runs the argv, reads the pid, checks query-status, returns the handle", async () => {
    const runner = fakeQemuRunner(vm, (cmd, child) => {
      if (cmd === "query-status") return { status: "running", running: true, singlestep: false };
      if (cmd === "system_powerdown") setTimeout(() => child.kill("SIGTERM"), 20);
      return {};
    });
    const d = driver(runner);
    const steps: string[] = [];
    const { handle, timings } = await d.boot(spec, { onStepStart: (s) => steps.push(s) });
    assert.deepEqual(steps, ["preflight", "spawn", "qmp-connect"]);
    assert.deepEqual(
      timings.map((t) => t.name),
      steps,
    );
    assert.deepEqual(handle, {
      driver: "qemu",
      pid: vm.child!.pid,
      controlSocket: path.join(spec.vmDir, "qmp.sock"),
      agentSocket: path.join(spec.vmDir, "agent.sock"),
      acceleration: "tcg",
    });
    assert.deepEqual(runner.calls, [d.argvFor(spec)]);
    assert.ok(d.isAlive(handle));
    assert.ok(!d.isAlive({ ...handle, controlSocket: "/other/qmp.sock" }), "marker must match");
    assert.deepEqual(vm.commands, ["qmp_capabilities", "query-status"]);

    await d.stop(handle, { timeoutMs: 5000 });
    assert.ok(!d.isAlive(handle));
    assert.ok(vm.commands.includes("send-key"), "Ctrl-Alt-Del first: the guest syncs its disks");
    assert.ok(vm.commands.includes("system_powerdown"));
    assert.ok(!vm.commands.includes("quit"), "a guest that powers down needs no quit");
    assert.ok(!existsSync(handle.controlSocket) && !existsSync(path.join(spec.vmDir, "qemu.pid")));
    await d.stop(handle); // idempotent
  });

  it("stop falls through to QMP quit when the guest ignores Ctrl-Alt-Del and the power button", async () => {
    const runner = fakeQemuRunner(vm, (cmd, child) => {
      if (cmd === "query-status") return { status: "running", running: true };
      if (cmd === "quit") setTimeout(() => child.kill("SIGTERM"), 10);
      return {};
    });
    const d = driver(runner);
    const { handle } = await d.boot(spec);
    const t0 = Date.now();
    await d.stop(handle, { timeoutMs: 300 });
    assert.ok(Date.now() - t0 >= 300);
    assert.ok(!d.isAlive(handle));
    assert.deepEqual(vm.commands.slice(-5), [
      "qmp_capabilities",
      "send-key",
      "system_powerdown",
      "qmp_capabilities",
      "quit",
    ]);
  });

  it("stop kills a VMM whose QMP is unreachable and that ignores SIGTERM", async () => {
    const script =
      "process.on('SIGTERM', () => {}); process.stdout.write('ready'); setInterval(() => {}, 1000)";
    const runner = fakeQemuRunner(vm, null, script);
    const d = driver(runner);
    await runner.run(d.argvFor(spec));
    await pendingSetup;
    const pid = vm.child!.pid!;
    const p = qemuPaths(spec.vmDir);
    const handle = {
      driver: "qemu" as const,
      pid,
      controlSocket: p.qmpSocket,
      agentSocket: p.agentSocket,
      acceleration: "tcg" as const,
    };
    await once(vm.child!.stdout!, "data"); // the child has installed its SIGTERM handler
    assert.ok(d.isAlive(handle));
    const t0 = Date.now();
    await d.stop(handle, { timeoutMs: 200 });
    assert.ok(!d.isAlive(handle));
    assert.ok(Date.now() - t0 < 2000, "an unreachable QMP socket is not retried");
    const child = vm.child!;
    if (child.exitCode === null && child.signalCode === null) await once(child, "exit");
    assert.equal(child.signalCode, "SIGKILL", "SIGTERM was ignored, so SIGKILL ended it");
  });

  it("qmp-connect failure names the step and kills the spawned VMM", async () => {
    const runner = fakeQemuRunner(vm, (cmd) =>
      cmd === "query-status" ? { status: "paused", running: false } : {},
    );
    const d = driver(runner);
    await assert.rejects(d.boot(spec), (e: unknown) => {
      assert.ok(isBangerError(e));
      assert.match(e.message, /^step "qmp-connect" failed: .*"paused"/);
      assert.match(e.hint ?? "", /console log: .*console\.log; vmm log: .*vmm\.log/);
      return true;
    });
    const pid = vm.child!.pid!;
    assert.equal(isPidAlive(pid, "qmp.sock"), false, "the cleanup killed the spawned VMM");
    assert.ok(!existsSync(path.join(spec.vmDir, "qemu.pid")));
  });

  it("spawn failure: the vmm log gets QEMU's stderr and the error shows its last lines", async () => {
    const stderr =
      "qemu-system-x86_64: -drive file=/x,if=none,id=rootfs: Could not open '/x': No such file or directory\n";
    const runner = new FakeCommandRunner().on(["/fake/qemu"], { code: 1, stderr });
    await writeFile(path.join(spec.vmDir, "qmp.sock"), "stale");
    await assert.rejects(driver(runner).boot(spec), (e: unknown) => {
      assert.ok(isBangerError(e));
      assert.equal(e.code, "VMM");
      assert.match(e.message, /^step "spawn" failed: QEMU failed to start \(exit code 1\)/);
      assert.match(e.message, /Could not open '\/x'/);
      assert.match(e.hint ?? "", /vmm log: /);
      return true;
    });
    assert.equal(await readFile(spec.vmmLog, "utf8"), stderr);
    assert.ok(!existsSync(path.join(spec.vmDir, "qmp.sock")), "the stale socket is gone");
  });

  it("preflight: a missing QEMU binary says how to install it, and nothing runs", async () => {
    const runner = new FakeCommandRunner();
    const d = new QemuDriver({ runner, accelDetect: () => "tcg", which: async () => null });
    await assert.rejects(d.boot(spec), (e: unknown) => {
      assert.ok(isBangerError(e));
      assert.equal(e.code, "PREFLIGHT_FAILED");
      assert.match(e.message, /^step "preflight" failed: .*"qemu-system-x86_64" was not found/);
      assert.match(e.hint ?? "", /apt-get install qemu-system-x86/);
      return true;
    });
    assert.deepEqual(runner.calls, []);
  });

  it("preflight: a missing kernel or drive is named", async () => {
    const d = driver(new FakeCommandRunner());
    await assert.rejects(
      d.boot({ ...spec, kernelPath: path.join(dir, "nope") }),
      /kernel .*nope does not exist/,
    );
    const drives = [{ id: "work", path: path.join(dir, "missing.img"), readOnly: false, isRoot: false }];
    await assert.rejects(d.boot({ ...spec, drives }), /drive work: .*missing\.img/);
    await assert.rejects(
      d.boot({ ...spec, vmDir: `/tmp/${"x".repeat(100)}` }),
      /qmp\.sock is longer than 107 bytes/,
    );
  });

  it("microvm without a host MHz fails in preflight", async () => {
    const d = new QemuDriver({
      runner: new FakeCommandRunner(),
      machine: "microvm",
      accelDetect: () => "kvm",
      hostMhz: () => null,
      which: async (b) => b,
    });
    await assert.rejects(d.boot(spec), /step "preflight" failed: .*MHz/);
    const ok = new QemuDriver({ machine: "microvm", accelDetect: () => "kvm", hostMhz: 3000 });
    assert.match(ok.argvFor(spec).join(" "), /tsc_early_khz=3000000 tsc=reliable/);
    assert.equal(ok.acceleration, "kvm");
    assert.deepEqual(ok.features, { snapshots: false, agentChannel: "virtio-serial" });
  });
});
