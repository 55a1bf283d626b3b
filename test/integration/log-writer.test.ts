/**
 * The real banger-logger, with no daemon: a writer process (standing in for
 * the VMM) writes numbered lines far past the cap; the files stay under
 * cap * (keep + 1), a follower reading while it writes sees every line
 * exactly once across the rotations, and the logger ends with its writer.
 * Its confinement is probed from inside (a -DBANGER_LOGGER_PROBE build).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { chmod, chown, mkdir, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { lookupVmmUser } from "../../src/helper/context.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { buildLogger, LOGGER_SOURCE_PATH } from "../../src/vmm/logger/build.js";
import { LogFollower } from "../../src/vmm/logger/follow.js";
import { rotatedName } from "../../src/vmm/logger/rotate.js";
import { type LogCaps, loggerMarker, RotatingLogs } from "../../src/vmm/logger/vmLogs.js";
import { findExecutable } from "../../src/vmm/qemu/accel.js";
import { isPidAlive, waitForExit } from "../../src/vmm/qemu/proc.js";

const runner = new NodeCommandRunner();
const skip = (await findExecutable("gcc")) ? false : "gcc not found (apt-get install gcc libc6-dev)";
/** As root the logger runs as banger-vmm, like the VMM. */
const identity = process.getuid?.() === 0 ? lookupVmmUser() : null;
const LINES = 6000;
const line = (i: number) => `line ${String(i).padStart(6, "0")} ${"x".repeat(20)}\n`; // 33 bytes

let dir: string;
let bin: string;
before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "banger-logwriter-"));
  await chmod(dir, 0o755);
  bin = await buildLogger(runner, path.join(dir, "bin"));
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A writer like the VMM: numbered lines on its stdout (console), a few on stderr (VMM log), in bursts. */
function startWriter(out: { console: number; vmm: number }) {
  const script = `const fs = require("fs");
let i = 0;
const burst = () => {
  let s = "";
  for (let k = 0; k < 300 && i < ${LINES}; k++) s += "line " + String(i++).padStart(6, "0") + " " + "x".repeat(20) + "\\n";
  fs.writeSync(1, s);
  fs.writeSync(2, "vmm at " + i + "\\n");
  if (i < ${LINES}) setTimeout(burst, 5);
};
burst();`;
  return spawn(process.execPath, ["-e", script], { stdio: ["ignore", out.console, out.vmm] });
}

function procStatus(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of readFileSync(`/proc/${pid}/status`, "utf8").split("\n")) {
    const [k, ...v] = l.split(":");
    if (k) out[k] = v.join(":").trim();
  }
  return out;
}

async function openLogs(sub: string, caps: LogCaps, binary = bin) {
  const logDir = path.join(dir, sub, "logs");
  const logs = new RotatingLogs({ binary: async () => binary, caps: () => caps });
  const consoleLog = path.join(logDir, "console.log");
  const opened = await logs.open({ consoleLog, vmmLog: path.join(logDir, "vmm.log"), identity });
  return { logDir, consoleLog, opened };
}

describe("banger-logger (no daemon)", { skip }, () => {
  it("caps and rotates a writer's output; a follower sees every line exactly once across the rotations", async () => {
    const caps = { maxBytes: 16 * 1024, keep: 2 };
    const { logDir, consoleLog, opened } = await openLogs("a", caps);
    const pid = opened.loggerPid!;
    const status = procStatus(pid);
    assert.equal(status.NoNewPrivs, "1");
    assert.equal(status.Seccomp, "2", "the seccomp allowlist is in force");
    if (identity) assert.equal(status.Uid?.split(/\s+/)[0], String(identity.uid), "runs as the VMM user");
    const writer = startWriter(opened);
    await opened.close(); // from now on only the writer holds the pipes' write ends
    const follower = new LogFollower(consoleLog);
    await follower.start(0);
    const got: Buffer[] = [];
    let maxFiles = 0;
    const exited = new Promise<number | null>((r) => writer.once("exit", r));
    let done = false;
    void exited.then(() => {
      done = true;
    });
    while (!done) {
      await follower.poll((b) => got.push(b));
      maxFiles = Math.max(maxFiles, readdirSync(logDir).length);
      await new Promise((r) => setTimeout(r, 15));
    }
    assert.equal(await exited, 0);
    assert.ok(await waitForExit(pid, loggerMarker(logDir), 5000), "the logger ends with its writer");
    await follower.poll((b) => got.push(b));
    await follower.close();

    const nums = Buffer.concat(got)
      .toString()
      .trimEnd()
      .split("\n")
      .map((l) => Number(l.slice(5, 11)));
    assert.equal(nums.length, LINES, "as many lines as written");
    nums.forEach((n, i) => {
      if (n !== i) assert.fail(`line ${i} read as ${n}: lost or repeated`);
    });
    const rotations = Math.floor((LINES * line(0).length) / caps.maxBytes);
    assert.ok(rotations >= 3, `${rotations} rotations`);
    const files = [0, 1, 2].map((i) => rotatedName(consoleLog, i));
    let total = 0;
    for (const f of files) {
      const size = statSync(f).size;
      assert.ok(size <= caps.maxBytes, `${f}: ${size} bytes`);
      total += size;
    }
    assert.ok(total <= caps.maxBytes * (caps.keep + 1));
    assert.ok(!existsSync(rotatedName(consoleLog, 3)), "no more than keep rotated files");
    assert.match(readFileSync(path.join(logDir, "vmm.log"), "utf8"), new RegExp(`vmm at ${LINES}\\n$`));
    assert.ok(
      maxFiles <= 2 * 3 + 1,
      `at most keep+1 files per stream (and a pipe's name for a moment): ${maxFiles}`,
    );
  });

  it("confined: a subverted logger can write only its log files (probed from inside)", async () => {
    const probe = path.join(dir, "bin", "banger-logger-probe");
    const cc = await runner.run([
      "gcc",
      "-static",
      "-O2",
      "-DBANGER_LOGGER_PROBE",
      "-o",
      probe,
      LOGGER_SOURCE_PATH,
    ]);
    assert.equal(cc.code, 0);
    await chmod(probe, 0o755);
    const outside = path.join(dir, "escaped"); // the probe build tries TAG/../../escaped (TAG = DIR/b/logs)
    // Both places are writable by the logger's uid: only its confinement keeps it out.
    await mkdir(path.join(dir, "b"));
    if (identity) for (const d of [dir, path.join(dir, "b")]) await chown(d, identity.uid, identity.gid);
    const { logDir, opened } = await openLogs("b", { maxBytes: 65536, keep: 1 }, probe);
    await opened.close();
    assert.ok(await waitForExit(opened.loggerPid!, loggerMarker(logDir), 5000));
    const log = readFileSync(path.join(logDir, "vmm.log"), "utf8");
    for (const what of ["open outside", "open parent", "read passwd", "socket", "mkdir"]) {
      assert.match(log, new RegExp(`probe ${what}: (Permission denied|Operation not permitted)`), what);
    }
    assert.doesNotMatch(log, /ALLOWED/);
    assert.ok(!existsSync(outside) && !existsSync(path.join(dir, "b", "escape")));
    assert.ok(!isPidAlive(opened.loggerPid!, loggerMarker(logDir)));
  });
});
