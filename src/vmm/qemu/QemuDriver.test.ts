/**
 * QemuDriver without QEMU: the QEMU binary is a small executable Node script
 * that the driver's real spawner starts with the real fds. It serves QMP on
 * the listening socket it inherits (the -chardev socket,fd=N of its argv),
 * starts "prelaunch" (like -S), and logs every QMP command to a file.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { isBangerError } from "../../errors/index.js";
import type { BootSpec } from "../driver.js";
import { isPidAlive } from "./proc.js";
import { QemuDriver } from "./QemuDriver.js";

/**
 * The fake QEMU's source. `answer(cmd)` (JS source of a function body with
 * `cmd` and `state`) returns the reply or undefined for the default one.
 */
function fakeQemu(dir: string, answer = "return undefined;", prelude = ""): string {
  return `#!${process.execPath}
const net = require("node:net");
const fs = require("node:fs");
${prelude}
const log = (c) => fs.appendFileSync(${JSON.stringify(path.join(dir, "commands.log"))}, c + "\\n");
const arg = process.argv.find((a) => a.startsWith("socket,id=qmp0,fd="));
const fd = Number(/fd=(\\d+)/.exec(arg)[1]);
const state = { status: "prelaunch" };
const answer = (cmd) => { ${answer} };
process.stderr.write("fake qemu: uid " + process.getuid() + "\\n");
net.createServer((sock) => {
  sock.on("error", () => {});
  const send = (m) => sock.write(JSON.stringify(m) + "\\r\\n");
  send({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 } }, capabilities: [] } });
  let buf = "";
  sock.on("data", (d) => {
    buf += d;
    for (let nl = buf.indexOf("\\n"); nl >= 0; nl = buf.indexOf("\\n")) {
      const { execute, id } = JSON.parse(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      log(execute);
      let ret = execute === "qmp_capabilities" ? {} : answer(execute);
      if (ret === undefined) {
        if (execute === "cont") state.status = "running";
        if (execute === "query-status") ret = { status: state.status, running: state.status === "running" };
        else if (execute === "system_powerdown" || execute === "quit") { setTimeout(() => process.exit(0), 20); ret = {}; }
        else ret = {};
      }
      if (ret !== null) send({ return: ret, id });
    }
  });
}).listen({ fd });
`;
}

describe("QemuDriver (fake QEMU)", () => {
  let dir: string;
  let spec: BootSpec;
  let bin: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "banger-qemudrv-"));
    const vmDir = path.join(dir, "vm");
    await mkdir(vmDir);
    for (const f of ["vmlinux", "initrd.img", "root.img", "work.img"]) await writeFile(path.join(dir, f), "");
    bin = path.join(dir, "qemu-fake");
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
      memoryFile: path.join(vmDir, "memory.raw"),
    };
  });

  afterEach(async () => {
    const pid = Number((await readFile(path.join(spec.vmDir, "qemu.pid"), "utf8").catch(() => "0")).trim());
    if (pid > 1 && isPidAlive(pid, "qemu-fake")) process.kill(pid, "SIGKILL");
    await rm(dir, { recursive: true, force: true });
  });

  const driver = async (answer?: string, prelude?: string) => {
    await writeFile(bin, fakeQemu(dir, answer, prelude));
    await chmod(bin, 0o755);
    return new QemuDriver({
      qemuBin: bin,
      accelDetect: () => "tcg",
      which: async (b) => b,
      quitGraceMs: 500,
    });
  };
  const commands = async () =>
    (await readFile(path.join(dir, "commands.log"), "utf8").catch(() => "")).split("\n").filter(Boolean);

  it("boots paused, hands the pid to onVmmStarted before cont, returns the handle; stop is graceful", async () => {
    const d = await driver();
    const steps: string[] = [];
    let seenAtHook: string[] = [];
    let hookPid = 0;
    const { handle, timings } = await d.boot(spec, {
      onStepStart: (s) => steps.push(s),
      onVmmStarted: async (pid) => {
        hookPid = pid;
        seenAtHook = await commands();
      },
    });
    assert.deepEqual(steps, ["preflight", "spawn", "qmp-connect"]);
    assert.deepEqual(
      timings.map((t) => t.name),
      steps,
    );
    assert.equal(hookPid, handle.pid);
    assert.ok(!seenAtHook.includes("cont"), "the guest must not run before the hook");
    assert.deepEqual(handle, {
      driver: "qemu",
      pid: handle.pid,
      controlSocket: path.join(spec.vmDir, "qmp.sock"),
      agentSocket: path.join(spec.vmDir, "agent.sock"),
      acceleration: "tcg",
    });
    assert.deepEqual(await commands(), ["qmp_capabilities", "cont", "query-status"]);
    assert.equal(await readFile(path.join(spec.vmDir, "qemu.pid"), "utf8"), `${handle.pid}\n`);
    assert.ok(existsSync(handle.agentSocket), "the agent socket stays after the daemon closed its copy");
    assert.match(await readFile(spec.vmmLog, "utf8"), /fake qemu: uid/);
    assert.ok(d.isAlive(handle));
    assert.ok(!d.isAlive({ ...handle, controlSocket: "/other/qmp.sock" }), "marker must match");
    await d.stop(handle, { timeoutMs: 5000 });
    assert.ok(!d.isAlive(handle));
    const after = await commands();
    assert.ok(after.includes("send-key") && after.includes("system_powerdown") && !after.includes("quit"));
    assert.ok(!existsSync(handle.controlSocket) && !existsSync(path.join(spec.vmDir, "qemu.pid")));
    await d.stop(handle); // idempotent
  });

  it("a failing onVmmStarted fails the boot in qmp-connect and kills the paused VMM", async () => {
    const d = await driver();
    let pid = 0;
    await assert.rejects(
      d.boot(spec, {
        onVmmStarted: async (p) => {
          pid = p;
          throw new Error("cgroup refused");
        },
      }),
      /step "qmp-connect" failed: cgroup refused/,
    );
    assert.ok(!(await commands()).includes("cont"));
    assert.equal(isPidAlive(pid, "qemu-fake"), false, "the cleanup killed the spawned VMM");
    assert.ok(!existsSync(path.join(spec.vmDir, "qmp.sock")));
  });

  it("stop falls through to QMP quit when the guest ignores Ctrl-Alt-Del and the power button", async () => {
    const d = await driver(
      'if (cmd === "system_powerdown" || cmd === "send-key") return {}; return undefined;',
    );
    const { handle } = await d.boot(spec);
    const t0 = Date.now();
    await d.stop(handle, { timeoutMs: 300 });
    assert.ok(Date.now() - t0 >= 300);
    assert.ok(!d.isAlive(handle));
    assert.deepEqual((await commands()).slice(-5), [
      "qmp_capabilities",
      "send-key",
      "system_powerdown",
      "qmp_capabilities",
      "quit",
    ]);
  });

  it("stop kills a VMM whose QMP does not answer and that ignores SIGTERM", async () => {
    const d = await driver(
      'if (cmd === "query-status" || cmd === "cont") return undefined; return null;',
      'process.on("SIGTERM", () => {});',
    );
    const { handle } = await d.boot(spec);
    const t0 = Date.now();
    await d.stop(handle, { timeoutMs: 200 });
    assert.ok(!d.isAlive(handle));
    assert.ok(Date.now() - t0 < 25_000);
  });

  it("qmp-connect: a VMM that does not run after cont fails the boot, and is killed", async () => {
    const d = await driver('if (cmd === "query-status") return { status: "paused", running: false };');
    await assert.rejects(d.boot(spec), (e: unknown) => {
      assert.ok(isBangerError(e));
      assert.match(e.message, /^step "qmp-connect" failed: .*"paused"/);
      assert.match(e.hint ?? "", /console log: .*console\.log; vmm log: .*vmm\.log/);
      return true;
    });
    assert.ok(!existsSync(path.join(spec.vmDir, "qemu.pid")));
  });

  it("a VMM that exits at once: the error has its exit and the vmm log's last lines", async () => {
    const d = await driver("", 'process.stderr.write("qemu: Could not open /x\\n"); process.exit(1);');
    await writeFile(path.join(spec.vmDir, "qmp.sock"), "stale");
    const t0 = Date.now();
    await assert.rejects(d.boot(spec), (e: unknown) => {
      assert.ok(isBangerError(e));
      assert.equal(e.code, "VMM");
      assert.match(e.message, /failed to start \(exit code 1\).*\n.*Could not open \/x/s);
      return true;
    });
    assert.ok(Date.now() - t0 < 5000, "an early exit is noticed without waiting for the QMP timeout");
    assert.ok(!existsSync(path.join(spec.vmDir, "qmp.sock")), "the sockets are gone");
  });

  it("preflight: a missing QEMU binary says how to install it, and nothing runs", async () => {
    const d = new QemuDriver({ accelDetect: () => "tcg", which: async () => null });
    await assert.rejects(d.boot(spec), (e: unknown) => {
      assert.ok(isBangerError(e));
      assert.equal(e.code, "PREFLIGHT_FAILED");
      assert.match(e.message, /^step "preflight" failed: .*"qemu-system-x86_64" was not found/);
      assert.match(e.hint ?? "", /apt-get install qemu-system-x86/);
      return true;
    });
  });

  it("preflight: a missing kernel, drive or VMM user is named", async () => {
    const d = await driver();
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
    const noUser = new QemuDriver({
      qemuBin: bin,
      accelDetect: () => "tcg",
      which: async (b) => b,
      identity: () => {
        throw new Error("the VMM user banger-vmm does not exist");
      },
    });
    await assert.rejects(noUser.boot(spec), /step "preflight" failed: the VMM user banger-vmm/);
    assert.deepEqual(await commands(), [], "nothing ran");
  });

  it("microvm without a host MHz fails in preflight", async () => {
    const d = new QemuDriver({
      machine: "microvm",
      accelDetect: () => "kvm",
      hostMhz: () => null,
      which: async (b) => b,
    });
    await assert.rejects(d.boot(spec), /step "preflight" failed: .*MHz/);
    const ok = new QemuDriver({ machine: "microvm", accelDetect: () => "kvm", hostMhz: 3000 });
    assert.match(ok.argvFor(spec).join(" "), /tsc_early_khz=3000000 tsc=reliable/);
    assert.equal(ok.acceleration, "kvm");
    assert.deepEqual(ok.features, { snapshots: true, agentChannel: "virtio-serial" });
  });
});
