import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { isBangerError } from "../errors/index.js";
import { FakeCommandRunner } from "../host/fake/FakeCommandRunner.js";
import { BUILD_DEVICES, chrootArgv, ENTER_SCRIPT, enterArgv, LoggingRunner } from "./chroot.js";

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

  it("a build step enters through the constant script: root and command are arguments, never shell text", () => {
    const argv = enterArgv("/t/tree; rm -rf /", ["/bin/sh", "/.b/x.sh"]);
    assert.deepEqual(argv.slice(0, 3), ["sh", "-c", ENTER_SCRIPT]);
    assert.equal(argv[3], "banger-enter");
    assert.equal(argv[4], "/t/tree; rm -rf /");
    assert.deepEqual(argv.slice(5), chrootArgv("/t/tree; rm -rf /", ["/bin/sh", "/.b/x.sh"]));
    assert.ok(!ENTER_SCRIPT.includes("/t/tree"));
    for (const d of BUILD_DEVICES) assert.ok(/^[a-z]+$/.test(d));
    assert.deepEqual([...BUILD_DEVICES].sort(), ["full", "null", "random", "tty", "urandom", "zero"]);
    assert.match(ENTER_SCRIPT, /mount -t tmpfs .* "\$root\/dev"/);
    assert.doesNotMatch(ENTER_SCRIPT, /--rbind|mount --bind \/dev "/, "never the host's whole /dev");
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
