import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import {
  isPidAlive,
  isProcessAlive,
  killAndWait,
  processState,
  readCmdline,
  signalProcess,
  spawnDetached,
  waitForExit,
} from "./process.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "banger-process-"));
const started: number[] = [];
after(async () => {
  for (const pid of started) await killAndWait(pid, { expectArg: dir }).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

/** A node process that prints, then lives until killed; `dir` is in its argv so cleanup can recognise it. */
async function startSleeper(
  script = "console.log('hello out'); console.error('hello err'); setInterval(() => {}, 1000)",
) {
  const log = path.join(dir, `log-${started.length}.txt`);
  writeFileSync(log, "before\n");
  const pid = await spawnDetached([process.execPath, "-e", script, dir], { logPath: log });
  started.push(pid);
  return { pid, log };
}

test("spawnDetached starts a process in its own session, output appended to the log", async () => {
  const { pid, log } = await startSleeper();
  assert.ok(isPidAlive(pid));
  assert.ok(isProcessAlive(pid, dir), "its argv contains the marker");
  assert.equal(isProcessAlive(pid, "/not/in/argv"), false, "a pid with other argv is not ours");
  assert.deepEqual(readCmdline(pid)?.slice(-1), [dir]);
  const sid = Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ")[3]);
  assert.equal(sid, pid, "it leads its own session");
  for (let i = 0; i < 100 && !readFileSync(log, "utf8").includes("hello err"); i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const out = readFileSync(log, "utf8");
  assert.ok(out.startsWith("before\n"), "appended, not truncated");
  assert.match(out, /hello out/);
  assert.match(out, /hello err/);
  await killAndWait(pid);
  assert.equal(isPidAlive(pid), false);
});

test("waitForExit sees a process that exits by itself (zombies count as gone)", async () => {
  const { pid } = await startSleeper("setTimeout(() => process.exit(3), 100)");
  assert.equal(await waitForExit(pid, 5000), true);
  assert.equal(isProcessAlive(pid, dir), false);
});

test("waitForExit times out on a live process", async () => {
  const { pid } = await startSleeper();
  const t0 = Date.now();
  assert.equal(await waitForExit(pid, 100), false);
  assert.ok(Date.now() - t0 >= 100);
  await killAndWait(pid, { expectArg: dir });
});

test("killAndWait does not touch a process whose argv does not match", async () => {
  await killAndWait(process.pid, { expectArg: "/definitely/not/our/vmm.sock" });
  assert.ok(isPidAlive(process.pid));
});

test("a missing binary is a clear error", async () => {
  await assert.rejects(spawnDetached([path.join(dir, "no-such-bin")], { logPath: path.join(dir, "x.log") }), {
    code: "PREFLIGHT_FAILED",
    message: /no-such-bin: not found/,
  });
});

test("liveness helpers on pids that do not exist", () => {
  assert.equal(isPidAlive(0), false);
  assert.equal(isPidAlive(-1), false);
  assert.equal(isPidAlive(2 ** 22 + 1), false);
  assert.equal(readCmdline(2 ** 22 + 1), null);
  assert.equal(processState(2 ** 22 + 1), null);
  assert.equal(signalProcess(2 ** 22 + 1, "SIGTERM"), false);
  assert.match(processState(process.pid) ?? "", /^[RS]$/);
});
