import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { isPidAlive, killPid, type ProcOps, readPidFile, waitForExit } from "./proc.js";

function fakeProc(
  table: Record<number, string>,
  killErr: Record<number, string> = {},
): ProcOps & { signals: string[] } {
  const signals: string[] = [];
  return {
    signals,
    readCmdline: (pid) => table[pid] ?? null,
    kill(pid, sig) {
      const code = killErr[pid] ?? (table[pid] === undefined ? "ESRCH" : undefined);
      if (code) throw Object.assign(new Error(code), { code });
      if (sig !== 0) signals.push(`${pid}:${sig}`);
    },
  };
}

describe("isPidAlive", () => {
  const cmd = "qemu-system-x86_64\0-qmp\0unix:/vm/qmp.sock,server=on,wait=off\0";

  it("alive only when the command line carries the marker", () => {
    const p = fakeProc({ 100: cmd, 101: "bash\0" });
    assert.equal(isPidAlive(100, "unix:/vm/qmp.sock,", p), true);
    assert.equal(isPidAlive(101, "unix:/vm/qmp.sock,", p), false, "a reused pid is not our VMM");
    assert.equal(isPidAlive(102, "unix:/vm/qmp.sock,", p), false);
  });

  it("EPERM still means alive; a zombie (empty cmdline) is dead", () => {
    assert.equal(isPidAlive(100, "qmp.sock", fakeProc({ 100: cmd }, { 100: "EPERM" })), true);
    assert.equal(isPidAlive(100, "qmp.sock", fakeProc({ 100: "" })), false);
  });

  it("rejects pids that are not real targets", () => {
    const p = fakeProc({ 0: cmd, 1: cmd, [-5]: cmd });
    for (const pid of [0, 1, -5, 1.5, Number.NaN]) assert.equal(isPidAlive(pid, "qmp", p), false);
  });
});

describe("killPid", () => {
  it("signals only our process", () => {
    const p = fakeProc({ 100: "qemu\0/vm/qmp.sock", 101: "sshd" });
    assert.equal(killPid(100, "/vm/qmp.sock", "SIGKILL", p), true);
    assert.equal(killPid(101, "/vm/qmp.sock", "SIGKILL", p), false);
    assert.deepEqual(p.signals, ["100:SIGKILL"]);
  });
});

describe("waitForExit with a real child", () => {
  it("times out while it runs, returns true once it is killed", async () => {
    const marker = `banger-proc-test-${process.pid}-${Date.now()}`;
    const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)", marker], { stdio: "ignore" });
    const pid = child.pid!;
    try {
      assert.equal(isPidAlive(pid, marker), true);
      assert.equal(await waitForExit(pid, marker, 150), false);
      assert.equal(killPid(pid, marker), true);
      assert.equal(await waitForExit(pid, marker, 5000), true);
      assert.equal(isPidAlive(pid, marker), false);
    } finally {
      child.kill("SIGKILL");
    }
  });
});

describe("readPidFile", () => {
  it("reads a pid, null for missing or junk", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "banger-proc-"));
    try {
      const f = path.join(dir, "qemu.pid");
      assert.equal(await readPidFile(f), null);
      await writeFile(f, "12345\n");
      assert.equal(await readPidFile(f), 12345);
      await writeFile(f, "junk\n");
      assert.equal(await readPidFile(f), null);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
