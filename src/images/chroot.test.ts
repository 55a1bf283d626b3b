import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { isBangerError } from "../errors/index.js";
import { FakeCommandRunner } from "../host/fake/FakeCommandRunner.js";
import { chrootArgv, LoggingRunner, MountStack } from "./chroot.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "banger-chroot-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("chroot helpers", () => {
  it("commands in the image run with a clean environment", () => {
    const argv = chrootArgv("/mnt/x", ["apt-get", "update"]);
    assert.deepEqual(argv.slice(0, 2), ["env", "-i"]);
    assert.ok(argv.includes("DEBIAN_FRONTEND=noninteractive") && argv.includes("HOME=/root"));
    assert.deepEqual(argv.slice(-4), ["chroot", "/mnt/x", "apt-get", "update"]);
  });

  it("releases mounts in reverse, lazily when busy, then detaches leftover loop devices", async () => {
    const fake = new FakeCommandRunner()
      .on(["umount", "/m/proc"], { code: 32, stderr: "target is busy" })
      .on(["losetup", "-n", "-O", "NAME", "-j", "/img/root.ext4"], { stdout: "/dev/loop7\n" });
    const m = new MountStack(fake);
    await m.loop("/img/root.ext4", "/m");
    await m.bind("/proc", "/m/proc");
    await m.bind("/dev", "/m/dev");
    fake.calls.length = 0;
    assert.deepEqual(await m.releaseAll(), []);
    assert.deepEqual(fake.calls, [
      ["umount", "/m/dev"],
      ["umount", "/m/proc"],
      ["umount", "-l", "/m/proc"],
      ["umount", "/m"],
      ["losetup", "-n", "-O", "NAME", "-j", "/img/root.ext4"],
      ["losetup", "-d", "/dev/loop7"],
    ]);
    assert.deepEqual(m.mounted, []);
  });

  it("reports what it could not undo instead of throwing", async () => {
    const fake = new FakeCommandRunner().on(["umount"], { code: 32, stderr: "not mounted" });
    const m = new MountStack(fake);
    await m.bind("/sys", "/m/sys");
    const problems = await m.releaseAll();
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /cannot unmount \/m\/sys: not mounted/);
  });

  it("a failed loop mount still gets its loop devices checked", async () => {
    const fake = new FakeCommandRunner().on(["mount"], { code: 32, stderr: "wrong fs type" });
    const m = new MountStack(fake);
    await assert.rejects(m.loop("/img/x.ext4", "/m"));
    await m.releaseAll();
    assert.deepEqual(fake.calls.at(-1), ["losetup", "-n", "-O", "NAME", "-j", "/img/x.ext4"]);
  });

  it("LoggingRunner logs argv, output and exit code; failures throw with the command's words", async () => {
    const log = path.join(dir, "build.log");
    const fake = new FakeCommandRunner()
      .on(["echo"], { stdout: "hello\n" })
      .on(["false"], { code: 1, stderr: "it broke" });
    const r = new LoggingRunner(fake, log);
    await r.run(["echo", "hello world"]);
    await assert.rejects(
      r.run(["false"]),
      (e: unknown) => isBangerError(e) && /exited with code 1: it broke/.test(e.message),
    );
    const allowed = await r.run(["false"], { allowFailure: true });
    assert.equal(allowed.code, 1);
    const text = readFileSync(log, "utf8");
    assert.match(text, /^\$ echo 'hello world'\nhello\n\[exit 0, \d+\.\d s\]\n/);
    assert.match(text, /\$ false\nit broke\n\[exit 1, /);
  });
});
