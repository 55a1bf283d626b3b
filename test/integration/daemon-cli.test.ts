import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { describe, test } from "node:test";
import { ISSUE_CHECK_IDS } from "../helpers/doctorSpec.js";
import { repoRoot } from "../helpers/repoRoot.js";
import { isAlive, type Sandbox, trackedSandboxes, waitDead } from "../helpers/sandbox.js";

interface Status {
  running: boolean;
  started: boolean;
  pid: number;
  buildId: string;
  socket: string;
  logPath: string;
}

const sandbox = trackedSandboxes();

function bangerdProcessesFor(s: Sandbox): number[] {
  const out: number[] = [];
  for (const pid of readdirNumeric("/proc")) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      const env = readFileSync(`/proc/${pid}/environ`, "utf8");
      if (cmd.includes("bangerd") && env.includes(`HOME=${s.env.HOME}\0`)) out.push(pid);
    } catch {
      /* gone */
    }
  }
  return out;
}

function readdirNumeric(d: string): number[] {
  return readdirSync(d)
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}

function errCode(msgs: Array<Record<string, unknown>>): string | undefined {
  return (msgs.at(-1)?.error as { code?: string } | undefined)?.code;
}

/** One raw request over the socket; returns every message line until the result or error. */
function rawRequest(socket: string, line: string): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) => {
    const c = net.createConnection({ path: socket });
    let buf = "";
    c.on("connect", () => c.write(line));
    c.on("data", (b) => {
      buf += b;
      const msgs = buf
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      if (msgs.some((m) => m.type === "result" || m.type === "error")) {
        c.destroy();
        resolve(msgs);
      }
    });
    c.on("error", reject);
  });
}

describe("daemon lifecycle through the real CLI", () => {
  test("daemon start --json starts the daemon; daemon status reports pid, socket and log path", async () => {
    const s = sandbox();
    const st = await s.cliJson<Status>(["daemon", "start"]);
    assert.equal(st.running, true);
    assert.equal(st.started, true);
    assert.ok(isAlive(st.pid));
    assert.equal(st.socket, s.socket);
    assert.equal(st.logPath, path.join(s.stateDir, "logs", "bangerd.log"));
    assert.equal(statSync(s.socket).mode & 0o777, 0o600, "socket is owner-only");
    const again = await s.cliJson<Status>(["daemon", "status"]);
    assert.equal(again.pid, st.pid);
    assert.equal(again.started, false);
    const entries = readFileSync(st.logPath, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { msg: string; level: number; pid: number; time: string });
    const started = entries.find((e) => e.msg === "bangerd started");
    assert.equal(started?.pid, st.pid, "the log is JSON lines with the daemon's pid");
    assert.ok(entries.some((e) => e.msg === "store migrated"));
    assert.ok(existsSync(path.join(s.stateDir, "banger.db")), "the store is created");
  });

  test("daemon stop stops it and removes the socket; the next command starts a new one", async () => {
    const s = sandbox();
    const st = await s.cliJson<Status>(["daemon", "start"]);
    const stop = await s.cli(["daemon", "stop"]);
    assert.equal(stop.code, 0);
    assert.match(stop.stdout, new RegExp(`bangerd stopped \\(pid ${st.pid}\\)`));
    assert.ok(await waitDead(st.pid));
    assert.equal(existsSync(s.socket), false);
    const again = await s.cli(["daemon", "stop"]);
    assert.match(again.stdout, /not running/);
    const st2 = await s.cliJson<Status>(["daemon", "start"]);
    assert.notEqual(st2.pid, st.pid);
  });

  test("after kill -9 the stale socket is reclaimed and the next status works", async () => {
    const s = sandbox();
    const st = await s.cliJson<Status>(["daemon", "start"]);
    process.kill(st.pid, "SIGKILL");
    assert.ok(await waitDead(st.pid));
    assert.ok(existsSync(s.socket), "kill -9 leaves the socket file behind");
    const r = await s.cli(["daemon", "start"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /bangerd started \(pid \d+/);
    const st2 = await s.cliJson<Status>(["daemon", "status"]);
    assert.notEqual(st2.pid, st.pid);
  });

  test("SIGTERM shuts the daemon down cleanly", async () => {
    const s = sandbox();
    const st = await s.cliJson<Status>(["daemon", "start"]);
    process.kill(st.pid, "SIGTERM");
    assert.ok(await waitDead(st.pid));
    assert.equal(existsSync(s.socket), false);
    const log = readFileSync(st.logPath, "utf8");
    assert.match(log, /"reason":"SIGTERM"/);
    assert.match(log, /bangerd stopped/);
  });

  test("two CLIs at once share one daemon", async () => {
    const s = sandbox();
    const rs = await Promise.all([1, 2, 3].map(() => s.cliJson<Status>(["daemon", "start"])));
    assert.equal(new Set(rs.map((r) => r.pid)).size, 1, "one daemon pid for all");
    // Daemons that lost the race exit on their own; within a few seconds one remains.
    const end = Date.now() + 5000;
    while (bangerdProcessesFor(s).length > 1 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(bangerdProcessesFor(s), [rs[0]!.pid]);
  });

  test("a second bangerd for the same state dir refuses to start", async () => {
    const s = sandbox();
    const st = await s.cliJson<Status>(["daemon", "start"]);
    const child = spawn(process.execPath, [path.join(repoRoot(), "bin", "bangerd")], { env: s.env });
    let stderr = "";
    child.stderr.on("data", (b) => (stderr += b));
    const code = await new Promise<number>((r) => child.on("close", (c) => r(c ?? -1)));
    assert.equal(code, 1);
    assert.match(stderr, /another bangerd already runs/);
    assert.ok(isAlive(st.pid), "the first daemon is untouched");
    assert.ok(existsSync(s.socket));
  });

  test("the protocol rejects other versions, unknown methods and garbage with coded errors", async () => {
    const s = sandbox();
    await s.cliJson<Status>(["daemon", "start"]);
    const v = await rawRequest(s.socket, `${JSON.stringify({ v: 99, id: 1, method: "vm.list" })}\n`);
    assert.equal(errCode(v), "PROTOCOL");
    // ping is the handshake: answered in any version, so a client learns the daemon's protocol
    const hs = await rawRequest(s.socket, `${JSON.stringify({ v: 99, id: 3, method: "ping" })}\n`);
    assert.equal((hs.at(-1)?.result as { protocol?: number } | undefined)?.protocol, 1);
    const m = await rawRequest(s.socket, `${JSON.stringify({ v: 1, id: 2, method: "nope" })}\n`);
    assert.equal(errCode(m), "UNKNOWN_METHOD");
    const g = await rawRequest(s.socket, "this is not json\n");
    assert.equal(errCode(g), "PROTOCOL");
    const ok = await rawRequest(s.socket, `${JSON.stringify({ v: 1, id: 7, method: "ping" })}\n`);
    assert.equal(ok.at(-1)?.id, 7);
    assert.equal(ok.at(-1)?.type, "result");
  });
});

describe("CLI behaviour", () => {
  test("a config with two bad file_sync entries fails once, naming both, exit 2, no daemon", async () => {
    const s = sandbox();
    s.writeConfig(
      '[[file_sync]]\nhost = "~/a"\nguest = "/etc/passwd"\n\n[[file_sync]]\nhost = "relative/path"\nguest = "~/b"\nmode = "999"\n',
    );
    const r = await s.cli(["daemon", "start"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /file_sync\[0\]\.guest/);
    assert.match(r.stderr, /file_sync\[1\]\.host/);
    assert.match(r.stderr, /file_sync\[1\]\.mode/);
    assert.match(r.stderr, /hint:.*config\.toml/);
    assert.equal(s.daemonPid(), null, "no daemon was started");
  });

  test("an unknown key suggests the nearest one; --json errors are JSON", async () => {
    const s = sandbox();
    s.writeConfig('log_levl = "debug"\n');
    const r = await s.cli(["config", "show", "--json"]);
    assert.equal(r.code, 2);
    const e = JSON.parse(r.stdout) as { error: { code: string; message: string } };
    assert.equal(e.error.code, "CONFIG_INVALID");
    assert.match(e.error.message, /did you mean "log_level"/);
  });

  test("config show prints each value with its source", async () => {
    const s = sandbox();
    s.writeConfig('vmm = "qemu"\n[vm_defaults]\nmemory = "1G"\n');
    const r = await s.cliJson<{ values: Array<{ key: string; value: unknown; source: string }> }>([
      "config",
      "show",
    ]);
    const get = (k: string) => r.values.find((v) => v.key === k);
    assert.equal(get("vmm")?.source, "config");
    assert.equal(get("log_level")?.source, "default");
    assert.equal(get("vm_defaults.memory")?.source, "config");
    const env = await s.cli(["config", "show"], { env: { BANGER_LOG_LEVEL: "debug" } });
    assert.match(env.stdout, /log_level\s+debug\s+env/);
  });

  test("doctor lists every check and exits 0 when nothing fails", async () => {
    const s = sandbox();
    const r = await s.cli(["doctor", "--json"]);
    const rep = JSON.parse(r.stdout) as {
      ok: boolean;
      ranIn: string;
      checks: Array<{ id: string; status: string }>;
    };
    assert.equal(rep.ranIn, "daemon");
    assert.equal(r.code, rep.ok ? 0 : 1);
    for (const id of [...ISSUE_CHECK_IDS, "daemon"]) {
      assert.ok(
        rep.checks.some((c) => c.id === id),
        `doctor lacks ${id}`,
      );
    }
    const text = await s.cli(["doctor"]);
    assert.match(text.stdout, /VM defaults\s+vcpu \d+ \((auto|builtin)\)/);
  });

  test("usage errors exit 2; version works without starting a daemon", async () => {
    const s = sandbox();
    const r = await s.cli(["frobnicate"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command 'frobnicate'/);
    const v = await s.cliJson<{ cli: { version: string }; daemon: unknown }>(["version"]);
    assert.equal(v.daemon, null);
    assert.equal(s.daemonPid(), null);
    const h = await s.cli(["--help"]);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /daemon/);
  });

  test("a relative XDG_STATE_HOME is refused instead of writing into the current directory", async () => {
    const s = sandbox();
    const r = await s.cli(["daemon", "start"], { env: { XDG_STATE_HOME: "relative/state" } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /XDG_STATE_HOME is "relative\/state", which is not an absolute path/);
  });
});
