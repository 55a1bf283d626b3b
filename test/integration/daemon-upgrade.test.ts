import assert from "node:assert/strict";
import { cpSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { describe, test } from "node:test";
import { LATEST_VERSION } from "../../src/store/sqlite/migrations.js";
import { repoRoot } from "../helpers/repoRoot.js";
import { isAlive, type Sandbox, trackedSandboxes, waitDead } from "../helpers/sandbox.js";

interface Status {
  running: boolean;
  started: boolean;
  pid: number;
  buildId: string;
  builtAt?: string;
}

const sandbox = trackedSandboxes();

const mine = JSON.parse(readFileSync(path.join(repoRoot(), "dist", "build-info.json"), "utf8")) as {
  version: string;
  buildId: string;
  builtAt: string;
};

/**
 * A copy of the built code that plays another build: its build-info says
 * `info`; `patch` edits its compiled files (relative to dist/src) to play a
 * busy daemon or another protocol. Returns its `banger` CLI.
 */
function otherBuild(s: Sandbox, name: string, info: object, patch: Record<string, [string, string]> = {}) {
  const root = path.join(s.dir, name);
  cpSync(path.join(repoRoot(), "dist"), path.join(root, "dist"), { recursive: true });
  cpSync(path.join(repoRoot(), "bin"), path.join(root, "bin"), { recursive: true });
  cpSync(path.join(repoRoot(), "package.json"), path.join(root, "package.json"));
  symlinkSync(path.join(repoRoot(), "node_modules"), path.join(root, "node_modules"));
  writeFileSync(path.join(root, "dist", "build-info.json"), JSON.stringify({ ...mine, ...info }));
  for (const [file, [from, to]] of Object.entries(patch)) {
    const f = path.join(root, "dist", "src", file);
    const text = readFileSync(f, "utf8");
    assert.ok(text.includes(from), `${file} no longer contains ${from}: update this test`);
    writeFileSync(f, text.replace(from, to));
  }
  return path.join(root, "bin", "banger");
}

/** A raw request kept open; resolves with every message once the result (or error, or close) arrives. */
function openRequest(socket: string, method: string, params: object) {
  const c = net.createConnection({ path: socket });
  const msgs: Array<Record<string, unknown>> = [];
  const done = new Promise<Array<Record<string, unknown>>>((resolve) => {
    let buf = "";
    c.on("connect", () => c.write(`${JSON.stringify({ v: 1, id: 1, method, params })}\n`));
    c.on("data", (b) => {
      buf += b;
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      for (const l of lines) if (l) msgs.push(JSON.parse(l) as Record<string, unknown>);
      if (msgs.some((m) => m.type === "result" || m.type === "error")) resolve(msgs);
    });
    c.on("close", () => resolve(msgs));
    c.on("error", () => resolve(msgs));
  });
  return { done, close: () => c.destroy() };
}

const HOUR_AGO = new Date(Date.parse(mine.builtAt) - 3600_000).toISOString();
const NEXT_YEAR = new Date(Date.parse(mine.builtAt) + 365 * 86400_000).toISOString();
/** The older build gets a test-only slow method to be busy with. */
const SLOW_METHOD: Record<string, [string, string]> = {
  "daemon/Daemon.js": [
    'handlers.set("ping", () => this.ping());',
    'handlers.set("ping", () => this.ping()); handlers.set("test.sleep", (p) => new Promise((r) => setTimeout(() => r({ slept: p.ms }), p.ms)));',
  ],
  // The test-only method has no schema: let it through unvalidated in this copy only.
  "api/schema/validate.js": [
    "if (!hasSchema(method)) {",
    'if (method === "test.sleep") { out.set(method, h); continue; }\n        if (!hasSchema(method)) {',
  ],
};

describe("daemon upgrades", () => {
  test("a newer CLI replaces a busy older daemon only after its requests drained; streams end cleanly", async () => {
    const s = sandbox();
    const old = otherBuild(s, "old", { buildId: "0ldb01d", builtAt: HOUR_AGO }, SLOW_METHOD);
    const stale = await s.cliJson<Status>(["daemon", "start"], { bin: old });
    assert.equal(stale.buildId, "0ldb01d");
    const busy = openRequest(s.socket, "test.sleep", { ms: 3000 });
    const watch = openRequest(s.socket, "events.watch", {});
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    const r = await s.cli(["daemon", "start", "--json"]);
    const waited = Date.now() - t0;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /replacing the older bangerd \([^,]+, built .*, pid \d+\) with this build/);
    const fresh = JSON.parse(r.stdout) as Status;
    assert.equal(fresh.buildId, mine.buildId);
    assert.notEqual(fresh.pid, stale.pid);
    assert.equal(fresh.started, true);
    const b = await busy.done;
    assert.deepEqual(
      b.at(-1),
      { id: 1, type: "result", result: { slept: 3000 } },
      "the busy request finished",
    );
    const w = await watch.done;
    assert.equal(w.at(-1)?.type, "result", "the endless stream was ended with a result, not dropped");
    assert.ok(waited >= 2000, `the replacement waited for the request (${waited} ms)`);
    assert.ok(await waitDead(stale.pid));
    const log = readFileSync(path.join(s.stateDir, "logs", "bangerd.log"), "utf8");
    assert.match(
      log,
      /"inFlight":\["test.sleep","events.watch"\]|"inFlight":\["events.watch","test.sleep"\]/,
    );
    assert.match(log, /"drained":2/);
  });

  test("an older CLI never replaces a newer daemon: it uses it when the protocol matches", async () => {
    const s = sandbox();
    const newer = otherBuild(s, "new", { version: "9.0.0", buildId: "n3wb01d", builtAt: NEXT_YEAR });
    const st = await s.cliJson<Status>(["daemon", "start"], { bin: newer });
    const r = await s.cli(["vm", "list", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /the running bangerd \(9\.0\.0, built .*\) is newer than this banger/);
    assert.ok(isAlive(st.pid), "the newer daemon still runs");
    const status = await s.cliJson<Status>(["daemon", "status"]);
    assert.equal(status.pid, st.pid);
    assert.equal(status.buildId, "n3wb01d");
    assert.ok(isAlive(st.pid));
  });

  test("an older CLI facing a newer daemon of another protocol says what to do and leaves it running", async () => {
    const s = sandbox();
    const newer = otherBuild(
      s,
      "new2",
      { version: "9.0.0", buildId: "n3wpr0t0", builtAt: NEXT_YEAR },
      { "api/protocol.js": ["export const PROTOCOL_VERSION = 1;", "export const PROTOCOL_VERSION = 2;"] },
    );
    const st = await s.cliJson<Status>(["daemon", "start"], { bin: newer });
    const r = await s.cli(["vm", "list"]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /this banger \(.*\) is older than the running daemon \(9\.0\.0, built .*, pid \d+\)/,
    );
    assert.match(r.stderr, new RegExp(`use the newer banger at ${newer.replace(/[.]/g, "\\.")}`));
    assert.match(r.stderr, /banger daemon restart/);
    assert.ok(isAlive(st.pid), "the newer daemon was not touched");
  });

  test("daemon status never starts a daemon: exit 3, and {running:false} with --json", async () => {
    const s = sandbox();
    const r = await s.cli(["daemon", "status"]);
    assert.equal(r.code, 3);
    assert.match(r.stdout, /bangerd is not running/);
    const j = await s.cli(["daemon", "status", "--json"]);
    assert.equal(j.code, 3);
    assert.deepEqual(JSON.parse(j.stdout), { running: false });
    assert.equal(s.daemonPid(), null, "no daemon was started");
  });

  test("a database migrated by a newer build gives a clear STORE error naming both versions", async () => {
    const s = sandbox();
    const st = await s.cliJson<Status>(["daemon", "start"]);
    await s.cli(["daemon", "stop"]);
    assert.ok(await waitDead(st.pid));
    const db = new DatabaseSync(path.join(s.stateDir, "banger.db"));
    db.prepare("INSERT INTO schema_migrations VALUES (?, 'from a newer banger', ?)").run(
      LATEST_VERSION + 1,
      new Date().toISOString(),
    );
    db.close();
    const r = await s.cli(["vm", "list", "--json"]);
    assert.equal(r.code, 1);
    const e = JSON.parse(r.stdout) as { error: { code: string; message: string; hint: string } };
    assert.equal(e.error.code, "STORE");
    assert.match(
      e.error.message,
      new RegExp(`schema version ${LATEST_VERSION + 1}.*\\(${LATEST_VERSION}\\)`),
    );
    assert.match(e.error.hint, /newer banger/);
  });
});
